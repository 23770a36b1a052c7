"""Per-visitor state: the results one visitor has produced (the library's typed results), kept by the UI in `gr.State`.

Controls (instruction, content, α ...) live in the components themselves; the state keeps what the library returned,
so tabs can read each other's results and an exploration can be exported and re-imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from saif_ui.saif.discovery.discover import DiscoveryResult
from saif_ui.saif.interpret.latent_card import LatentCard
from saif_ui.saif.steering.ablation import Ablation
from saif_ui.saif.steering.chat import Conversation
from saif_ui.saif.steering.compare import Comparison
from saif_ui.saif.steering.evaluate import Evaluation
from saif_ui.saif.steering.special import SpecialGrid
from saif_ui.service.controls import ControlError


@dataclass
class Session:
    """What one visitor's requests returned, as the library's typed results (`to_dict()` makes it JSON)."""

    discovery: DiscoveryResult | None = None
    """The latest discovery run (its rows; the backend keeps every latent's statistics)."""
    answers: Comparison | None = None
    """The Instructions tab's answers with and without the instruction."""
    heatmap: dict[str, Any] | None = None
    """{"positive": Heatmap dict, "negative": Heatmap dict, "special": [ids]}: figure input, not read back."""
    card: LatentCard | None = None
    comparison: Comparison | None = None
    evaluation: Evaluation | None = None
    grid: SpecialGrid | None = None
    ablation: Ablation | None = None
    conversation: Conversation | None = None
    """The chat panel's conversation (each column's history)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Results kept as JSON: `joint_steer` and `joint_sweep` (two instructions at once, `ui.steering.joint`) and
    `layer_comparison` (`ui.layers_compare`)."""

    # ---------------------------------------------------------------- derived views

    def ranked_ids(self) -> list[int]:
        return self.discovery.ids if self.discovery else []

    def flagged_ids(self, flag: str | None = None) -> list[int]:
        rows = self.discovery.flagged if self.discovery else []
        return [r.id for r in rows if flag is None or flag in r.flags]

    def latent_choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the steering picker: ranked latents, then flagged ones, each with its context label
        (or, for an SAE without cards, its first logit-lens tokens)."""
        out = []
        for r in [*self.discovery.latents, *self.discovery.flagged] if self.discovery else []:
            flags = f" [{','.join(r.flags)}]" if r.flags else ""
            # What the latent reads (its contexts) when known; what it writes (logit lens) otherwise.
            text = r.label or " ".join(t.strip() or repr(t) for t in r.logit_tokens[:3])
            out.append((f"#{r.id}{flags} {text}", str(r.id)))
        return out

    def lens_labels(self) -> dict[int, str]:
        """Latent id -> its flags and first logit-lens tokens (slider labels)."""
        return {int(v): label.split(" ", 1)[1] if " " in label else "" for label, v in self.latent_choices()}

    # ---------------------------------------------------------------- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _TYPED:
            value = getattr(self, name)
            out[name] = value.to_dict() if value is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        """A session from `to_dict()` (an imported exploration); a malformed result is a ValueError naming it."""
        if not isinstance(data, dict):
            raise ControlError("'outputs' must be an object")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name, kind in _TYPED.items():
            if not values.get(name):
                values[name] = None
                continue
            try:
                values[name] = kind.from_dict(values[name])
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
                # A hand-edited file: say which result is malformed instead of failing somewhere inside it.
                raise ControlError(
                    f"'outputs.{name}' is not a saif_ui {name} result ({type(err).__name__}: {err})"
                ) from None
        if not isinstance(values.get("extra", {}), dict):
            raise ControlError("'outputs.extra' must be an object")
        return cls(**values)


_TYPED: dict[str, Any] = {
    "discovery": DiscoveryResult,
    "answers": Comparison,
    "card": LatentCard,
    "comparison": Comparison,
    "evaluation": Evaluation,
    "grid": SpecialGrid,
    "ablation": Ablation,
    "conversation": Conversation,
}
"""Session fields that hold a library result, and its type (each has `to_dict` / `from_dict`)."""
