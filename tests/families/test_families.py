"""Six chat-model families end to end, each a tiny random model saved as a Hugging Face folder with its own chat
template and an SAE in the format its public SAEs load as (`builders`): the engine loads them from environment
variables only, reads the residual the SAE reads, steers exactly under the KV cache, and every stage of SAIF runs
(discovery, a latent card, a steer, a sweep point, a distillation step, FAST's special tokens, the served app).

Smoke tests of the pipeline, not of behaviour: a random model follows no instruction, so what is asserted is what
must hold whatever the weights (exactness, shapes, the template's tokens, results that agree with the engine)."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from gradio_client import Client

from saif_ui.engine import Engine, EngineConfig, Steering, hooks
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import ModelLoadError, check_layout, final_norm, load_model
from saif_ui.engine.results import pad_stack
from saif_ui.fast.config import HarvestConfig
from saif_ui.fast.data import Conversation
from saif_ui.fast.harvest import harvest
from saif_ui.fast.report import evaluate_sae
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import DiscoveryResult, discover
from saif_ui.saif.distil.train import distil
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.interpret.latent_card import latent_card
from saif_ui.saif.steering.compare import compare
from saif_ui.saif.steering.evaluate import EvalConfig, evaluate
from saif_ui.saif.steering.spec import spec_from_discovery
from saif_ui.ui.app import build_demo
from tests.conftest import TINY_DISTIL
from tests.exactness import assert_exact_under_the_kv_cache
from tests.families.builders import FAMILIES, LAYERS, SAE_LAYER, Family, build, build_model, build_tokenizer
from tests.ui.conftest import free_port

SHORT = Decoding(max_new_tokens=6)
LONG = "Bees make honey from the nectar of flowers, and a hive can hold tens of thousands of them through the winter."
"""A content longer than every fixture's sliding window (8-12 tokens), so windowed attention is exercised."""

FAST_LABELS = {
    "llama3": {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "system", "user", "assistant"},
    "qwen2": {"<|im_start|>", "<|im_end|>", "system", "user", "assistant"},
    "gemma2": {"<start_of_turn>", "<end_of_turn>", "user", "model"},
    "gemma3": {"<start_of_turn>", "<end_of_turn>", "user", "model"},
    "mistral": {"[INST]", "[/INST]", "</s>"},
    "phi3": {"<|user|>", "<|end|>", "<|assistant|>", "<|endoftext|>"},
}
"""The special tokens FAST labels in a harvest of `CHATS` (position 0 of each chat is never harvested: the first
turn marker there counts only where it recurs), with the role words the template writes after a marker."""

CHATS = [
    Conversation(
        "with-system",
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Bees make honey."},
            {"role": "assistant", "content": "Yes, from nectar."},
            {"role": "user", "content": "And cats?"},
            {"role": "assistant", "content": "Cats purr."},
        ],
    ),
    Conversation("plain", [{"role": "user", "content": "Hello there."}, {"role": "assistant", "content": "Hi."}]),
]


@dataclass
class Loaded:
    fam: Family
    engine: Engine
    model_dir: Path
    sae_dir: Path
    root: Path
    found: DiscoveryResult | None = None

    @property
    def sae(self) -> str:
        [name] = self.engine.saes
        return name

    def discovery(self) -> DiscoveryResult:
        if self.found is None:
            self.found = discover(self.engine, "french", self.sae, DiscoveryConfig(n_contents=4, top_k=5))
        return self.found


@contextlib.contextmanager
def space_env(model: Path, sae: Path, cache: Path):
    """The environment of a Space: SAIF_MODEL and SAIF_SAES name the folders, nothing else is passed."""
    with pytest.MonkeyPatch.context() as mp:
        for var in ("SAIF_DTYPE", "SAIF_SYSTEM_PROMPT", "SAIF_MAX_PROMPT_TOKENS"):
            mp.delenv(var, raising=False)
        mp.setenv("SAIF_MODEL", str(model))
        mp.setenv("SAIF_SAES", str(sae))
        mp.setenv("SAIF_DEVICE", "cpu")
        mp.setenv("SAIF_CACHE_DIR", str(cache))
        yield


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def fx(request, tmp_path_factory) -> Loaded:
    """One family's folders, and an engine loaded from them by environment variables only."""
    fam = FAMILIES[request.param]
    root = tmp_path_factory.mktemp(fam.name)
    model, sae = build(fam, root)
    with space_env(model, sae, root / "cache"):
        engine = Engine.load(EngineConfig.from_env())
    return Loaded(fam, engine, model, sae, root)


