"""The engine's figures: steered vs plain generation (P1), discovery vs a full forward (P2), harvest vs the forward
bound (P7), a batched α sweep vs one call at a time (P8), and b1 decoding vs the memory-bandwidth bound (P10)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from transformers import GenerationConfig

from bench.timing import Figure, best_of, paired_best, speedup
from saif_ui.engine import Engine, Steering
from saif_ui.engine.cache import ByteLRU
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.steering import rows
from saif_ui.fast.config import HarvestConfig
from saif_ui.fast.harvest import _batches, conversations_for, harvest, sequences_for
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.discovery.discover import discover, make_pairs
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.compare import generate_rows
from saif_ui.saif.steering.evaluate import EvalConfig


def _push(engine: Engine, layer: int, norm: float = 20.0) -> list[Steering]:
    v = torch.randn(engine.d_model, generator=torch.Generator().manual_seed(0))
    return [Steering(layer, v * norm / v.norm(), "all")]


def _fixed_length_generate(
    engine: Engine,
    prompts: list[str],
    steering: list[Steering] | None,
    n_new: int,
    use_cache: bool = True,
    per_row: list[list[Steering]] | None = None,
) -> None:
    """Greedy generation of exactly `n_new` tokens (EOS ignored), through HF `generate`, steered by the engine's
    own hooks when `steering` is given (or each row by its own list, `per_row`): what the engine runs, minus its
    bookkeeping."""
    enc = engine.tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    cfg = GenerationConfig(
        max_new_tokens=n_new,
        min_new_tokens=n_new,
        do_sample=False,
        pad_token_id=engine.tokenizer.pad_token_id,
        use_cache=use_cache,
    )
    ids = enc["input_ids"].to(engine.loaded.device)
    mask = enc["attention_mask"].to(engine.loaded.device)
    hooked = rows(per_row) if per_row is not None else steering or []
    with engine.steering(hooked, int(ids.shape[1])), torch.no_grad():
        engine.model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)  # type: ignore[operator]


def p1_steered_generation(engine: Engine, quick: bool) -> Figure:
    """Steered / plain greedy decode at a fixed length, b1 and b8, KV cache; and full-recompute steering (no KV cache,
    as in Stolfo et al.) vs KV-cached steering at growing lengths, which shows recompute's quadratic cost."""
    prompts = [engine.render(c.text) for c in load_contents("validation")[:8]]
    steer = _push(engine, 20)
    n_new = 16 if quick else 64
    raw: dict[str, object] = {}
    ratios = []
    for batch in (1, 8):
        ps = prompts[:batch]
        t = paired_best(
            {
                "plain": lambda ps=ps: _fixed_length_generate(engine, ps, None, n_new),
                "steered": lambda ps=ps: _fixed_length_generate(engine, ps, steer, n_new),
            }
        )
        raw[f"b{batch}"] = {**{k: round(v, 4) for k, v in t.items()}, "tok_s_plain": round(batch * n_new / t["plain"])}
        ratios.append(t["plain"] / t["steered"])
    recompute = {}
    # Quick: 16 and 32 tokens (the growth figure, `bench.growth`, draws the whole curve to 128 / 256).
    for length in (16, 32) if quick else (32, 128, 512):
        t = paired_best(
            {
                "kv": lambda n=length: _fixed_length_generate(engine, prompts[:1], steer, n),
                "recompute": lambda n=length: _fixed_length_generate(engine, prompts[:1], steer, n, use_cache=False),
            },
            repeats=3,
        )
        recompute[str(length)] = round(t["recompute"] / t["kv"], 2)
    raw["recompute_over_kv_by_length"] = recompute
    return Figure(
        "P1",
        "steered / plain greedy decode speed (fixed length, KV cache), worst of b1 and b8",
        round(min(ratios), 3),
        0.97,
        raw=raw,
        note=f"{n_new} new tokens; full-recompute steering costs {recompute} × the KV-cached steer (by length)",
    )


