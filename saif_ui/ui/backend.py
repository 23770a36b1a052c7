"""What the dashboard asks of the library, in one place: each call takes plain values, calls `saif_ui.saif` /
`saif_ui.fast` on the shared engine, and returns JSON-able data. No gradio here, no torch.

Repeated requests are answered from a bounded result cache keyed by every setting (as Neuronpedia keys its steering
cache by input + settings), so a demo that re-runs the same steer gets it back without touching the model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from saif_ui.engine import Engine
from saif_ui.saif.catalogue import Catalogue, Instruction, load_catalogue
from saif_ui.saif.checkers import checker_ids
from saif_ui.saif.contents import Content, load_contents
from saif_ui.saif.discovery import DiscoveryConfig, DiscoveryResult, discover
from saif_ui.saif.prompts import Placement, build_pairs, build_prompt
from saif_ui.saif.steer import SteeringSpec, SteerLatent, spec_from_discovery
from saif_ui.ui.results import CancelFlags, Cancelled, ResultCache
from saif_ui.ui.sae_shelf import SaeShelf

__all__ = ["CUSTOM", "LOW_COMPLIANCE", "Backend", "Cancelled", "as_placement"]

CUSTOM = "custom"
"""Value of the instruction dropdown's entry for a user-written instruction."""
LOW_COMPLIANCE = 0.5
"""Below this prompted compliance the model mostly ignores the instruction even when told: steering is then
unlikely to do better (AxBench: prompting beats steering), and the UI says so."""


def as_placement(value: str) -> Placement:
    """A placement from a UI value; positives need the instruction before (`pre`) or after (`post`) the content."""
    if value not in ("post", "pre"):
        raise ValueError(f"placement must be post or pre, not {value!r}")
    return value  # type: ignore[return-value]


