"""How a continuation is decoded: length, greedy or seeded sampling, temperature, top-p. One frozen object goes from
the UI's controls and the command line through the steering code to `Engine.generate`, so a new knob is one field.

`key()` is what cached results' and shipped studies' keys carry: every field of the first version, and a field added
since only when it is set away from its default (which must be the behaviour of earlier runs), so adding a knob
leaves every shipped key as it was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from saif_ui.engine.errors import SaifError

MAX_NEW_TOKENS = 1024
"""The longest continuation one request may ask for (a bound on one visitor's cost)."""
MAX_REPETITION_PENALTY = 3.0
MAX_NGRAM = 16
FIRST_FIELDS = frozenset({"max_new_tokens", "do_sample", "temperature", "top_p", "seed"})
"""The fields of the first version: keys always carry them."""


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
    repetition_penalty: float = 1.0
    """CTRL's penalty (transformers' `RepetitionPenaltyLogitsProcessor`) on tokens the answer already holds; 1 is off.
    The prompt is not counted: a steered answer may reuse the passage's words."""
    no_repeat_ngram_size: int = 0
    """No n-gram of this size twice in the answer (transformers' `NoRepeatNGramLogitsProcessor`, on the answer only);
    0 is off."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS:
            raise SaifError(f"max_new_tokens must be in 1..{MAX_NEW_TOKENS}, not {self.max_new_tokens}")
        if self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise SaifError(f"temperature must be > 0 and top_p in (0, 1], not {self.temperature} and {self.top_p}")
        if not 1.0 <= self.repetition_penalty <= MAX_REPETITION_PENALTY:
            raise SaifError(
                f"repetition_penalty must be in 1..{MAX_REPETITION_PENALTY:g} (1 is off), not {self.repetition_penalty}"
            )
        if not 0 <= self.no_repeat_ngram_size <= MAX_NGRAM:
            raise SaifError(
                f"no_repeat_ngram_size must be in 0..{MAX_NGRAM} (0 is off), not {self.no_repeat_ngram_size}"
            )

    @property
    def penalised(self) -> bool:
        return self.repetition_penalty != 1.0 or self.no_repeat_ngram_size > 0

    def key(self) -> dict[str, Any]:
        """What a result's key records (see the module docstring)."""
        values = asdict(self)
        return {f.name: values[f.name] for f in fields(self) if f.name in FIRST_FIELDS or values[f.name] != f.default}


GREEDY = Decoding()
"""The default: greedy, 64 new tokens."""


class _AnswerOnly:
    """A transformers logits processor applied to the generated tokens only (the prompt, left-padded to `start`
    tokens, is not shown to it)."""

    def __init__(self, inner: Any, start: int) -> None:
        self.inner, self.start = inner, start

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        return self.inner(input_ids[:, self.start :], scores)


def answer_penalties(decoding: Decoding, prompt_len: int) -> Any:
    """The penalties `decoding` asks for, as transformers' own logits processors looking at the answer only."""
    from transformers import LogitsProcessorList, NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor

    processors = LogitsProcessorList()
    if decoding.repetition_penalty != 1.0:
        processors.append(_AnswerOnly(RepetitionPenaltyLogitsProcessor(decoding.repetition_penalty), prompt_len))
    if decoding.no_repeat_ngram_size > 0:
        processors.append(_AnswerOnly(NoRepeatNGramLogitsProcessor(decoding.no_repeat_ngram_size), prompt_len))
    return processors