def p1_three_answers(engine: Engine, quick: bool) -> Figure:
    """A comparison's three answers (original, steered, prompted) as the app now runs them — one batched generate,
    each row with its own steering — vs as it ran them before: the two unsteered answers in one call, then the
    steered one. Fixed length, greedy, KV cache."""
    content = load_contents("validation")[0].text
    original, prompted = engine.render(content), engine.render(content + "\n\nTranslate the text into French.")
    steer = _push(engine, 20)
    n_new = 32 if quick else 64

    def one_call() -> None:
        _fixed_length_generate(engine, [original, original, prompted], None, n_new, per_row=[[], steer, []])

    def two_calls() -> None:
        _fixed_length_generate(engine, [original, prompted], None, n_new)
        _fixed_length_generate(engine, [original], steer, n_new)

    t = paired_best({"one_call": one_call, "two_calls": two_calls})
    title = "a comparison's three answers in one batched generate (per-row steering) vs two calls (unsteered, steered)"
    return speedup(
        "P1c",
        title,
        t,
        "two_calls",
        "one_call",
        None,
        digits=2,
        kind="report",
        new_tokens=n_new,
        note="speed-up of the app's steer request (generation only)",
    )


def discovery_prompts(engine: Engine, n_pairs: int) -> list[str]:
    """The distinct prompts (positives and negatives) of a `french` discovery over `n_pairs` contents."""
    pairs = make_pairs(engine, load_catalogue().get("french"), DiscoveryConfig(n_contents=n_pairs))
    return list(dict.fromkeys([p.positive.text for p in pairs] + [p.negative.text for p in pairs]))