def test_the_engine_loads_the_family_and_reads_the_sae_at_its_layer(fx: Loaded) -> None:
    engine, fam = fx.engine, fx.fam
    sae = engine.sae(fx.sae)
    assert type(engine.model).__name__ == fam.model_class and (engine.n_layers, engine.d_model) == (LAYERS, 32)
    assert (sae.layer, sae.architecture) == (SAE_LAYER, fam.sae_architecture)
    head, embed = engine.model.get_output_embeddings().weight, engine.model.get_input_embeddings().weight
    assert (head.data_ptr() == embed.data_ptr()) == fam.tied


def test_residual_capture_equals_output_hidden_states(fx: Loaded) -> None:
    """Every block's captured output is transformers' own hidden state (the last one before the final norm, which
    transformers applies to its last entry), and `encode` returns that residual and its SAE latents."""
    engine, model = fx.engine, fx.engine.model
    text = engine.render(LONG)
    ids = torch.tensor([engine.prompt_ids(text)])
    with torch.no_grad():
        ref = model(ids, output_hidden_states=True).hidden_states
        with hooks.capture(model, list(range(-1, LAYERS)), stop=False) as store:
            model(ids)
        last = final_norm(model)(store[LAYERS - 1])
    assert len(ref) == LAYERS + 1 and hooks.hook_count(model) == 0
    for layer in range(-1, LAYERS - 1):
        assert torch.equal(store[layer], ref[layer + 1]), layer
    torch.testing.assert_close(last, ref[-1], rtol=0, atol=1e-6)
    [enc] = engine.encode([text], layers=[SAE_LAYER])
    resid = ref[SAE_LAYER + 1][0]
    assert torch.equal(enc.residuals[SAE_LAYER], resid)
    with torch.no_grad():
        assert torch.equal(enc.latents[fx.sae], engine.sae(fx.sae).sae.encode(resid))
    assert bool((enc.latents[fx.sae][1:] > 0).any())  # the fixture's SAE is not dead on this model


@pytest.mark.parametrize(("positions", "decay"), [("all", 0.0), ("generated", 0.3)])
def test_steering_is_exact_under_the_kv_cache(fx: Loaded, positions: str, decay: float) -> None:
    """Answers generated with the KV cache in a left-padded batch, replayed as one full steered forward each: every
    token is the full forward's greedy choice (as tests/engine/test_engine.py checks on SmolLM2)."""
    engine = fx.engine
    prompts = [engine.render(LONG), engine.render("Hi")]
    [enc] = engine.encode([prompts[0]], layers=[SAE_LAYER])
    scale = float(enc.residuals[SAE_LAYER][1:].norm(dim=-1).mean())
    vector = torch.randn(engine.d_model, generator=torch.Generator().manual_seed(3))
    steering = [Steering(SAE_LAYER, vector / vector.norm() * 3 * scale, positions, decay=decay)]  # type: ignore[arg-type]
    assert_exact_under_the_kv_cache(engine, prompts, steering, 8)
    assert hooks.hook_count(engine.model) == 0


def test_discovery_and_a_latent_card(fx: Loaded) -> None:
    result = fx.discovery()
    d_sae = fx.engine.sae(fx.sae).d_sae
    assert (result.sae, result.layer, result.instruction) == (fx.sae, SAE_LAYER, "french")
    assert 1 <= len(result.ids) <= 5 and len(set(result.ids)) == len(result.ids)
    assert all(0 <= i < d_sae for i in result.ids)
    latent = result.ids[0]
    card = latent_card(fx.engine, fx.sae, latent)
    direction = fx.engine.sae(fx.sae).direction(latent)
    assert (card.sae, card.layer, card.id) == (fx.sae, SAE_LAYER, latent)
    assert card.decoder_norm == pytest.approx(float(direction.norm()))
    assert len(card.logit_lens.promoted) == len(card.logit_lens.suppressed) == 10
    assert card.neighbours[0].id == latent


