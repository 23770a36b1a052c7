"""Tiny random models of six chat-model families, each saved as a Hugging Face folder with its family's tokenizer
conventions and chat template, and an SAE saved by sae-lens in the format that family's public SAEs load as.

Nothing is downloaded and nothing binary is committed: a tokenizer is trained at test time on the shipped contents
and instructions (byte-level BPE like Llama-3 and Qwen2, SentencePiece-style `▁` pieces like Gemma, Mistral and
Phi-3), wrapped with the family's special tokens and a chat template written from the family's real one (shortened
where the real one handles tools). The model config keeps what distinguishes the family — Gemma-2's logit
soft-capping, extra norms and sliding window, Phi-3's fused projections, Qwen2's attention biases, tied or untied
heads — at width 32 and ten layers (`LAYERS`).

| family  | model class        | head   | SAE (as sae-lens loads the public ones)                                  |
|---------|--------------------|--------|--------------------------------------------------------------------------|
| llama3  | LlamaForCausalLM   | untied | Llama Scope: JumpReLU, one threshold for all latents, resid_post         |
| qwen2   | Qwen2ForCausalLM   | tied   | andyrdt BatchTopK (Qwen2.5): saved for inference as a JumpReLU           |
| gemma2  | Gemma2ForCausalLM  | tied   | Gemma Scope: JumpReLU, a threshold per latent, resid_post                |
| gemma3  | Gemma3ForCausalLM  | tied   | Gemma Scope 2: JumpReLU, a threshold per latent, resid_post              |
| mistral | MistralForCausalLM | untied | JoshEngels Mistral-7B: standard ReLU, resid_pre, constant_norm_rescale   |
| phi3    | Phi3ForCausalLM    | untied | TopK (saif_ui's own FAST format; no public Phi-3 SAE is in sae-lens)     |
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

LAYERS = 10
"""Decoder blocks of every fixture model. Ten, not two to four: the app's Train panel defaults to layer 8 and refuses
to build for a shallower model (see `test_the_app_builds_for_a_shallow_model`)."""
SAE_LAYER = 5
"""The block whose output every fixture SAE reads (half depth, where SAIF steers)."""

# ---------------------------------------------------------------- chat templates (from each family's own)

LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] | trim %}"
    "{%- set messages = messages[1:] %}{%- else %}{%- set system_message = '' %}{%- endif %}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"
    "{{- 'Cutting Knowledge Date: December 2023\\n' }}{{- 'Today Date: 26 Jul 2024\\n\\n' }}"
    "{{- system_message }}{{- '<|eot_id|>' }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim }}"
    "{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
"""Llama 3.1 Instruct's template without tools: a system turn always (its dates, then any system message)."""

QWEN2_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""Qwen2.5 Instruct's ChatML without tools: a default system prompt when none is given; no BOS."""

GEMMA2_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)
"""Gemma 2's template verbatim: a system message is an error."""

GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'assistant') -%}{%- set role = 'model' -%}{%- else -%}"
    "{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)
"""Gemma 3's template for text: a system message is merged into the first user turn."""

MISTRAL_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{{- bos_token }}"
    "{%- for message in loop_messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('After the optional system message, conversation roles must alternate user/assistant') }}"
    "{%- endif %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.last and system_message is defined %}"
    "{{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}"
    "{%- else %}{{- '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] | trim + eos_token }}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported') }}{%- endif %}"
    "{%- endfor %}"
)
"""Mistral-7B-Instruct-v0.3's template: no role words, no generation prompt (`[/INST]` ends the prompt), a system
message prepended to the last user turn."""

PHI3_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)
"""Phi-3-mini-4k-instruct's template (the version with a system role): the role is inside the special token."""