class Backend:
    """The engine plus the few shared, read-mostly things the app needs: catalogue, contents, caches."""

    def __init__(self, engine: Engine, catalogue: Catalogue | None = None) -> None:
        self.engine = engine
        self.catalogue = catalogue or load_catalogue()
        self.contents: tuple[Content, ...] = load_contents()
        self.results = ResultCache()
        self.shelf = SaeShelf(engine, self.results)
        self.stops = CancelFlags()
        self._discoveries: OrderedDict[str, DiscoveryResult] = OrderedDict()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- facts

    @property
    def model_id(self) -> str:
        return str(self.engine.loaded.model_id)

    def sae_names(self) -> list[str]:
        """Attached SAEs, shallowest layer first."""
        return [s.name for s in sorted(self.engine.saes.values(), key=lambda s: (s.layer, s.name))]

    def sae_choices(self) -> list[tuple[str, str]]:
        return [(f"{n} · layer {self.engine.sae(n).layer}", n) for n in self.sae_names()]

    def default_sae(self) -> str | None:
        """The deepest attached SAE: SAIF finds steering works best in the last quarter of the layers."""
        names = self.sae_names()
        return names[-1] if names else None

    def layers(self) -> dict[int, str]:
        """Layer -> the first attached SAE reading it."""
        out: dict[int, str] = {}
        for name in self.sae_names():
            out.setdefault(self.engine.sae(name).layer, name)
        return out

    def layer_of(self, sae: str | None) -> int | None:
        return self.engine.sae(sae).layer if sae and sae in self.engine.saes else None

    def instruction_choices(self) -> list[tuple[str, str]]:
        items = [(f"{i.id} — {i.canonical}", i.id) for i in self.catalogue]
        return [*items, ("✎ write your own…", CUSTOM)]

    @staticmethod
    def checker_choices() -> list[str]:
        return ["none", *checker_ids()]

    def content_choices(self) -> list[tuple[str, str]]:
        """Held-out passages first: discovery never saw them, so they are the fair demo."""
        ordered = sorted(self.contents, key=lambda c: (c.split != "heldout", c.id))
        return [(f"{c.id} · {c.split} · {c.text[:70]}{'…' if len(c.text) > 70 else ''}", c.id) for c in ordered]

    def content_text(self, content_id: str) -> str:
        for c in self.contents:
            if c.id == content_id:
                return c.text
        raise ValueError(f"unknown content {content_id!r}")

    def heldout(self, n: int) -> list[tuple[str, str]]:
        """The first `n` held-out passages (statements and paragraphs alternating) for sweeps."""
        from saif_ui.saif.discovery import pick_contents

        return [(c.id, c.text) for c in pick_contents([c for c in self.contents if c.split == "heldout"], n)]

    # ---------------------------------------------------------------- instructions and prompts

    def instruction(self, choice: str | None, custom_text: str | None = "", checker: str | None = None) -> Instruction:
        """A catalogue instruction, or a custom one from `custom_text` (one wording per line, first canonical)."""
        if not choice:
            raise ValueError("pick an instruction first")
        if choice != CUSTOM:
            return self.catalogue.get(choice)
        lines = [line.strip() for line in (custom_text or "").splitlines() if line.strip()]
        if not lines:
            raise ValueError("write your instruction (one wording per line) or pick one from the catalogue")
        return Instruction.custom(lines, checker=None if checker in (None, "", "none") else checker)

    def prompts(
        self, instr: Instruction, content: str, placement: str, system_prompt: bool, wording: str | None = None
    ) -> dict[str, str]:
        """The exact rendered positive (content + instruction) and negative (content alone)."""
        said = wording or instr.canonical
        pos = build_prompt(self.engine.chat, content, said, as_placement(placement), system_prompt=system_prompt)
        neg = build_prompt(self.engine.chat, content, None, "none", system_prompt=system_prompt)
        return {"positive": pos.text, "negative": neg.text}

    def answers(
        self,
        instr: Instruction,
        content: str,
        placement: str,
        system_prompt: bool,
        max_new_tokens: int,
        wording: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """The model's answer without and with the instruction, each judged by the instruction's checker."""
        from saif_ui.saif.compare import Decoding, compare

        decoding = Decoding(max_new_tokens=max_new_tokens)
        settings = {**self._base(instr, content, placement, system_prompt), "wording": wording, "max": max_new_tokens}

        def run() -> dict[str, Any]:
            empty = SteeringSpec()
            c = compare(
                self.engine,
                instr,
                content,
                empty,
                placement=as_placement(placement),
                wording=wording,
                decoding=decoding,
                system_prompt=system_prompt,
            )
            data = c.to_dict()
            data.pop("steered", None)  # with an empty spec the steered answer is the original one
            return data

        return self.results.get_or_compute("answers", settings, run)

    def _base(self, instr: Instruction, content: str, placement: str, system_prompt: bool) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "instruction": instr.fingerprint,
            "content": content,
            "placement": placement,
            "system": system_prompt,
        }

    # ---------------------------------------------------------------- discovery

    def discover(self, instr: Instruction, sae: str, cfg: DiscoveryConfig) -> DiscoveryResult:
        """SAIF Stage 1 (disk-cached by the library); the result object is kept for building steering specs."""
        result = discover(self.engine, instr, sae, cfg)
        with self._lock:
            self._discoveries[result.cache_key] = result
            self._discoveries.move_to_end(result.cache_key)
            while len(self._discoveries) > 32:
                self._discoveries.popitem(last=False)
        return result

    def spec(
        self,
        discovery: dict[str, Any] | None,
        sae: str,
        latents: Sequence[int],
        strengths: dict[int, float],
        alpha: float,
        *,
        scale: str = "mean_act",
        positions: str = "all",
        decay: float = 0.0,
        decay_power: float = 1.0,
    ) -> SteeringSpec:
        """The steering spec for the chosen latents: from the discovery run that found them when there is one (each
        latent's mean activation on the positives sets its scale), else unit directions of the chosen SAE."""
        if not latents:
            raise ValueError("choose at least one latent to steer with (run discovery, or type latent ids)")
        sae_obj = self.engine.sae(sae)
        bad = [i for i in latents if not 0 <= i < sae_obj.d_sae]
        if bad:
            raise ValueError(f"latent ids out of range for {sae} (0..{sae_obj.d_sae - 1}): {bad}")
        same_sae = bool(discovery) and discovery.get("sae") == sae  # type: ignore[union-attr]
        how: dict[str, Any] = {"scale": scale, "positions": positions, "decay": decay, "decay_power": decay_power}
        result = self._discoveries.get(discovery["cache_key"]) if same_sae and discovery else None
        if result is not None:
            spec = spec_from_discovery(result, alpha=alpha, latents=list(latents), **how)
        else:  # e.g. after an import or a link: the discovery rows still carry each latent's mean activation
            rows = (
                {int(r["id"]): r for r in [*discovery.get("latents", []), *discovery.get("flagged", [])]}
                if (same_sae and discovery)
                else {}
            )
            missing = [i for i in latents if i not in rows]
            if scale == "mean_act" and missing:
                raise ValueError(
                    f"latents {missing} have no mean activation from a discovery run on {sae}: run discovery, "
                    "or switch the scale to 'unit'"
                )
            entries = tuple(
                SteerLatent(sae, sae_obj.layer, i, mean_act=float(rows[i]["mean_pos"]) if i in rows else None)
                for i in latents
            )
            spec = SteeringSpec(latents=entries, alpha=alpha, **how)
        return spec.with_strengths({int(k): float(v) for k, v in strengths.items()})

    # ---------------------------------------------------------------- interpretation

    def heatmaps(
        self,
        instr: Instruction,
        content: str,
        placement: str,
        system_prompt: bool,
        sae: str,
        latents: Sequence[int],
    ) -> dict[str, Any]:
        """Activations of `latents` on every token of the positive and the negative prompt of one content."""
        from saif_ui.saif.interpret import pair_heatmaps

        [pair] = build_pairs(
            self.engine.chat,
            [("content", content)],
            [instr.canonical],
            as_placement(placement),
            system_prompt=system_prompt,
        )
        maps = pair_heatmaps(self.engine, sae, pair, list(latents))
        return {name: h.to_dict() for name, h in maps.items()}

    def card(self, sae: str, latent: int) -> dict[str, Any]:
        """What the weights say about a latent (logit lens, neighbours, instruction words) and, when cards of the
        SAE exist (shipped or cached), its activations on held-out chats: top contexts and histogram."""
        from saif_ui.saif.cards import find_cards
        from saif_ui.saif.cli import latent_card

        settings = {"model": self.model_id, "sae": sae, "source": self.engine.sae(sae).source, "latent": latent}
        card, _ = self.results.get_or_compute(
            "card", settings, lambda: latent_card(self.engine, sae, latent, lens=10, n_neighbours=12)
        )
        card = dict(card)
        cards = find_cards(self.engine, sae)
        card["activations"] = cards.summary(latent, self.engine.tokenizer) if cards is not None else None
        return card

    def cards_status(self, sae: str) -> str | None:
        """Where the SAE's latent cards come from ("shipped", "cache"), or None when they were never computed."""
        from saif_ui.saif.cards import find_cards

        found = find_cards(self.engine, sae)
        return found.source if found is not None else None

    def compute_cards(self, sae: str) -> str:
        from saif_ui.saif.cards import latent_cards

        return latent_cards(self.engine, sae).source

    def umap_ready(self, sae: str) -> bool:
        """True when the SAE's UMAP map is shipped or cached (showing it is then instant)."""
        from saif_ui.saif.umap_map import SHIPPED_FILE, UmapConfig, cache_path

        obj = self.engine.sae(sae)
        folder = Path(obj.source).expanduser()
        shipped = folder.is_dir() and (folder / SHIPPED_FILE).is_file()
        return shipped or cache_path(self.engine.config.cache_dir, obj, UmapConfig()).is_file()

    def umap(self, sae: str) -> np.ndarray:
        from saif_ui.saif.umap_map import umap_coords

        return umap_coords(self.engine.sae(sae), self.engine.config.cache_dir)

    # ---------------------------------------------------------------- steering

    def steer(
        self,
        instr: Instruction,
        content: str,
        spec: SteeringSpec,
        placement: str,
        system_prompt: bool,
        prompted_steered: bool,
        decoding: dict[str, Any],
    ) -> tuple[dict[str, Any], bool]:
        """Original / steered / prompted (and optionally prompted + steered) answers, judged."""
        from saif_ui.saif.compare import Decoding, compare

        dec = Decoding(**decoding)
        settings = {
            **self._base(instr, content, placement, system_prompt),
            "spec": spec.to_dict(),
            "prompted_steered": prompted_steered,
            "decoding": asdict(dec),
        }

        def run() -> dict[str, Any]:
            c = compare(
                self.engine,
                instr,
                content,
                spec,
                placement=as_placement(placement),
                prompted_steered=prompted_steered,
                decoding=dec,
                system_prompt=system_prompt,
            )
            return c.to_dict()

        return self.results.get_or_compute("steer", settings, run)

    def evaluate(
        self,
        instr: Instruction,
        spec: SteeringSpec,
        alphas: Sequence[float],
        n_contents: int,
        placement: str,
        max_new_tokens: int,
        prompted_steered: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Compliance and fluency of the spec at each α on `n_contents` held-out passages, with both baselines."""
        from saif_ui.saif.compare import Decoding
        from saif_ui.saif.evaluate import EvalConfig, evaluate

        cfg = EvalConfig(
            alphas=tuple(float(a) for a in alphas),
            n_contents=n_contents,
            placement=as_placement(placement),
            decoding=Decoding(max_new_tokens=max_new_tokens),
            prompted_steered=prompted_steered,
        )
        settings = {
            "model": self.model_id,
            "instruction": instr.fingerprint,
            "spec": spec.to_dict(),
            "cfg": asdict(cfg),
        }

        def run() -> dict[str, Any]:
            return dict(evaluate(self.engine, instr, spec, cfg=cfg, progress=progress).to_dict())

        return self.results.get_or_compute("evaluate", settings, run)

    def special_grid(
        self,
        sae: str,
        latent: int | None,
        content: str,
        alphas: Sequence[float],
        max_new_tokens: int,
        instruction: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """FAST's special-token intervention: one special-token latent added at growing α, the answer at each
        (judged by `instruction`'s checker when one is given); latent None takes the strongest from the report."""
        from saif_ui.saif.compare import Decoding
        from saif_ui.saif.special import special_token_grid

        settings = {
            "model": self.model_id,
            "sae": sae,
            "source": self.engine.sae(sae).source,
            "latent": latent,
            "content": content,
            "alphas": list(alphas),
            "max": max_new_tokens,
            "instruction": instruction,
        }

        def run() -> dict[str, Any]:
            return special_token_grid(
                self.engine,
                sae,
                content,
                latent,
                tuple(alphas),
                decoding=Decoding(max_new_tokens=max_new_tokens),
                instruction=instruction,
            )

        return self.results.get_or_compute("grid", settings, run)
