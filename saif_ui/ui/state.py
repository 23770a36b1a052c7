"""Per-session state: the results one visitor has produced (plain JSON-able data), held in `gr.State`.

Controls (instruction, content, α ...) live in the components themselves; the state keeps what the library returned,
so tabs can read each other's results and an exploration can be exported and re-imported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from saif_ui.ui.tables import (
    Table,
    compare_table,
    grid_table,
    latent_table,
    lens_table,
    neighbour_table,
    sweep_table,
    word_table,
)

MAX_STEER_LATENTS = 8
"""Strength sliders shown in the Steering tab (one per selected latent)."""


@dataclass
class Session:
    """What one visitor's requests returned; every field is JSON-able (dicts from the library's `to_dict()`)."""

    discovery: dict[str, Any] | None = None
    """`DiscoveryResult.to_dict()` of the latest discovery run."""
    answers: dict[str, Any] | None = None
    """The Instructions tab's answers with and without the instruction (`Comparison.to_dict()`)."""
    heatmap: dict[str, Any] | None = None
    """{"positive": Heatmap dict, "negative": Heatmap dict, "special": [ids]}."""
    card: dict[str, Any] | None = None
    """The latent card shown (weights part; plus "activations" when cards exist)."""
    comparison: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None
    grid: dict[str, Any] | None = None
    """`special_token_grid` result: sae, layer, latent, token, rows of {alpha, text, ...}."""
    extra: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- derived views

    def ranked_ids(self) -> list[int]:
        return [int(r["id"]) for r in (self.discovery or {}).get("latents", [])]

    def flagged_ids(self, flag: str | None = None) -> list[int]:
        rows = (self.discovery or {}).get("flagged", [])
        return [int(r["id"]) for r in rows if flag is None or flag in r["flags"]]

    def row(self, latent: int) -> dict[str, Any] | None:
        """The discovery row of a latent (ranked or flagged), if discovery found it."""
        for r in [*(self.discovery or {}).get("latents", []), *(self.discovery or {}).get("flagged", [])]:
            if int(r["id"]) == latent:
                return dict(r)
        return None

    def latent_choices(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the steering picker: ranked latents, then flagged ones, with their lens tokens."""
        out = []
        for r in [*(self.discovery or {}).get("latents", []), *(self.discovery or {}).get("flagged", [])]:
            flags = f" [{','.join(r['flags'])}]" if r["flags"] else ""
            lens = " ".join(t.strip() or repr(t) for t in r["logit_tokens"][:3])
            out.append((f"#{r['id']}{flags} {lens}", str(r["id"])))
        return out

    def tables(self) -> dict[str, Table]:
        """Every non-empty table of the session, by file stem (for CSV export)."""
        tables = {
            "latents": latent_table(self.discovery),
            "flagged_latents": latent_table(self.discovery, flagged=True),
            "logit_lens": lens_table(self.card),
            "neighbours": neighbour_table(self.card, self.discovery),
            "instruction_words": word_table(self.card),
            "comparison": compare_table(self.comparison),
            "sweep": sweep_table(self.evaluation),
            "special_token_grid": grid_table(self.grid),
        }
        return {name: t for name, t in tables.items() if t.rows}

    # ---------------------------------------------------------------- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def parse_latent_ids(values: Any) -> list[int]:
    """Latent ids from a dropdown value, a list, or text like "436, 3798 2070"; rejects anything that is not a
    non-negative integer with a message naming it."""
    if values is None:
        return []
    items = values.replace(",", " ").split() if isinstance(values, str) else list(values)
    out: list[int] = []
    for item in items:
        text = str(item).strip().lstrip("#")
        if not text:
            continue
        if not text.isdigit():
            raise ValueError(f"latent ids are non-negative integers; {item!r} is not one")
        if int(text) not in out:
            out.append(int(text))
    return out
