"""The steering studies behind docs/FINDINGS.md: layers, placement, top-1 vs top-k, drop-one, special tokens.

Each study is a function of the engine and a `StudyConfig` returning plain JSON-able data, cached on disk keyed by
everything that changes it, so regenerating the document after a run costs no generation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from saif_ui.engine import Engine
from saif_ui.engine.cache import JsonStore, sae_identity
from saif_ui.saif.discovery.discover import STATS_VERSION, DiscoveryConfig, DiscoveryResult, discover, pick_contents
from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import contents_version, load_contents
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.steering.compare import Decoding
from saif_ui.saif.steering.evaluate import EvalConfig, Evaluation, evaluate
from saif_ui.saif.steering.spec import spec_from_discovery
from saif_ui.saif.steering.special import special_token_grid

STUDY_VERSION = 2
"""Bump when a study's output changes meaning. 2: results live in a `JsonStore` keyed also by the contents, catalogue
and checker versions and the SAE source."""
Log = Callable[[str], None]


@dataclass(frozen=True)
class StudyConfig:
    """Settings shared by the studies. Defaults were chosen on discovery-split contents (never the held-out ones)."""

    instructions: tuple[str, ...] = ("french", "json")
    checkers: dict[str, str] = field(default_factory=lambda: {"json": "json_start"})
    """Per-instruction checker override: the 135M model never closes a JSON document even when told (0% strict),
    so JSON is judged on whether the answer is (a valid beginning of) JSON; strict JSON is reported beside it."""
    n_contents: int = 16
    alphas: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    k: int = 5
    positions: str = "all"
    max_new_tokens: int = 40
    grid_contents: tuple[str, ...] = (
        "Tell me about the history of tea.",
        "What should I pack for a weekend hike?",
    )

    n_discovery: int = 48
    """Discovery-split contents per discovery run (the discovery default)."""

    def discovery(self, placement: str = "post") -> DiscoveryConfig:
        return DiscoveryConfig(placement=placement, n_contents=self.n_discovery)  # type: ignore[arg-type]

    def eval_config(self, instruction: str) -> EvalConfig:
        return EvalConfig(
            alphas=self.alphas,
            n_contents=self.n_contents,
            decoding=Decoding(max_new_tokens=self.max_new_tokens),
            checker=self.checkers.get(instruction),
        )


class StudyCache:
    """The studies' JSON results on disk: a `JsonStore` under `<cache_dir>/studies/` (atomic writes; a damaged file
    is recomputed), keyed by everything that changes a result: `STUDY_VERSION`, the model, its dtype and default
    system prompt, the whole `StudyConfig`, the contents and catalogue versions, `CHECKERS_VERSION`, discovery's
    `STATS_VERSION`, plus what each study adds (its name, the instruction, the SAE's source and weight fingerprint)."""

    def __init__(self, engine: Engine, cfg: StudyConfig, enabled: bool = True) -> None:
        self.engine = engine
        self.store = JsonStore(Path(engine.config.cache_dir) / "studies", enabled=enabled)
        self.root = self.store.root
        self.base = {
            "v": STUDY_VERSION,
            "model": engine.config.model,
            "dtype": str(engine.loaded.dtype),
            "system_prompt": engine.chat.default_system_prompt,
            "cfg": asdict(cfg),
            "contents": contents_version(),
            "catalogue": load_catalogue().version,
            "checkers": CHECKERS_VERSION,
            "stats": STATS_VERSION,
        }

    @property
    def enabled(self) -> bool:
        """False: never read the cache (results are still written)."""
        return self.store.enabled

    def sae_key(self, sae_name: str) -> dict[str, str]:
        """The key part naming an attached SAE: its source and weight fingerprint."""
        return sae_identity(self.engine.sae(sae_name))

    def get_or_run(self, name: str, key: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        return dict(self.store.get_or_compute(name, {**self.base, **key}, run)[0])


def _saes_by_layer(engine: Engine) -> dict[int, str]:
    return {s.layer: s.name for s in sorted(engine.saes.values(), key=lambda s: s.layer)}


def _sweep(engine: Engine, cfg: StudyConfig, result: DiscoveryResult, k: int | None = None) -> Evaluation:
    spec = spec_from_discovery(result, k=k or cfg.k, positions=cfg.positions)  # type: ignore[arg-type]
    contents = pick_contents(load_contents("validation"), cfg.n_contents)
    return evaluate(engine, result.instruction, spec, contents, cfg.eval_config(result.instruction))


def _summary(ev: Evaluation) -> dict[str, Any]:
    d = ev.to_dict(outputs=False)
    best = ev.best_alpha()
    example = ev.steered[best][0]
    return {
        "layer": d["layer"],
        "checker": d["checker"],
        "latents": [e.latent for e in ev.spec.latents],
        "baselines": d["baselines"],
        "results": d["results"],
        "best_alpha": best,
        "example": {"content": ev.contents[0], "alpha": best, "text": example.text},
        "prompted_example": ev.baselines["prompted"][0].text,
    }


def layer_study(engine: Engine, cfg: StudyConfig, cache: StudyCache, log: Log = print) -> dict[str, Any]:
    """Each instruction, discovered and steered at every attached SAE's layer (placement post)."""
    out: dict[str, Any] = {}
    for instruction in cfg.instructions:
        out[instruction] = {}
        for layer, name in _saes_by_layer(engine).items():
            log(f"layers: {instruction} @ {name}")
            key = {"study": "layer", "i": instruction, **cache.sae_key(name)}

            def run(name: str = name, instruction: str = instruction) -> dict[str, Any]:
                return _summary(_sweep(engine, cfg, discover(engine, instruction, name, cfg.discovery())))

            out[instruction][str(layer)] = cache.get_or_run("layer", key, run)
    return out


def best_layer(layers: dict[str, Any]) -> int:
    """The layer whose best α gave the highest fluent compliance, summed over instructions."""
    totals: dict[str, float] = {}
    for per_layer in layers.values():
        for layer, s in per_layer.items():
            totals[layer] = totals.get(layer, 0.0) + max(r["fluent_strict"] for r in s["results"])
    return int(max(totals, key=lambda layer: (totals[layer], int(layer))))


def placement_study(
    engine: Engine, cfg: StudyConfig, layer: int, cache: StudyCache, log: Log = print
) -> dict[str, Any]:
    """Discover under `pre` and under `post`, steer with each, compare accuracy and the top-k overlap."""
    name = _saes_by_layer(engine)[layer]
    out: dict[str, Any] = {}
    for instruction in cfg.instructions:
        log(f"placement: {instruction} @ {name}")
        key = {"study": "placement", "i": instruction, **cache.sae_key(name)}

        def run(instruction: str = instruction) -> dict[str, Any]:
            found = {p: discover(engine, instruction, name, cfg.discovery(p)) for p in ("post", "pre")}
            top = {p: set(r.ids[: cfg.k]) for p, r in found.items()}
            top20 = {p: set(r.ids[:20]) for p, r in found.items()}
            return {
                "jaccard_top_k": len(top["pre"] & top["post"]) / max(1, len(top["pre"] | top["post"])),
                "jaccard_top_20": len(top20["pre"] & top20["post"]) / max(1, len(top20["pre"] | top20["post"])),
                **{p: _summary(_sweep(engine, cfg, r)) for p, r in found.items()},
            }

        out[instruction] = cache.get_or_run("placement", key, run)
    return out


def topk_study(
    engine: Engine, cfg: StudyConfig, layer: int, cache: StudyCache, ks: tuple[int, ...] = (1, 5, 10), log: Log = print
) -> dict[str, Any]:
    """Steering with the top-1, top-5 and top-10 latents, each over the α sweep."""
    name = _saes_by_layer(engine)[layer]
    out: dict[str, Any] = {}
    for instruction in cfg.instructions:
        out[instruction] = {}
        result = discover(engine, instruction, name, cfg.discovery())
        for k in ks:
            log(f"top-k: {instruction} @ {name}, k={k}")
            key = {"study": "topk", "i": instruction, "k": k, **cache.sae_key(name)}

            def run(k: int = k, result: DiscoveryResult = result) -> dict[str, Any]:
                return _summary(_sweep(engine, cfg, result, k))

            out[instruction][str(k)] = cache.get_or_run("topk", key, run)
    return out


def drop_one_study(
    engine: Engine, cfg: StudyConfig, layer: int, alphas: dict[str, float], cache: StudyCache, log: Log = print
) -> dict[str, Any]:
    """At each instruction's best α, the top-k spec with each latent removed in turn: which one matters most."""
    name = _saes_by_layer(engine)[layer]
    out: dict[str, Any] = {}
    for instruction in cfg.instructions:
        alpha = alphas[instruction]
        log(f"drop-one: {instruction} @ {name}, α={alpha}")
        key = {"study": "drop", "i": instruction, "a": alpha, **cache.sae_key(name)}

        def run(instruction: str = instruction, alpha: float = alpha) -> dict[str, Any]:
            result = discover(engine, instruction, name, cfg.discovery())
            spec = spec_from_discovery(result, k=cfg.k, positions=cfg.positions)  # type: ignore[arg-type]
            contents = pick_contents(load_contents("validation"), cfg.n_contents)
            ecfg = replace(cfg.eval_config(instruction), alphas=(alpha,))

            def score(s: Any) -> float:
                return evaluate(engine, instruction, s, contents, ecfg).summary(alpha).fluent_strict

            full = score(spec)
            rows = [{"latent": e.latent, "without": score(spec.without(e.latent))} for e in spec.latents]
            return {"alpha": alpha, "full": full, "rows": rows}

        out[instruction] = cache.get_or_run("drop", key, run)
    return out


def special_study(engine: Engine, cfg: StudyConfig, cache: StudyCache, log: Log = print) -> dict[str, Any]:
    """FAST's special-token intervention at every attached SAE, on the paper's α grid."""
    out: dict[str, Any] = {}
    for layer, name in _saes_by_layer(engine).items():
        log(f"special tokens @ {name}")
        key = {"study": "special", **cache.sae_key(name)}

        def run(name: str = name) -> dict[str, Any]:
            grids = [
                special_token_grid(engine, name, c, decoding=Decoding(max_new_tokens=cfg.max_new_tokens)).to_dict()
                for c in cfg.grid_contents
            ]
            return {"grids": grids}

        try:
            out[str(layer)] = cache.get_or_run("special", key, run)
        except ValueError as e:  # an SAE without a special-token report
            out[str(layer)] = {"error": str(e)}
    return out
