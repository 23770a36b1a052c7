"""P3: discovery's activations through saif_ui's engine vs the path researchers use today, sae-lens's
`HookedSAETransformer.run_with_cache_with_saes` on TransformerLens, same model, prompts, batches and SAE.

TransformerLens 3.9 does not know SmolLM2 by name (`from_pretrained` refuses it), so the TL model is built the way
TL builds any Llama: its config from the HF config with the fields of TL's own `LlamaForCausalLM` branch
(`loading_from_pretrained.py`), its weights from TL's own `convert_llama_weights`, loaded with no folding or
centring (so residuals are the HF model's). Before timing, the residual at the SAE's layer and the SAE's latents
are checked to agree between the two paths.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from bench.timing import Figure, paired_best, speedup
from saif_ui.engine import Engine
from saif_ui.engine.cache import ByteLRU


def tl_model(engine: Engine) -> Any:
    from sae_lens import HookedSAETransformer
    from transformer_lens.config.hooked_transformer_config import HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions.llama import convert_llama_weights

    hf = engine.model.config
    rope = getattr(hf, "rope_theta", None) or (getattr(hf, "rope_parameters", None) or {}).get("rope_theta", 10000.0)
    cfg = HookedTransformerConfig(
        d_model=hf.hidden_size,
        d_head=hf.hidden_size // hf.num_attention_heads,
        n_heads=hf.num_attention_heads,
        d_mlp=hf.intermediate_size,
        n_layers=hf.num_hidden_layers,
        n_ctx=min(hf.max_position_embeddings, 2048),
        eps=hf.rms_norm_eps,
        d_vocab=hf.vocab_size,
        act_fn=hf.hidden_act,
        n_key_value_heads=hf.num_key_value_heads if hf.num_key_value_heads != hf.num_attention_heads else None,
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_adjacent_pairs=False,
        rotary_dim=hf.hidden_size // hf.num_attention_heads,
        rotary_base=float(rope),
        final_rms=True,
        gated_mlp=True,
        original_architecture="LlamaForCausalLM",
        default_prepend_bos=False,
        dtype=engine.loaded.dtype,  # the engine's own: fp32 on the CPU run, bf16 on the GPU run
        device=str(engine.loaded.device),
    )
    model = HookedSAETransformer(cfg, tokenizer=engine.tokenizer)
    model.load_and_process_state_dict(
        convert_llama_weights(engine.model, cfg),
        fold_ln=False,
        center_writing_weights=False,
        center_unembed=False,
        fold_value_biases=False,
        refactor_factored_attn_matrices=False,
    )
    return model.eval()


def spliced_sae(sae: Any, dtype: torch.dtype) -> Any:
    """The SAE sae-lens splices into the TransformerLens model: the engine's own when the dtypes agree, else a copy in
    the model's dtype (what a sae-lens user on a bf16 GPU loads). Spliced in, its output replaces the residual that
    the next block reads, and an fp32 residual in a bf16 model would run the later blocks in mixed precision."""
    if sae.dtype == dtype:
        return sae
    return copy.deepcopy(sae).to(dtype=dtype)


def p3_sae_lens(engine: Engine, sae_name: str, texts: list[str], quick: bool) -> Figure:
    """The SAE's latents for every discovery prompt: the engine's batched encode (stops at the layer) vs
    `run_with_cache_with_saes` (full forward, as the sae-lens tutorials run it; the `stop_at_layer` variant is
    reported beside it)."""
    try:
        model = tl_model(engine)
    except ImportError as err:
        return Figure("P3", "discovery vs sae-lens on TransformerLens", None, 2.0, note=f"not measured: {err}")
    sae = engine.sae(sae_name)
    hook = f"{sae.hook_name}.hook_sae_acts_post"
    batch = 16
    tl_sae = spliced_sae(sae.sae, engine.loaded.dtype)

    def tl_batches(stop: bool) -> None:
        with torch.no_grad():
            for i in range(0, len(texts), batch):
                model.run_with_cache_with_saes(
                    texts[i : i + batch],
                    saes=[tl_sae],
                    names_filter=[hook],
                    prepend_bos=False,
                    padding_side="right",
                    **({"stop_at_layer": sae.layer + 1} if stop else {}),
                )

    # Agreement first: one prompt through both paths.
    ids = engine.tokenizer(texts[0], return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        _, cache = model.run_with_cache_with_saes(
            ids, saes=[tl_sae], names_filter=[hook, f"{sae.hook_name}.hook_sae_input"]
        )
    ours = engine.hidden_states([ids[0]], [sae.layer])[sae.layer][0].float()
    theirs = cache[f"{sae.hook_name}.hook_sae_input"][0].float().to(ours.device)  # the residual the SAE reads
    resid_err = float(((ours - theirs).norm(dim=-1) / ours.norm(dim=-1))[1:].max())  # position 0: the sink
    lat_ours = sae.encode(ours).float()
    lat_err = float((lat_ours - cache[hook][0].float().to(lat_ours.device)).abs().max() / lat_ours.abs().max())
    saved, engine.cache = engine.cache, ByteLRU(0)
    try:
        t = paired_best(
            {
                "saif_ui": lambda: engine.encode(texts, saes=[sae_name], batch_size=batch),
                "sae_lens": lambda: tl_batches(stop=False),
                "sae_lens_stop_at_layer": lambda: tl_batches(stop=True),
            }
        )
    finally:
        engine.cache = saved
    title = "discovery's SAE latents: saif_ui's engine vs sae-lens run_with_cache_with_saes on TransformerLens"
    note = (
        f"residuals agree to {resid_err:.1e}, latents to {lat_err:.1e}; "
        f"{t['sae_lens_stop_at_layer'] / t['saif_ui']:.2f}× against TL with stop_at_layer"
    )
    return speedup(
        "P3",
        title,
        t,
        "sae_lens",
        "saif_ui",
        2.0,
        digits=2,
        prompts=len(texts),
        vs_stop_at_layer=round(t["sae_lens_stop_at_layer"] / t["saif_ui"], 2),
        max_relative_residual_difference=resid_err,
        max_relative_latent_difference=lat_err,
        note=note,
    )
