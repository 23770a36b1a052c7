"""What every desk of the backend shares: the engine, the catalogue and contents, the result cache, the lock, and
the few steps every action takes (resolve the instruction, name the SAE and the prompt in a result key)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from saif_ui.engine import Engine, jsonsafe
from saif_ui.engine.cache import sae_identity
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import ModelLoadError
from saif_ui.fast.shelf import SaeShelf
from saif_ui.saif.discovery.discover import (
    DiscoveryResult,
)
from saif_ui.saif.inputs.catalogue import Catalogue, Instruction
from saif_ui.saif.inputs.contents import Content
from saif_ui.saif.inputs.prompts import Placement, build_prompt
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.saif.steering.build import Application
from saif_ui.ui.controls import ControlError, PromptChoice, SteerControls
from saif_ui.ui.jobs import Busy, Cancelled, Jobs
from saif_ui.ui.trainings import AlreadyTraining, QueueFull, TrainingQueue

CUSTOM = "custom"
"""Value of the instruction dropdown's entry for a user-written instruction."""
LOW_COMPLIANCE = 0.5
"""Below this prompted compliance the model mostly ignores the instruction even when told: steering is then
unlikely to do better (AxBench: prompting beats steering), and the UI says so."""
USER_ERRORS: tuple[type[Exception], ...] = (
    SaifError,
    ControlError,
    ModelLoadError,
    Cancelled,
    Busy,
    AlreadyTraining,
    QueueFull,
)
"""What bad input raises: the project's own error classes only (`SaifError` covers SpecError, SAELoadError,
ContentFormatError, UnknownInstructionError, UnknownCheckerError and every validation of the library; `ControlError`
the UI's parsing of its controls). Any other exception, a KeyError or a plain ValueError included, is a bug: the UI
must not present it as the user's fault."""


read_json = jsonsafe.loads


def as_placement(value: str) -> Placement:
    """A placement from a UI value; positives need the instruction before (`pre`) or after (`post`) the content."""
    if value not in ("post", "pre"):
        raise SaifError(f"placement must be post or pre, not {value!r}")
    return value  # type: ignore[return-value]


def _application(controls: SteerControls) -> Application:
    return Application(
        positions=controls.positions,  # type: ignore[arg-type]
        scale=controls.scale,  # type: ignore[arg-type]
        decay=controls.decay,
        decay_power=controls.decay_power,
    )


class Base:
    """The state the desks share; `Backend.__init__` sets it."""

    engine: Engine
    catalogue: Catalogue
    contents: tuple[Content, ...]
    results: Any
    """The engine's byte-bounded result cache."""
    shelf: SaeShelf
    jobs: Jobs
    trainings: TrainingQueue
    _discoveries: OrderedDict[str, DiscoveryResult]
    _lock: threading.Lock
    _identities: dict[tuple[str, str, int], dict[str, str]]
    _recipe_views: dict[tuple[str, tuple[str, ...]], Any]
    _labels: dict[tuple[str, str, int], dict[int, str]]

    def _sae_key(self, sae: str) -> dict[str, str]:
        """The SAE's source and weight fingerprint, for result keys (hashing the weights once per attached SAE)."""
        obj = self.engine.sae(sae)
        ident = (sae, obj.source, id(obj))
        with self._lock:
            found = self._identities.get(ident)
        if found is None:
            found = sae_identity(obj)
            with self._lock:
                self._identities[ident] = found
        return found

    @property
    def model_id(self) -> str:
        return str(self.engine.loaded.model_id)

    def has_sae(self, sae: str | None) -> bool:
        return bool(sae) and sae in self.engine.saes

    def instruction(self, choice: PromptChoice) -> Instruction:
        """A catalogue instruction, or a custom one from `custom_text` (one wording per line, first canonical)."""
        if not choice.instruction:
            raise SaifError("pick an instruction first")
        if choice.instruction != CUSTOM:
            return self.catalogue.get(choice.instruction)
        lines = [line.strip() for line in (choice.custom_text or "").splitlines() if line.strip()]
        if not lines:
            raise SaifError("write your instruction (one wording per line) or pick one from the catalogue")
        checker = None if choice.checker in (None, "", "none") else choice.checker
        return Instruction.custom(lines, checker=checker)

    def prompts(self, choice: PromptChoice, wording: str | None = None) -> tuple[str, str]:
        """The exact rendered positive (content + instruction) and negative (content alone)."""
        instr = self.instruction(choice)
        said = wording or instr.canonical
        chat, system = self.engine.chat, choice.system_prompt
        pos = build_prompt(chat, choice.content, said, as_placement(choice.placement), system_prompt=system)
        neg = build_prompt(chat, choice.content, None, "none", system_prompt=system)
        self.engine.prompt_ids(pos.text)  # the length limit, said here too: what is shown is what may be run
        return pos.text, neg.text

    def _settings(self, choice: PromptChoice, instr: Instruction) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "instruction": instr.fingerprint,
            "checkers": CHECKERS_VERSION,
            "content": choice.content,
            "placement": choice.placement,
            "system": choice.system_prompt,
        }

    def _full(self, discovery: DiscoveryResult | None) -> DiscoveryResult | None:
        if discovery is None:
            return None
        with self._lock:
            return self._discoveries.get(discovery.cache_key, discovery)

    def latent_id(self, sae: str, value: Any) -> int:
        """A latent id of `sae` from a control's value: a whole number in 0..d_sae-1, else a `SaifError` saying so."""
        d_sae = self.engine.sae(sae).d_sae
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or number != number or number % 1 or not 0 <= number < d_sae:
            raise SaifError(f"latent ids of {sae} are whole numbers 0..{d_sae - 1}, not {value!r}")
        return int(number)