# ---------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """One family's fixture recipe: tokenizer conventions, chat template, model config and SAE format."""

    name: str
    model_class: str
    """A `transformers` class name, e.g. `LlamaForCausalLM`."""
    config: Callable[[dict[str, int]], Any]
    """The model config from the vocabulary size, the ids of the special tokens (`bos`, `eos`, `pad`) and the
    number of `layers`."""
    template: str
    byte_level: bool
    """Byte-level BPE (GPT-2 style, Llama-3 and Qwen2) or SentencePiece-style `▁` pieces (Gemma, Mistral, Phi-3)."""
    bos: str | None
    eos: str
    pad: str | None
    specials: tuple[str, ...]
    """Every special token of the template (BOS, turn markers, EOS ...), the ones FAST must find."""
    stop: tuple[str, ...]
    """The generation config's end-of-turn tokens (the model's, which may differ from the tokenizer's EOS)."""
    sae_format: str
    sae: Callable[[int, float, int, Path], None]
    """Writes the SAE for residual width `d_in`, typical residual norm `norm` and the block `layer` whose output it
    reads into a folder."""
    sae_layer: int
    """The decoder block whose output the SAE reads (what its hook name maps to)."""
    sae_architecture: str
    """The SAE's sae-lens architecture once loaded."""
    tied: bool
    """The output head shares the input embeddings' weight."""
    role_words: tuple[str, ...] = ()
    """Role words the template writes after a turn marker (FAST counts them as special tokens too)."""
    unk: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _ids(fam: Family, vocab: dict[str, int], layers: int) -> dict[str, int]:
    out = {"vocab_size": len(vocab), "eos": vocab[fam.eos], "layers": layers}
    if fam.bos is not None:
        out["bos"] = vocab[fam.bos]
    out["pad"] = vocab[fam.pad] if fam.pad is not None else out["eos"]
    return out


def _tiny(ids: dict[str, int], heads: int = 4, kv_heads: int = 2, **arch: Any) -> dict[str, Any]:
    """What every family's tiny config shares (width 32, 512 positions, the vocabulary's special ids); `arch` is
    the family's own."""
    ids_kw = {"bos_token_id": ids.get("bos"), "eos_token_id": ids["eos"], "pad_token_id": ids["pad"]}
    return {
        "vocab_size": ids["vocab_size"], "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": ids["layers"], "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "max_position_embeddings": 512, **ids_kw, **arch,
    }  # fmt: skip


def _llama_config(ids: dict[str, int]) -> Any:
    from transformers import LlamaConfig

    # Llama 3's and Mistral's configs name no pad token (the embedding then has no zeroed padding row).
    return LlamaConfig(**_tiny(ids, rope_theta=500000.0, tie_word_embeddings=False, pad_token_id=None))


def _qwen2_config(ids: dict[str, int]) -> Any:
    from transformers import Qwen2Config

    # Qwen2.5-0.5B/1.5B tie their embeddings and start with no BOS; the attention's q/k/v carry biases (Qwen2's own).
    return Qwen2Config(**_tiny(ids, tie_word_embeddings=True, bos_token_id=None))


