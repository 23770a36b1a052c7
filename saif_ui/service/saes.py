"""The backend's SAEs part: the attached SAEs a session can see, their latents' cards, labels, heatmaps and UMAP map,
their reports and training curves, and adding one from the registry or an upload."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from saif_ui.engine.config import shipped_saes
from saif_ui.engine.errors import SaifError
from saif_ui.saif.inputs.prompts import build_pairs
from saif_ui.saif.interpret.cards_store import find_cards, latent_cards
from saif_ui.saif.interpret.heatmap import pair_heatmaps
from saif_ui.saif.interpret.labels import labels_of
from saif_ui.saif.interpret.latent_card import LatentCard, latent_card
from saif_ui.saif.interpret.umap_map import umap_available, umap_coords
from saif_ui.saif.steering.recipe import load_recipes
from saif_ui.service.context import Context, as_placement
from saif_ui.service.controls import PromptChoice


def origin(source: str, cache_dir: Path) -> str:
    """Where an SAE comes from: shipped with the app, uploaded or trained by a visitor (the managed folder
    `<cache>/uploads/`), a sae-lens registry id, or another local folder (named by its folder alone)."""
    path = Path(source)
    if not path.is_absolute() and not path.exists():
        return f"sae-lens registry `{source}`"
    resolved = path.resolve()
    try:
        shipped = {Path(p).resolve() for p in shipped_saes()}
    except SaifError:  # an install without its SAEs: nothing attached is shipped
        shipped = set()
    if resolved in shipped:
        return f"shipped (assets/saes/{resolved.name})"
    if resolved.parent == (Path(cache_dir) / "uploads").resolve():
        return "uploaded by a visitor" if resolved.name.startswith("upload_") else "trained in this app"
    return f"local folder `{resolved.name}`"


class Saes:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.engine = context.engine
        self.shelf = context.shelf
        self._labels: dict[tuple[str, str, int], dict[int, str]] = {}
        """Context labels by attached SAE (name, source, object): a few thousand short strings each."""

    def names(self) -> list[str]:
        """Attached SAEs, shallowest layer first."""
        return self.engine.sae_names()

    def has(self, sae: str | None) -> bool:
        """True when `sae` names an attached SAE."""
        return self.context.has_sae(sae)

    def latent_id(self, sae: str, value: object) -> int:
        """A latent id of `sae` from a control's value, else a `SaifError` saying what the ids are."""
        return self.context.latent_id(sae, value)

    def info(self, sae: str) -> dict[str, Any]:
        """The SAE's facts (`SAE.info()`) and `origin`: where it comes from, in words a visitor can use (never this
        machine's paths)."""
        info = self.engine.sae(sae).info()
        return {**info, "origin": origin(str(info["source"]), self.engine.config.cache_dir)}

    def choices(self, session: str | None = None) -> list[tuple[str, str]]:
        """The SAE dropdown's entries for `session`: the shared SAEs and those it attached (gradio refuses any other
        value, so a visitor cannot reach another's upload through the API either)."""
        return [(f"{n} · layer {self.engine.sae(n).layer}", n) for n in self.shelf.visible(session)]

    def table_rows(self, session: str | None = None) -> list[dict[str, Any]]:
        """`info()` of each SAE the session can see, for the SAEs tab's table."""
        return [self.info(n) for n in self.shelf.visible(session)]

    def default(self) -> str | None:
        """The attached SAE the validated recipes steer with most often (ties to the deeper), else the deepest
        attached SAE. SAIF finds steering works best in the last layers; on this model the layers study found the
        last one (L27) steers worse than L24, so the default follows what the recipes chose on validation rather
        than the deepest layer any single recipe uses (one recipe at L27 should not move every visitor there)."""
        names = self.names()
        if not names:
            return None
        try:
            used = [e.sae for r in load_recipes().values() for e in r.spec.latents[:1]]
        except SaifError:
            used = []
        return most_used(names, used)

    def layers(self, session: str | None = None) -> dict[int, str]:
        """Layer -> the first SAE reading it that `session` can see."""
        out: dict[int, str] = {}
        for name in self.shelf.visible(session):
            out.setdefault(self.engine.sae(name).layer, name)
        return out

    def layer_of(self, sae: str | None) -> int | None:
        return self.engine.sae(sae).layer if sae and sae in self.engine.saes else None

    def heatmaps(self, choice: PromptChoice, sae: str, latents: Sequence[int]) -> dict[str, Any]:
        """Activations of `latents` on every token of the positive and the negative prompt of one content."""
        instr = self.context.instruction(choice)
        [pair] = build_pairs(
            self.engine.chat,
            [("content", choice.content)],
            [instr.canonical],
            as_placement(choice.placement),
            system_prompt=choice.system_prompt,
        )
        maps = pair_heatmaps(self.engine, sae, pair, [self.context.latent_id(sae, i) for i in latents])
        return {name: h.to_dict() for name, h in maps.items()}

    def card(self, sae: str, latent: Any) -> LatentCard:
        """The latent's card: what its weights say and, when its SAE has activation cards (shipped or cached), its
        top contexts and histogram on held-out chats."""
        latent = self.context.latent_id(sae, latent)
        cards = find_cards(self.engine, sae)
        settings = {
            "model": self.context.model_id,
            **self.context.sae_key(sae),
            "latent": latent,
            "cards": cards.key if cards is not None else None,
        }

        def run() -> dict[str, Any]:
            card = latent_card(self.engine, sae, latent, lens=10, n_neighbours=12, cards=cards)
            return replace(card, label=self.latent_labels(sae).get(latent, "")).to_dict()

        return LatentCard.from_dict(self.context.results.get_or_compute("card", settings, run)[0])

    def latent_labels(self, sae: str) -> dict[int, str]:
        """Latent -> its label from its top contexts (`interpret.labels`: shipped, cached, or made from the SAE's
        cards once), {} while the SAE has no cards. Kept per attached SAE, so a discovery, a card or a map redraw
        does not read the cards again; an SAE without cards is looked at again next time (its cards may be computed
        meanwhile)."""
        obj = self.engine.sae(sae)
        key = (sae, obj.source, id(obj))
        with self.context.lock:
            found = self._labels.get(key)
        if found is None:
            found = labels_of(self.engine, sae)
            if found:
                with self.context.lock:
                    for gone in [k for k in self._labels if k[0] not in self.engine.saes]:
                        del self._labels[gone]  # detached SAEs: the dict never outgrows what is attached
                    self._labels[key] = found
        return found

    def compute_cards(self, sae: str) -> str:
        return latent_cards(self.engine, sae).source

    def umap_ready(self, sae: str) -> bool:
        """True when the SAE's UMAP map is shipped or cached (showing it is then instant)."""
        return umap_available(self.engine.sae(sae), self.engine.config.cache_dir)

    def umap(self, sae: str) -> np.ndarray:
        return umap_coords(self.engine.sae(sae), self.engine.config.cache_dir)

    def report(self, sae: str) -> dict[str, Any] | None:
        return self.shelf.report(sae)

    def manifest(self, sae: str) -> dict[str, Any] | None:
        return self.shelf.manifest(sae)

    def training_curves(self, sae: str) -> dict[str, list[tuple[float, float]]]:
        return self.shelf.training_curves(sae)

    def recipe_curve(self, sae: str) -> tuple[dict[str, list[tuple[float, float]]], dict[str, Any]] | None:
        return self.shelf.recipe_curve(sae)

    def measure_quality(self, sae: str) -> dict[str, Any]:
        return self.shelf.measure_quality(sae)

    def add_registry_sae(self, source: str, session: str) -> str:
        return self.shelf.add_registry_sae(source, session)

    def add_uploaded_sae(self, files: Sequence[str], session: str) -> str:
        return self.shelf.add_uploaded_sae(files, session)


def most_used(names: Sequence[str], used: Sequence[str]) -> str:
    """The name in `names` (shallowest first) that occurs most in `used`, ties to the later (deeper) one; the last
    name when none is used."""
    counts = Counter(u for u in used if u in names)
    if not counts:
        return names[-1]
    return max(names, key=lambda n: (counts[n], names.index(n)))
