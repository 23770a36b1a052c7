"""How a continuation is decoded: length, greedy or seeded sampling, temperature, top-p. One frozen object goes from
the UI's controls and the command line through the steering code to `Engine.generate`, so a new knob is one field.

Its `asdict` is part of cached results' and shipped studies' keys: a new field must default to the behaviour of
today's runs, and changes those keys (and so recomputes the results) only when it is added.
"""

from __future__ import annotations

from dataclasses import dataclass

from saif_ui.engine.errors import SaifError

MAX_NEW_TOKENS = 1024
"""The longest continuation one request may ask for (a bound on one visitor's cost)."""


@dataclass(frozen=True)
class Decoding:
    """Generation settings; greedy by default, sampling is seeded."""

    max_new_tokens: int = 64
    """Tokens to generate at most (the answer may end sooner with the model's end of turn)."""
    do_sample: bool = False
    """Sample (seeded) instead of greedy decoding."""
    temperature: float = 1.0
    """Sampling temperature (ignored when greedy)."""
    top_p: float = 1.0
    """Nucleus sampling: keep the most likely tokens up to this total probability (ignored when greedy)."""
    seed: int = 0
    """Seeds the sampling; the global random state is left as it was."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise SaifError(f"max_new_tokens must be in 1..{MAX_NEW_TOKENS}, not {self.max_new_tokens}")
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise SaifError(f"temperature must be > 0 and top_p in (0, 1], not {self.temperature} and {self.top_p}")


GREEDY = Decoding()
"""The default: greedy, 64 new tokens."""