def test_a_steer_and_a_sweep_point(fx: Loaded) -> None:
    engine = fx.engine
    spec = spec_from_discovery(fx.discovery(), k=3)
    c = compare(engine, "french", "Bees make honey from nectar.", spec, decoding=SHORT)
    assert set(c.outputs) == {"original", "steered", "prompted"}
    assert c.prompts["original"] == engine.render("Bees make honey from nectar.")
    assert c.prompts["prompted"] == engine.render("Bees make honey from nectar.\n\nTranslate the text into French.")
    [again] = engine.generate([c.prompts["steered"]], spec.steerings(engine), decoding=SHORT)
    assert again.cached and again.text == c.outputs["steered"].text
    contents = list(load_contents("validation")[:2])
    ev = evaluate(engine, "french", spec, contents, EvalConfig(alphas=(4.0,), decoding=SHORT))
    d = ev.to_dict()
    assert [r["alpha"] for r in d["results"]] == [4.0] and set(d["baselines"]) == {"original", "prompted"}
    assert [o["id"] for o in d["results"][0]["outputs"]] == [c.id for c in contents]


def test_a_distillation_step_on_blocks_replayed_exactly(fx: Loaded) -> None:
    """The distillation trains on a replay of the blocks above its layer; that replay is the model's own function
    (Gemma-2's soft-capping and every family's sliding-window masks included), and one step runs."""
    engine = fx.engine
    ids, mask = pad_stack([torch.tensor(engine.prompt_ids(engine.render(t))) for t in (LONG, "Hi")])
    assert engine.above(SAE_LAYER, [ids[0], ids[1, : int(mask[1].sum())]]).check(ids, mask) < 1e-4
    cfg = dataclasses.replace(TINY_DISTIL, layer=SAE_LAYER, steps=1, refit_steps=0)
    out = distil(engine, "french", cfg)
    assert (out.layer, out.sae) == (SAE_LAYER, fx.sae) and len(out.history) == 1
    assert math.isfinite(out.history[0]["loss"]) and out.vector.shape == (engine.d_model,)
    assert bool(torch.isfinite(out.vector).all())


def test_fast_finds_the_templates_special_tokens(fx: Loaded) -> None:
    """A FAST harvest of two chats (one with a system message) in the family's template; the held-out report labels
    the template's special tokens and role words, and nothing else, as special."""
    engine = fx.engine
    [sae] = engine.saes.values()
    cfg = HarvestConfig(layers=[SAE_LAYER], tokens=150, max_len=128, batch_tokens=256)
    h = harvest(engine, cfg, fx.root / "harvest", conversations=CHATS, progress=False)
    report = evaluate_sae(sae.sae, h, SAE_LAYER, engine=engine, n_ce_sequences=2)
    assert set(report.special_token_latents) == FAST_LABELS[fx.fam.name]
    assert 0 < float(h.special.mean()) < 0.7