def _full_forward(engine: Engine, texts: list[str], batch: int = 16) -> None:
    for start in range(0, len(texts), batch):
        enc = engine.tokenizer(
            texts[start : start + batch], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(engine.loaded.device)
        with torch.no_grad():
            engine.model(**enc, use_cache=False)


def p2_discovery(engine: Engine, sae: str, quick: bool) -> Figure:
    """Discovery's encode + SAE + scoring (caches off) vs a full forward (LM head included) over the same prompts."""
    n_pairs = 16 if quick else 48
    texts, cfg = discovery_prompts(engine, n_pairs), DiscoveryConfig(n_contents=n_pairs)
    layer = engine.sae(sae).layer
    saved, engine.cache = engine.cache, ByteLRU(0)  # measure the model, not the encode cache
    try:
        t = paired_best(
            {
                "discovery": lambda: discover(engine, "french", sae, cfg, use_cache=False),
                "full_forward": lambda: _full_forward(engine, texts),
            }
        )
    finally:
        engine.cache = saved
    bound = engine.n_layers / (layer + 1)
    title = f"discovery throughput vs a full forward (pairs/s ratio), target 0.9 × n_layers/(L+1) at L{layer}"
    return speedup(
        "P2",
        title,
        t,
        "full_forward",
        "discovery",
        round(0.9 * bound, 3),
        pairs=n_pairs,
        prompts=len(texts),
        pairs_per_s=round(n_pairs / t["discovery"], 2),
        layer_bound=round(bound, 3),
    )


def p7_harvest(engine: Engine, quick: bool) -> Figure:
    """FAST harvest (tokenise, forward to the layer, store fp16) vs the forward alone over the same sequences."""
    cfg = HarvestConfig(layers=[15], tokens=8_000 if quick else 30_000, max_len=512, batch_tokens=4096)
    conversations = conversations_for(cfg)[:400]
    sequences = list(sequences_for(engine, cfg, conversations))
    # The sequences harvest reads until its token budget is full, forwarded exactly as harvest batches them.
    kept, total = [], 0
    for s in sequences:
        if total >= cfg.tokens:
            break
        kept.append(s)
        total += len(s.token_ids) - 1
    n_tokens = sum(len(s.token_ids) for s in kept)

    def forward_only() -> None:
        for batch in _batches(iter(kept), cfg.batch_tokens):
            engine.hidden_states([torch.tensor(s.token_ids) for s in batch], cfg.layers)

    def full_harvest() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            harvest(engine, cfg, Path(tmp) / "h", conversations=conversations, progress=False)

    t = paired_best({"harvest": full_harvest, "forward": forward_only})
    title = "FAST harvest tok/s vs the forward-to-layer bound over the same sequences"
    return speedup(
        "P7", title, t, "forward", "harvest", 0.85, tokens=n_tokens, harvest_tok_s=round(n_tokens / t["harvest"])
    )


def p8_batched_sweep(engine: Engine, quick: bool) -> Figure:
    """An α sweep (6 α × N contents) as the evaluation runs it — every α's rows in one sequence of batches of
    `EvalConfig.batch_size`, each row with its own steering (`run_jobs`) — vs one generate call per answer. One α
    per batched call (how sweeps ran before rows carried their own steering) gave 4.94× in the run of 2026-12-01;
    it is not measured again, to keep the quick run under ten minutes."""
    # The quick run takes 12 contents (72 answers; the one-call-per-answer side of 24 took 4 to 6 of the quick
    # run's minutes) and 8-token answers; the full run has the 24 contents and 16 tokens. Fewer contents
    # leave the last batch half empty: 8 contents (48 answers, 32 + 16) gave 4.67× on 2026-12-02.
    n, n_new = (12, 8) if quick else (24, 16)
    prompts = [engine.render(c.text + "\n\nTranslate the text into French.") for c in load_contents("validation")[:n]]
    alphas = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    base = _push(engine, 20, 1.0)
    batch = EvalConfig().batch_size
    decoding = Decoding(max_new_tokens=n_new)

    def at(a: float) -> list[Steering]:
        return [Steering(s.layer, s.vector * a, s.positions) for s in base]

    rows = [(p, at(a)) for a in alphas for p in prompts]

    def sweep() -> None:
        engine.generations.clear()  # every answer is generated, none read from the cache
        generate_rows(engine, rows, decoding, batch)

    def one_by_one() -> None:
        for a in alphas:
            for p in prompts:
                engine.generate([p], at(a), decoding=Decoding(max_new_tokens=n_new), reuse=False)

    def prefill() -> None:
        engine.generations.clear()
        generate_rows(engine, rows, Decoding(max_new_tokens=1), batch)

    t = paired_best({"batched": sweep, "one_by_one": one_by_one}, repeats=3)
    # The prompts' prefill is the same work batched or one at a time (a GEMM either way, compute-bound), so it
    # caps the ratio however cheap batched decoding gets: the bound is one_by_one / (the batched prefill).
    t_prefill = best_of(prefill, repeats=3)
    title = f"α sweep (6 α × {n} contents) batched as the evaluation runs it vs one generate call per answer"
    return speedup(
        "P8",
        title,
        t,
        "one_by_one",
        "batched",
        5.0,
        digits=2,
        prefill_batched_s=round(t_prefill, 3),
        bound_if_decoding_were_free=round(t["one_by_one"] / t_prefill, 2),
        contents=n,
        max_new_tokens=n_new,
        batch_size=batch,
        note=f"{batch} rows per batch, all α sharing batches (one α per call gave 4.94× on 2026-12-01)",
    )


def copy_bandwidth(device: torch.device | None = None) -> float:
    """Bytes per second a tensor copy moves (read + write) on `device` (the CPU by default) over a buffer much larger
    than any cache: 256 MB in host memory; 1 GB device-to-device on a GPU (its L2 holds tens of MB), copied ten
    times per timing so that one timing is not a single sub-millisecond kernel."""
    device = device or torch.device("cpu")
    on_gpu = device.type == "cuda"
    src = torch.ones((256 if on_gpu else 64) * 2**20, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    copies = 10 if on_gpu else 1

    def copy() -> None:
        for _ in range(copies):
            dst.copy_(src)

    seconds = best_of(copy, repeats=5) / copies  # best_of drains the GPU's queue around each timing
    return 2 * src.numel() * 4 / seconds


def p10_decode_bound(engine: Engine, quick: bool) -> Figure:
    """b1 greedy decode tok/s vs the memory-bandwidth bound: every weight is read once per token, so tok/s can be at
    most copy bandwidth ÷ weight bytes. On a GPU the bandwidth is a device-to-device copy's and the weights are the
    run's dtype (bf16: half the CPU's fp32 bytes)."""
    prompt = [engine.render(load_contents("validation")[0].text)]
    n_new = 32 if quick else 64
    seconds = best_of(lambda: _fixed_length_generate(engine, prompt, None, n_new))
    prefill = best_of(lambda: _fixed_length_generate(engine, prompt, None, 1))
    decode_tok_s = (n_new - 1) / max(seconds - prefill, 1e-9)
    weight_bytes = sum(p.numel() * p.element_size() for p in engine.model.parameters())
    device = engine.loaded.device
    bandwidth = copy_bandwidth(device)
    bound = bandwidth / weight_bytes
    where: dict[str, object] = (
        {"gpu": torch.cuda.get_device_name(device)} if device.type == "cuda" else {"threads": torch.get_num_threads()}
    )
    return Figure(
        "P10",
        "b1 decode tok/s vs the memory-bandwidth bound (copy bandwidth ÷ weight bytes)",
        round(decode_tok_s / bound, 3),
        0.8,
        raw={
            "decode_tok_s": round(decode_tok_s, 1),
            "bound_tok_s": round(bound, 1),
            "copy_bandwidth_gb_s": round(bandwidth / 1e9, 2),
            "weight_mb": round(weight_bytes / 2**20),
            "dtype": str(engine.loaded.dtype).removeprefix("torch."),
            **where,
        },
        # A 135M model at b1 on a GPU reads its weights in a fraction of a millisecond; a step then costs what its
        # kernel launches and HF generate's Python cost, so the ratio says how far from bandwidth-bound that is.
        note="the GPU's bound is a device-to-device copy; at b1 a small model is bound by kernel launches, not it"
        if device.type == "cuda"
        else "",
    )


def p4_server_side(engine: Engine) -> Figure:
    """A repeated identical steer inside the server (the backend call a /steer runs, no HTTP): the repeat is served
    from the result cache; the first time of each α runs the model."""
    import time

    from saif_ui.service import Backend, PromptChoice, SteerControls

    backend = Backend(engine)
    choice = PromptChoice("french", content="The cat sat on the mat and looked at the rain.")
    decoding = Decoding(max_new_tokens=32)
    sae = next(n for n in engine.sae_names() if "L24" in n)
    miss = hit = float("inf")
    for i in range(3):
        controls = SteerControls.parse(["436", "2070"], None, 1.0 + 0.25 * (i + 1), scale="unit")
        t0 = time.perf_counter()
        first = backend.steering.steer(choice, sae, controls, None, decoding)
        miss = min(miss, time.perf_counter() - t0)
        t0 = time.perf_counter()
        again = backend.steering.steer(choice, sae, controls, None, decoding)
        hit = min(hit, time.perf_counter() - t0)
        assert again.cached and not first.cached and again.comparison == first.comparison
    return Figure(
        "P4s",
        "repeated identical steer, server-side (the backend call of /steer): time of the repeat",
        round(hit * 1000, 1),
        50.0,
        "<=",
        "ms",
        raw={"miss_s": round(miss, 3), "hit_s": round(hit, 5), "miss_over_hit": round(miss / hit)},
        note=f"the repeat is {miss / hit:.0f}× faster than the first time (target ≥ 20×)",
    )
