"""The dashboard's only door to the library: each action takes the UI's typed controls (`ui.controls`), calls
`saif_ui.saif` / `saif_ui.fast` on the shared engine, and returns the library's typed results or JSON-able data.
No gradio here, no torch, no science: what a spec, a card or a map is made of is the library's business.

Repeated requests are answered from the engine's byte-bounded result cache keyed by every setting (as Neuronpedia
keys its steering cache by input + settings), so a demo that re-runs the same steer gets it back without the model.
"""

from __future__ import annotations

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.shared import get_engine
from saif_ui.fast.summary import COLUMNS as QUALITY_COLUMNS
from saif_ui.saif.discovery.discover import DEFAULT_POSITIONS, DEFAULT_SCORE, DiscoveryResult
from saif_ui.saif.discovery.scoring import POSITIONS, SCORES
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.interpret.latent_card import LatentCard
from saif_ui.saif.steering.ablation import Ablation
from saif_ui.saif.steering.compare import MODES, Comparison, Output
from saif_ui.saif.steering.evaluate import Evaluation, Summary
from saif_ui.saif.steering.spec import MAX_ABS_ALPHA, MAX_ABS_STRENGTH, SCALES
from saif_ui.saif.steering.special import SpecialGrid
from saif_ui.ui.backend.base import CUSTOM, LOW_COMPLIANCE, USER_ERRORS, as_placement, read_json
from saif_ui.ui.backend.core import Backend, LayerComparison, LayerSide
from saif_ui.ui.backend.steering import RecipeView, Steered
from saif_ui.ui.jobs import Busy, Cancelled

__all__ = [
    "CUSTOM",
    "DEFAULT_POSITIONS",
    "DEFAULT_SCORE",
    "LOW_COMPLIANCE",
    "MAX_ABS_ALPHA",
    "MAX_ABS_STRENGTH",
    "MODES",
    "POSITIONS",
    "QUALITY_COLUMNS",
    "SCALES",
    "SCORES",
    "USER_ERRORS",
    "Ablation",
    "Backend",
    "Busy",
    "Cancelled",
    "Comparison",
    "Decoding",
    "DiscoveryResult",
    "Engine",
    "Evaluation",
    "Instruction",
    "LatentCard",
    "LayerComparison",
    "LayerSide",
    "Output",
    "RecipeView",
    "SaifError",
    "SpecialGrid",
    "Steered",
    "Summary",
    "as_placement",
    "get_engine",
    "read_json",
]
