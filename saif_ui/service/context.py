"""What every part of the backend shares: the engine, the catalogue and contents, the result cache, the lock, the
visitors' jobs, streamed answers, training queue and SAE shelf, and the few steps every action takes (resolve the
instruction, name the SAE and the prompt in a result key)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from saif_ui.engine import Engine, jsonsafe
from saif_ui.engine.cache import sae_identity
from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.engine.model import ModelLoadError
from saif_ui.saif.discovery.config import DiscoveryPlacement
from saif_ui.saif.discovery.discover import DiscoveryResult
from saif_ui.saif.inputs.catalogue import Catalogue, Instruction, load_catalogue
from saif_ui.saif.inputs.contents import Content, load_contents
from saif_ui.saif.judge.checkers import CHECKERS_VERSION
from saif_ui.service.controls import ControlError, PromptChoice
from saif_ui.service.jobs import Busy, Cancelled, Jobs
from saif_ui.service.shelf import SaeShelf
from saif_ui.service.streaming import Streams
from saif_ui.service.trainings import AlreadyTraining, QueueFull, TrainingQueue

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
MAX_DISCOVERIES = 32
"""Discovery results kept with every latent's statistics (a few MB each at 16k latents)."""


read_json = jsonsafe.loads


def as_placement(value: str) -> DiscoveryPlacement:
    """A placement from a UI value; positives need the instruction before (`pre`) or after (`post`) the content."""
    if value not in ("post", "pre"):
        raise SaifError(f"placement must be post or pre, not {value!r}")
    return value  # type: ignore[return-value]


class Context:
    """The engine plus the few shared, read-mostly things every part needs (one per server, shared by the parts)."""

    def __init__(self, engine: Engine, catalogue: Catalogue | None = None) -> None:
        self.engine = engine
        self.catalogue = catalogue or load_catalogue()
        self.contents: tuple[Content, ...] = load_contents()
        self.results = engine.results
        """The engine's byte-bounded result cache."""
        self.shelf = SaeShelf(engine, self.results)
        self.jobs = Jobs()
        self.streams = Streams()
        """The answers each visitor is streaming, with their Stop flags."""
        self.trainings = TrainingQueue()
        """SAE trainings asked for in the browser: one at a time for the whole server."""
        self.lock = threading.Lock()
        self._discoveries: OrderedDict[str, DiscoveryResult] = OrderedDict()
        """Recent discovery results with every latent's statistics, by cache key: a session keeps only the rows,
        and a spec of an unlisted latent needs its mean activation."""
        self._identities: dict[tuple[str, str, int], dict[str, str]] = {}

    def sae_key(self, sae: str) -> dict[str, str]:
        """The SAE's source and weight fingerprint, for result keys (hashing the weights once per attached SAE)."""
        obj = self.engine.sae(sae)
        ident = (sae, obj.source, id(obj))
        with self.lock:
            found = self._identities.get(ident)
        if found is None:
            found = sae_identity(obj)
            with self.lock:
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

    def settings(self, choice: PromptChoice, instr: Instruction, decoding: Decoding | None = None) -> dict[str, Any]:
        """What a result of one prompt pair depends on, for its key in the result cache; with the `decoding` of its
        answers when given."""
        settings = {
            "model": self.model_id,
            "instruction": instr.fingerprint,
            "checkers": CHECKERS_VERSION,
            "content": choice.content,
            "placement": choice.placement,
            "system": choice.system_prompt,
        }
        return settings if decoding is None else {**settings, "decoding": decoding.key()}

    def remember(self, discovery: DiscoveryResult) -> None:
        """Keep a discovery with its statistics (a bounded LRU) for steering with latents its rows do not list."""
        with self.lock:
            self._discoveries[discovery.cache_key] = discovery
            self._discoveries.move_to_end(discovery.cache_key)
            while len(self._discoveries) > MAX_DISCOVERIES:
                self._discoveries.popitem(last=False)

    def full(self, discovery: DiscoveryResult | None) -> DiscoveryResult | None:
        """The remembered result with every latent's statistics, else `discovery` as it is (rows only)."""
        if discovery is None:
            return None
        with self.lock:
            return self._discoveries.get(discovery.cache_key, discovery)

    def latent_id(self, sae: str, value: Any) -> int:
        """A latent id of `sae` from a control's value: a whole number in 0..d_sae-1, else a `SaifError` saying so."""
        d_sae = self.engine.sae(sae).d_sae
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if number is None or number != number or number % 1 or not 0 <= number < d_sae:
            raise SaifError(f"latent ids of {sae} are whole numbers 0..{d_sae - 1}, not {value!r}")
        return int(number)