# Gemma 2 and 3 use a wider head than width / heads, and sliding-window layers alternating with global ones: a
# window of 8 tokens, so every prompt here is longer than it.
_GEMMA = {"heads": 2, "kv_heads": 1, "head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 8}


_GEMMA_TOKENS: dict[str, Any] = {
    "byte_level": False, "bos": "<bos>", "eos": "<eos>", "pad": "<pad>", "unk": "<unk>",
    "specials": ("<bos>", "<start_of_turn>", "<end_of_turn>"), "stop": ("<eos>", "<end_of_turn>"),
    "role_words": ("user", "model"),
}  # fmt: skip
"""Gemma 2's and 3's tokenizer: SentencePiece (not byte-level), the same special tokens and turn markers."""


def _gemma2_config(ids: dict[str, int]) -> Any:
    from transformers import Gemma2Config

    # Gemma 2 adds logit soft-capping on attention and on the output, and extra pre/post feed-forward norms.
    return Gemma2Config(**_tiny(ids, **_GEMMA, attn_logit_softcapping=50.0, final_logit_softcapping=30.0))


def _gemma3_config(ids: dict[str, int]) -> Any:
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(**_tiny(ids, **_GEMMA))


def _mistral_config(ids: dict[str, int]) -> Any:
    from transformers import MistralConfig

    # Mistral-7B v0.1 attends within a sliding window (4096); 12 tokens here, so the prompts exceed it.
    return MistralConfig(**_tiny(ids, sliding_window=12, tie_word_embeddings=False, pad_token_id=None))


def _phi3_config(ids: dict[str, int]) -> Any:
    from transformers import Phi3Config

    # Phi-3 fuses q/k/v into one projection (qkv_proj) and gate/up into one (gate_up_proj).
    return Phi3Config(**_tiny(ids, kv_heads=4, original_max_position_embeddings=512, tie_word_embeddings=False))


# ---------------------------------------------------------------- SAEs in the public formats


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


def _randomise(sae: Any, norm: float) -> None:
    """Random weights whose pre-activations have a standard deviation of about 1 on residuals of norm `norm` (a random
    Llama's residuals have norm ~0.1, a random Gemma's ~10: Gemma scales its embeddings by √d)."""
    with torch.no_grad():
        sae.W_enc.normal_(0, 1 / norm)
        sae.W_dec.normal_(0, 0.1)
        sae.b_dec.normal_(0, 0.01 * norm / sae.cfg.d_in**0.5)


def _save(sae: Any, hook: str, model: str, folder: Path, inference: bool = False) -> None:
    """Saves `sae` as sae-lens does, reading `hook` of `model` (a training SAE through `save_inference_model`)."""
    sae.cfg.metadata.hook_name = hook
    sae.cfg.metadata.model_name = model
    (sae.save_inference_model if inference else sae.save_model)(str(folder))


def _jumprelu(
    d_in: int, norm: float, folder: Path, hook: str, model: str, thresholds: torch.Tensor, b_dec_in: bool
) -> None:
    from sae_lens import JumpReLUSAE, JumpReLUSAEConfig

    sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=d_in, d_sae=thresholds.numel(), apply_b_dec_to_input=b_dec_in))
    _randomise(sae, norm)
    with torch.no_grad():
        sae.threshold.copy_(thresholds)
    _save(sae, hook, model, folder)


def llama_scope_sae(d_in: int, norm: float, layer: int, folder: Path) -> None:
    """Llama Scope (fnlp/Llama3_1-8B-Base-LXR-8x), as `SAE.from_pretrained` gives it: a JumpReLU whose one threshold
    is shared by every latent, b_dec not subtracted, the activation norm folded in; hook blocks.L.hook_resid_post."""
    _seeded(11)
    hook, threshold = f"blocks.{layer}.hook_resid_post", torch.full((128,), 1.0)
    _jumprelu(d_in, norm, folder, hook, "meta-llama/Llama-3.1-8B", threshold, False)


def andyrdt_batchtopk_sae(d_in: int, norm: float, layer: int, folder: Path) -> None:
    """andyrdt's Qwen2.5-7B-Instruct SAEs are BatchTopK, which sae-lens runs as a JumpReLU with one threshold (the
    batch's k-th activation, tracked in training) and b_dec subtracted first: a sae-lens BatchTopK training SAE saved
    for inference, hook blocks.L.hook_resid_post."""
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig

    _seeded(12)
    sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(d_in=d_in, d_sae=128, k=8))
    _randomise(sae, norm)
    with torch.no_grad():
        sae.topk_threshold.fill_(0.5)
    _save(sae, f"blocks.{layer}.hook_resid_post", "Qwen2.5-7B-Instruct", folder, inference=True)


def gemma_scope_sae(d_in: int, norm: float, layer: int, folder: Path) -> None:
    """Gemma Scope (google/gemma-scope-2b-pt-res): a JumpReLU with a threshold per latent, b_dec not subtracted;
    hook blocks.L.hook_resid_post."""
    _seeded(13)
    thresholds = 0.5 + torch.rand(128)
    _jumprelu(d_in, norm, folder, f"blocks.{layer}.hook_resid_post", "gemma-2-2b", thresholds, False)


def gemma_scope_2_sae(d_in: int, norm: float, layer: int, folder: Path) -> None:
    """Gemma Scope 2 (google/gemma-scope-2-270m-it): as Gemma Scope; hook blocks.L.hook_resid_post."""
    _seeded(14)
    thresholds = 0.5 + torch.rand(128)
    _jumprelu(d_in, norm, folder, f"blocks.{layer}.hook_resid_post", "google/gemma-3-270m-it", thresholds, False)


