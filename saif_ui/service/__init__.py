"""The service layer: what the dashboard (and any other front end, or a test) uses of the library, with no gradio.

`Backend` is the one door: parts held as attributes (`backend.saes`, `.instructions`, `.discovery`, `.steering`,
`.training`, `.distil`) share one `Context` (engine, catalogue, result cache, lock, jobs); each action takes the typed
controls (`controls`), calls `saif_ui.saif` / `saif_ui.fast` on the shared engine, and returns the library's typed
results or JSON-able data. Beside it live the visitors' own state and rules: a session's results (`session`), long
jobs with a Stop flag (`jobs`), answers streamed as they are generated, each with its own (`streaming`), the training
queue (`trainings`), the per-visitor SAE shelf and its caps (`shelf`), the limits of a training asked for in the
browser (`served`) and of a distillation (`distil`). No torch and no science here: what a spec, a card or a map is
made of is the library's business. On a ZeroGPU Space each action that runs the model asks for a GPU for as
long as its work needs (`gpu`).

Repeated requests are answered from the engine's byte-bounded result cache keyed by every setting (as Neuronpedia
keys its steering cache by input + settings), so a demo that re-runs the same steer gets it back without the model.
"""

from __future__ import annotations

from saif_ui.engine import Engine
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.shared import get_engine
from saif_ui.fast.summary import COLUMNS as QUALITY_COLUMNS
from saif_ui.saif.discovery.config import DEFAULT_POSITIONS, DEFAULT_SCORE, POSITIONS, SCORES
from saif_ui.saif.discovery.discover import DiscoveryResult
from saif_ui.saif.inputs.catalogue import Instruction
from saif_ui.saif.interpret.latent_card import LatentCard
from saif_ui.saif.steering.ablation import Ablation
from saif_ui.saif.steering.chat import COLUMNS as CHAT_COLUMNS
from saif_ui.saif.steering.chat import MAX_TURNS as MAX_CHAT_TURNS
from saif_ui.saif.steering.chat import Column as ChatColumn
from saif_ui.saif.steering.chat import Conversation
from saif_ui.saif.steering.compare import MODES, Comparison, Output
from saif_ui.saif.steering.evaluate import Evaluation, Summary
from saif_ui.saif.steering.layers_compare import LayerComparison, LayerSide
from saif_ui.saif.steering.spec import MAX_ABS_ALPHA, MAX_ABS_STRENGTH, METHODS, SCALES
from saif_ui.saif.steering.special import SpecialGrid
from saif_ui.service.backend import Backend
from saif_ui.service.chat import SOURCES as CHAT_SOURCES
from saif_ui.service.chat import ChatReply
from saif_ui.service.context import CUSTOM, LOW_COMPLIANCE, USER_ERRORS, Context, as_placement, read_json
from saif_ui.service.controls import (
    MAX_LATENTS,
    ControlError,
    PromptChoice,
    SteerControls,
    TrainControls,
    parse_alphas,
    parse_latent_ids,
    parse_strengths,
)
from saif_ui.service.demos import Demo, Passage, Verdict
from saif_ui.service.distil import MAX_STEPS as MAX_DISTIL_STEPS
from saif_ui.service.distil import Chip, DistilControls, DistilResult, DistilView
from saif_ui.service.gpu import ACTIONS as GPU_ACTIONS
from saif_ui.service.gpu import GPU_ACTION, NotOnZeroGpu, on_gpu
from saif_ui.service.jobs import Busy, Cancelled, Jobs
from saif_ui.service.session import Session
from saif_ui.service.steering import RecipeView, Steered
from saif_ui.service.streaming import Partial, Streams, renders
from saif_ui.service.trainings import AlreadyTraining, QueueFull, TrainingQueue, TrainingView

__all__ = [
    "CHAT_COLUMNS",
    "CHAT_SOURCES",
    "CUSTOM",
    "DEFAULT_POSITIONS",
    "DEFAULT_SCORE",
    "GPU_ACTION",
    "GPU_ACTIONS",
    "LOW_COMPLIANCE",
    "MAX_ABS_ALPHA",
    "MAX_ABS_STRENGTH",
    "MAX_CHAT_TURNS",
    "MAX_DISTIL_STEPS",
    "MAX_LATENTS",
    "METHODS",
    "MODES",
    "POSITIONS",
    "QUALITY_COLUMNS",
    "SCALES",
    "SCORES",
    "USER_ERRORS",
    "Ablation",
    "AlreadyTraining",
    "Backend",
    "Busy",
    "Cancelled",
    "ChatColumn",
    "ChatReply",
    "Chip",
    "Comparison",
    "Context",
    "ControlError",
    "Conversation",
    "Decoding",
    "Demo",
    "DiscoveryResult",
    "DistilControls",
    "DistilResult",
    "DistilView",
    "Engine",
    "Evaluation",
    "Instruction",
    "Jobs",
    "LatentCard",
    "LayerComparison",
    "LayerSide",
    "NotOnZeroGpu",
    "Output",
    "Partial",
    "Passage",
    "PromptChoice",
    "QueueFull",
    "RecipeView",
    "SaifError",
    "Session",
    "SpecialGrid",
    "SteerControls",
    "Steered",
    "Streams",
    "Summary",
    "TrainControls",
    "TrainingQueue",
    "TrainingView",
    "Verdict",
    "as_placement",
    "get_engine",
    "on_gpu",
    "parse_alphas",
    "parse_latent_ids",
    "parse_strengths",
    "read_json",
    "renders",
]
