"""From a user's choice to a steering spec: the instruction's validated recipe, a saved spec file, the mean-difference
baseline, or latents from discovery (the top-k, or hand-picked ones with a strength each); and several such choices
steering together (`build_joint`). The CLI and the dashboard both build their specs here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from saif_ui.engine import Engine
from saif_ui.engine.errors import SaifError
from saif_ui.engine.steering import Positions
from saif_ui.saif.discovery.config import DiscoveryConfig, DiscoveryPlacement
from saif_ui.saif.discovery.discover import DiscoveryResult, discover
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.steering.baselines import mean_difference_spec
from saif_ui.saif.steering.joint import JointPart, JointSpec
from saif_ui.saif.steering.recipe import require_recipe
from saif_ui.saif.steering.spec import Method, Scale, SpecError, SteeringSpec, SteerLatent, spec_from_discovery


@dataclass(frozen=True)
class Application:
    """How a spec's vectors are applied, whatever they are made of."""

    positions: Positions = "all"
    scale: Scale = "mean_act"
    decay: float = 0.0
    """Token-wise decay ω: α_t = α / (1 + ω t)^k (Xie 2025)."""
    decay_power: float = 1.0
    method: Method = "add"
    """What is done with the chosen latents or vector (`SteeringSpec.method`): add (SAIF), orthogonal, cap, clamp."""


@dataclass(frozen=True)
class SpecChoice:
    """What to steer with, as a command line or a request says it.

    Exactly one source: `recipe` (the instruction's validated recipe, assets/recipes.json), `spec_file` (a saved
    spec), `mean_diff` (the no-SAE baseline), or discovery at `layer` (the top `top_k` latents, or `latents` by hand
    with optional `strengths`).
    """

    instruction: Instruction | str
    layer: int | None = None
    """Layer of the attached SAE (None: the deepest)."""
    top_k: int = 5
    latents: tuple[int, ...] | None = None
    strengths: Mapping[int, float] = field(default_factory=dict)
    """Latent id -> strength (default 1) for hand-picked latents."""
    spec_file: Path | None = None
    mean_diff: bool = False
    placement: DiscoveryPlacement = "post"
    how: Application = Application()
    recipe: bool = False

    def __post_init__(self) -> None:
        if self.recipe and (self.spec_file is not None or self.mean_diff or self.latents):
            raise SaifError("the validated recipe is a whole spec: drop --latents / --spec / --mean-diff")
        if self.spec_file is not None and (self.mean_diff or self.latents):
            raise SaifError("a saved spec file replaces discovery: drop --latents / --mean-diff")
        if self.mean_diff and self.latents:
            raise SaifError("--mean-diff steers with a raw vector, not latents: drop --latents")
        unknown = set(self.strengths) - set(self.latents or ())
        if unknown:
            raise SaifError(f"strengths given for latents that are not chosen: {sorted(unknown)}")