def mistral_wg_sae(d_in: int, norm: float, layer: int, folder: Path) -> None:
    """JoshEngels/Mistral-7B-Residual-Stream-SAEs (`mistral-7b-res-wg`): a standard ReLU SAE reading the *input* of
    a block (blocks.L+1.hook_resid_pre, i.e. the output of block L) with `constant_norm_rescale`: each token's residual
    scaled to norm √d_in before encoding."""
    from sae_lens import StandardSAE, StandardSAEConfig

    _seeded(15)
    sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=128, normalize_activations="constant_norm_rescale"))
    _randomise(sae, d_in**0.5)  # it encodes residuals rescaled to norm √d_in
    _save(sae, f"blocks.{layer + 1}.hook_resid_pre", "mistral-7b", folder)


def topk_sae(d_in: int, norm: float, layer: int, folder: Path) -> None:
    """A TopK SAE as saif_ui's FAST trains them (k latents, activations divided by the decoder norms);
    hook blocks.L.hook_resid_post."""
    from sae_lens import TopKSAE, TopKSAEConfig

    _seeded(16)
    sae = TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=128, k=8, rescale_acts_by_decoder_norm=True))
    _randomise(sae, norm)
    _save(sae, f"blocks.{layer}.hook_resid_post", "microsoft/Phi-3-mini-4k-instruct", folder)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "llama3", "LlamaForCausalLM", _llama_config, LLAMA3_TEMPLATE, byte_level=True,
            bos="<|begin_of_text|>", eos="<|eot_id|>", pad=None,
            specials=("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
            stop=("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"), role_words=("system", "user", "assistant"),
            sae_format="Llama Scope: JumpReLU, one threshold", sae=llama_scope_sae, sae_layer=SAE_LAYER,
            sae_architecture="jumprelu", tied=False,
            extra={"more_specials": ("<|end_of_text|>", "<|eom_id|>")},
        ),
        Family(
            "qwen2", "Qwen2ForCausalLM", _qwen2_config, QWEN2_TEMPLATE, byte_level=True,
            bos=None, eos="<|im_end|>", pad="<|endoftext|>",
            specials=("<|im_start|>", "<|im_end|>"), stop=("<|im_end|>", "<|endoftext|>"),
            role_words=("system", "user", "assistant"),
            sae_format="andyrdt BatchTopK (a JumpReLU for inference)", sae=andyrdt_batchtopk_sae, sae_layer=SAE_LAYER,
            sae_architecture="jumprelu", tied=True,
        ),
        Family(
            "gemma2", "Gemma2ForCausalLM", _gemma2_config, GEMMA2_TEMPLATE, **_GEMMA_TOKENS,
            sae_format="Gemma Scope: JumpReLU, a threshold per latent", sae=gemma_scope_sae, sae_layer=SAE_LAYER,
            sae_architecture="jumprelu", tied=True,
            extra={"cache_implementation": "hybrid"},
        ),
        Family(
            "gemma3", "Gemma3ForCausalLM", _gemma3_config, GEMMA3_TEMPLATE, **_GEMMA_TOKENS,
            sae_format="Gemma Scope 2: JumpReLU, a threshold per latent", sae=gemma_scope_2_sae, sae_layer=SAE_LAYER,
            sae_architecture="jumprelu", tied=True,
        ),
        Family(
            "mistral", "MistralForCausalLM", _mistral_config, MISTRAL_TEMPLATE, byte_level=False,
            bos="<s>", eos="</s>", pad=None, unk="<unk>",
            specials=("<s>", "[INST]", "[/INST]"), stop=("</s>",),
            sae_format="standard ReLU, resid_pre, constant_norm_rescale", sae=mistral_wg_sae, sae_layer=SAE_LAYER,
            sae_architecture="standard", tied=False,
        ),
        Family(
            "phi3", "Phi3ForCausalLM", _phi3_config, PHI3_TEMPLATE, byte_level=False,
            bos="<s>", eos="<|endoftext|>", pad="<|endoftext|>", unk="<unk>",
            specials=("<|user|>", "<|end|>", "<|assistant|>"), stop=("<|endoftext|>", "<|end|>", "<|assistant|>"),
            sae_format="TopK (FAST's)", sae=topk_sae, sae_layer=SAE_LAYER,
            sae_architecture="topk", tied=False,
            extra={"more_specials": ("<|system|>",)},
        ),
    )
}  # fmt: skip
"""The six families by name."""