def test_system_messages_follow_the_template(fx: Loaded) -> None:
    """The default system prompt switched off leaves no system turn; an explicit system message is kept, merged into
    the user turn by templates without a system role (Gemma 2's raises on one; saif_ui merges it as Gemma 3 does)."""
    chat = fx.engine.chat
    off = chat.render("Hi", system_prompt=False)
    assert "system" not in off.replace("<|system|>", "") and "Qwen" not in off and "Cutting Knowledge" not in off
    explicit = chat.render([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    merged = {
        "gemma2": "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n",
        "gemma3": "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n",
        "mistral": "<s>[INST] Be brief.\n\nHi[/INST]",
        "phi3": "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n",
    }
    if fx.fam.name in merged:
        assert explicit == merged[fx.fam.name]
    else:  # Llama-3 and Qwen2: the message replaces the default system turn's text
        assert explicit.index("Be brief.") < explicit.index("Hi") and "Qwen" not in explicit


def test_the_app_serves_the_family_configured_by_environment_variables_only(fx: Loaded) -> None:
    """The engine of `fx` was loaded from SAIF_MODEL and SAIF_SAES alone; the app built on it serves the family's
    template and discovery through gradio_client."""
    demo = build_demo(fx.engine)
    demo.queue().launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        pos, neg = client.predict("french", "", "none", "Cats purr.", "post", True, api_name="/render_prompts")
        assert pos == fx.engine.render("Cats purr.\n\nTranslate the text into French.", system_prompt=True)
        assert neg == fx.engine.render("Cats purr.", system_prompt=True)
        status, table, _ = client.predict(instruction="french", n_contents=4, top_k=5, api_name="/discover")
        assert f"at **{fx.sae}** (layer {SAE_LAYER}), from 4 prompt pairs" in status and table["data"]
    finally:
        demo.close()


# ---------------------------------------------------------------- other layouts


def test_the_app_builds_for_a_shallow_model(tmp_path) -> None:
    """The Train panel's default layer (8 on the embedded model) is clamped to the model's depth."""
    build_model(FAMILIES["llama3"], tmp_path / "llama3", layers=4)
    with space_env(tmp_path / "llama3", tmp_path / "no-sae", tmp_path / "cache"):
        engine = Engine.load(EngineConfig.from_env(saes=[]))
    build_demo(engine)
    from saif_ui.service import Backend

    assert Backend(engine).training.defaults().layer == 3


def _tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_embd=32, n_layer=3, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


def test_gpt2_blocks_are_found_and_steered_exactly_under_the_kv_cache() -> None:
    """GPT-2 keeps its blocks at `transformer.h` and hands them the KV cache positionally; the hooks find both."""
    model = _tiny_gpt2()
    ids = torch.randint(1, 64, (2, 5), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(ids, output_hidden_states=True).hidden_states
        with hooks.capture(model, [-1, 0, 1], stop=False) as store:
            model(ids)
    assert all(torch.equal(store[layer], ref[layer + 1]) for layer in (-1, 0, 1))
    steering = [Steering(1, torch.randn(32, generator=torch.Generator().manual_seed(2)) * 4, "generated", decay=0.3)]
    with torch.no_grad(), hooks.steer(model, steering, prompt_len=5):
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False, pad_token_id=0,
            eos_token_id=None, return_dict_in_generate=True, output_logits=True,
        )  # fmt: skip
        full = model(out.sequences[:, :-1], use_cache=False).logits[:, 4:]
    torch.testing.assert_close(torch.stack(out.logits, dim=1), full, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        plain = model(out.sequences[:, :-1]).logits[:, 4:]
    assert (plain - full).abs().max() > 1e-2


def test_a_model_of_another_layout_is_refused_naming_what_is_missing(tmp_path) -> None:
    """OPT keeps its blocks at `model.decoder.layers`: the load fails at once, naming what saif_ui looked for."""
    from transformers import OPTConfig, OPTForCausalLM

    OPTForCausalLM(
        OPTConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, ffn_dim=64, num_attention_heads=4,
                  word_embed_proj_dim=32)
    ).save_pretrained(tmp_path / "opt")  # fmt: skip
    build_tokenizer(FAMILIES["qwen2"]).save_pretrained(tmp_path / "opt")
    with pytest.raises(ModelLoadError, match=r"decoder layers of OPTForCausalLM: .*model\.layers or .*transformer\.h"):
        load_model(str(tmp_path / "opt"), cache_dir=tmp_path, device="cpu")
    gpt2 = _tiny_gpt2()
    check_layout(gpt2)  # GPT-2's layout is known
    gpt2.lm_head = None  # type: ignore[assignment]
    with pytest.raises(ModelLoadError, match="GPT2LMHeadModel has no output embeddings"):
        check_layout(gpt2)


class _TupleBlock(torch.nn.Module):
    """A decoder block as transformers 4 wrote them: it returns a tuple (hidden states, attention weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = torch.nn.Linear(8, 8)

    def forward(self, hidden: torch.Tensor, past_key_values: object = None) -> tuple[torch.Tensor, None]:
        return hidden + self.mlp(hidden), None


class _TupleModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = torch.nn.Module()
        self.model.layers = torch.nn.ModuleList([_TupleBlock() for _ in range(3)])

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        for block in self.model.layers:
            hidden = block(hidden, past_key_values=None)[0]
        return hidden


def test_blocks_returning_tuples_are_captured_and_steered() -> None:
    torch.manual_seed(0)
    model, x = _TupleModel(), torch.randn(1, 4, 8)
    vector = torch.randn(8)
    with torch.no_grad():
        with hooks.capture(model, [0, 1], stop=False) as plain:
            model(x)
        with (
            hooks.steer(model, [Steering(0, vector, "all")], prompt_len=4),
            hooks.capture(model, [0]) as steered,
            contextlib.suppress(hooks.StopForward),
        ):
            model(x)
        assert torch.equal(plain[1], model.model.layers[1](plain[0])[0])
    torch.testing.assert_close(steered[0], plain[0] + vector)
    # A decoding step (one token after a 4-token prompt) whose cache the blocks never see is refused, not mis-steered.
    with pytest.raises(SaifError, match="KV cache"), hooks.steer(model, [Steering(0, vector)], prompt_len=4):
        model(x[:, :1])