def read_spec(path: Path) -> SteeringSpec:
    """A spec saved as JSON (`SteeringSpec.to_json`); unreadable files and bad fields are ValueErrors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SaifError(f"cannot read spec {path}: {e.strerror}") from None
    return SteeringSpec.from_json(text)


def spec_for_latents(
    engine: Engine,
    discovery: DiscoveryResult | None,
    sae: str,
    latents: Sequence[int],
    strengths: Mapping[int, float] | None = None,
    alpha: float = 1.0,
    how: Application = Application(),
) -> SteeringSpec:
    """A spec of hand-picked latents of SAE `sae`, any number of them, each at its strength (default 1).

    With the `mean_act` scale each latent's base is its mean activation under the instruction, so it needs the
    discovery run that found it on the same SAE (a fresh one, or one read back with `DiscoveryResult.from_dict`);
    the `unit` scale needs none.
    """
    if not latents:
        raise SpecError("choose at least one latent to steer with (run discovery, or type latent ids)")
    d_sae = engine.sae(sae).d_sae
    bad = [i for i in latents if not 0 <= i < d_sae]
    if bad:
        raise SpecError(f"latent ids out of range for {sae} (0..{d_sae - 1}): {bad}")
    if discovery is not None and discovery.sae != sae:
        discovery = None  # another SAE's mean activations say nothing about these latents
    chosen = list(dict.fromkeys(int(i) for i in latents))
    means = {i: discovery.mean_act(i) if discovery is not None else None for i in chosen}
    missing = [i for i, m in means.items() if m is None]
    if how.scale == "mean_act" and missing:
        raise SpecError(
            f"latents {missing} have no mean activation from a discovery run on {sae}: run discovery, "
            "or switch the scale to 'unit'"
        )
    strength = {int(k): float(v) for k, v in (strengths or {}).items()}
    layer = engine.sae(sae).layer
    entries = tuple(SteerLatent(sae, layer, i, strength=strength.get(i, 1.0), mean_act=means[i]) for i in chosen)
    meta = {"instruction": discovery.instruction, "discovery_key": discovery.cache_key} if discovery else {}
    return SteeringSpec(
        latents=entries,
        alpha=alpha,
        scale=how.scale,
        positions=how.positions,
        decay=how.decay,
        decay_power=how.decay_power,
        meta=meta,
        method=how.method,
    )


def build_spec(engine: Engine, choice: SpecChoice, alpha: float | None = 1.0) -> SteeringSpec:
    """The spec `choice` describes, at global strength `alpha` (None: the recipe's α, else 1), acting by its
    method (a method other than `add` applies to a recipe's or a saved spec's entries too). Discovery is disk-cached,
    so this is quick after the first run."""
    spec = _build_spec(engine, choice, alpha)
    return spec if choice.how.method == "add" else replace(spec, method=choice.how.method)


def _build_spec(engine: Engine, choice: SpecChoice, alpha: float | None) -> SteeringSpec:
    if choice.recipe:
        instruction = choice.instruction if isinstance(choice.instruction, str) else choice.instruction.id
        spec = require_recipe(instruction).steering
        return spec if alpha is None else spec.with_alpha(alpha)
    alpha = 1.0 if alpha is None else alpha
    SteeringSpec(alpha=alpha)  # a bad α fails now, not after a discovery run
    if choice.spec_file is not None:
        return read_spec(choice.spec_file).with_alpha(alpha)
    if choice.mean_diff:
        layer = choice.layer if choice.layer is not None else engine.sae(engine.sae_at_layer(None)).layer
        cfg = DiscoveryConfig(placement=choice.placement)
        return mean_difference_spec(engine, choice.instruction, layer, cfg, alpha=alpha, positions=choice.how.positions)
    name = engine.sae_at_layer(choice.layer)
    if choice.latents and choice.how.scale == "unit":  # unit directions need no discovery statistics
        return spec_for_latents(engine, None, name, choice.latents, choice.strengths, alpha, choice.how)
    result = discover(engine, choice.instruction, name, DiscoveryConfig(placement=choice.placement))
    if choice.latents:
        return spec_for_latents(engine, result, name, choice.latents, choice.strengths, alpha, choice.how)
    how = choice.how
    return spec_from_discovery(
        result,
        k=choice.top_k,
        alpha=alpha,
        scale=how.scale,
        positions=how.positions,
        decay=how.decay,
        decay_power=how.decay_power,
    )


def build_joint(engine: Engine, choices: Sequence[SpecChoice], weights: Sequence[float] | None = None) -> JointSpec:
    """Several instructions' specs steering together (`steering.joint`), each built from its own choice at its own
    α (the recipe's, else 1), scaled by its weight (default 1 each)."""
    weights = tuple(weights) if weights is not None else (1.0,) * len(choices)
    if len(weights) != len(choices):
        raise SaifError(f"give one weight per instruction: {len(weights)} weights for {len(choices)} instructions")
    parts = []
    for choice, weight in zip(choices, weights, strict=True):
        iid = choice.instruction if isinstance(choice.instruction, str) else choice.instruction.id
        parts.append(JointPart(iid, build_spec(engine, choice, None), float(weight)))
    return JointSpec(tuple(parts))