# ---------------------------------------------------------------- tokenizer


def corpus() -> list[str]:
    """What the tokenizer is trained on: the shipped contents, every wording of every instruction, role words."""
    from saif_ui.saif.inputs.catalogue import load_catalogue
    from saif_ui.saif.inputs.contents import load_contents

    texts = [c.text for c in load_contents()]
    texts += [w for i in load_catalogue() for w in i.variants()]
    # The templates' own words and newlines, often enough that `user` or `model` become single tokens as in the real
    # vocabularies (`assistant` stays split on some: the special-token mask must join its pieces).
    texts += ["system\nuser\nmodel\n\nHi Hello You are Qwen, created by Alibaba Cloud. You are a helpful"] * 40
    texts += [string.printable] * 5  # every ASCII character has a token (the real vocabularies fall back to bytes)
    return texts


def build_tokenizer(fam: Family, vocab_size: int = 512) -> Any:
    """A fast tokenizer of about `vocab_size` tokens with the family's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(dict.fromkeys([t for t in (fam.bos, fam.eos, fam.pad, fam.unk) if t] + list(fam.specials)))
    specials += [t for t in fam.extra.get("more_specials", ()) if t not in specials]
    specials += [t for t in fam.stop if t not in specials]
    if fam.byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok = Tokenizer(models.BPE(unk_token=fam.unk))
        # Mistral and Phi-3 (Llama-2 style SentencePiece) prefix a `▁` to the text; Gemma does not.
        scheme = "never" if fam.name.startswith("gemma") else "first"
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=scheme)
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet)
    tok.train_from_iterator(corpus(), trainer)
    if fam.bos is not None:  # the real tokenizers add BOS when asked to add special tokens (the engine never does)
        bos_id = tok.token_to_id(fam.bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{fam.bos} $A", pair=f"{fam.bos} $A {fam.bos} $B", special_tokens=[(fam.bos, bos_id)]
        )
    named = {"bos_token": fam.bos, "eos_token": fam.eos, "pad_token": fam.pad, "unk_token": fam.unk}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **{k: v for k, v in named.items() if v is not None})
    others = [t for t in specials if t not in named.values()]
    fast.add_special_tokens({"additional_special_tokens": others})
    fast.chat_template = fam.template
    return fast


# ---------------------------------------------------------------- the folders


def build_model(fam: Family, folder: Path, layers: int = LAYERS) -> float:
    """The family's tiny random model and its tokenizer, saved as a Hugging Face folder. Returns the mean norm of the
    residual the family's SAE reads (or the last block's, for a model shallower than that), on a rendered prompt:
    what its SAE's weights are scaled by."""
    import transformers
    from transformers import GenerationConfig

    tok = build_tokenizer(fam)
    vocab = tok.get_vocab()
    ids = _ids(fam, vocab, layers)
    torch.manual_seed(0)
    config = fam.config(ids)
    model = getattr(transformers, fam.model_class)(config).eval()
    gen = {"eos_token_id": [vocab[t] for t in fam.stop], "pad_token_id": ids["pad"]}
    if fam.bos is not None:
        gen["bos_token_id"] = ids["bos"]
    if "cache_implementation" in fam.extra:  # gemma-2's generation_config.json asks for its hybrid cache
        gen["cache_implementation"] = fam.extra["cache_implementation"]
    model.generation_config = GenerationConfig(**gen)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    text = tok.apply_chat_template([{"role": "user", "content": "Bees make honey from nectar."}], tokenize=False)
    with torch.no_grad():
        states = model(**tok(text, add_special_tokens=False, return_tensors="pt"), output_hidden_states=True)
    return float(states.hidden_states[min(fam.sae_layer, layers - 1) + 1][0, 1:].norm(dim=-1).mean())


def build(fam: Family, root: Path, layers: int = LAYERS) -> tuple[Path, Path]:
    """The family's model folder and SAE folder under `root`."""
    model, sae = root / f"{fam.name}-model", root / f"{fam.name}-sae"
    norm = build_model(fam, model, layers)
    width = fam.config({"vocab_size": 1, "bos": 0, "eos": 0, "pad": 0, "layers": layers}).hidden_size
    fam.sae(width, norm, fam.sae_layer, sae)
    return model, sae
