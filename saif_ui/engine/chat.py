"""Chat-template rendering (default system prompt on or off) and the special-token mask of an encoding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jinja2.exceptions import TemplateError
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from saif_ui.engine.errors import SaifError

Message = dict[str, str]
ROLE_WORDS = frozenset({"system", "user", "assistant", "model"})
# A string no real prompt contains, used to find where the template puts the system turn.
_SENTINEL = "\u2063saif-system-sentinel\u2063"


def as_messages(prompt: str | Sequence[Message]) -> list[Message]:
    """A bare string is one user turn."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


@dataclass
class ChatTemplate:
    """Renders conversations with the tokenizer's own template and labels special-token positions."""

    tokenizer: PreTrainedTokenizerBase
    default_system_prompt: bool = True

    def __post_init__(self) -> None:
        if not getattr(self.tokenizer, "chat_template", None):
            raise SaifError("the tokenizer has no chat template; saif_ui needs an instruct (chat) model")
        specials = set(self.tokenizer.all_special_tokens)
        specials.update(t.content for t in self.tokenizer.added_tokens_decoder.values() if t.special)
        self._special_strings = sorted(specials, key=len, reverse=True)
        self._special_ids = {self.tokenizer.convert_tokens_to_ids(t) for t in specials} - {None}

    def render(
        self,
        prompt: str | Sequence[Message],
        *,
        add_generation_prompt: bool = True,
        system_prompt: bool | None = None,
    ) -> str:
        """Render a user text or a message list as the model reads it.

        Args:
            prompt: a user message, or messages with `role` and `content`. An explicit system message is kept as is.
            add_generation_prompt: end with the assistant turn opener (for generation and for scoring prompts).
            system_prompt: override `default_system_prompt` for this call. Off removes the system turn that the
                template would otherwise insert (SmolLM2 and Qwen insert one when no system message is given).
        """
        messages = as_messages(prompt)
        use_default = self.default_system_prompt if system_prompt is None else system_prompt
        has_system = bool(messages) and messages[0]["role"] == "system"
        if use_default or has_system:
            return self._apply(messages, add_generation_prompt)
        text = self._apply([{"role": "system", "content": _SENTINEL}, *messages], add_generation_prompt)
        span = self._system_span(text)
        if span is None:
            # Templates with no system role insert no default either: Gemma 3 merges the sentinel into the user turn,
            # Mistral into the last one, Gemma 2 refuses it (`_apply` merges it then).
            return self._apply(messages, add_generation_prompt)
        return text[: span[0]] + text[span[1] :]

    def _apply(self, messages: list[Message], add_generation_prompt: bool) -> str:
        try:
            return self._template(messages, add_generation_prompt)
        except TemplateError as err:
            if not (len(messages) > 1 and messages[0]["role"] == "system"):
                raise SaifError(f"the chat template refused these messages: {err}") from None
        # Some templates have no system role and raise on one (Gemma 2: "System role not supported"). Gemma 3's own
        # template merges a system message into the first user turn; do the same for them.
        system, first, *rest = messages
        merged = {"role": first["role"], "content": f"{system['content']}\n\n{first['content']}"}
        try:
            return self._template([merged, *rest], add_generation_prompt)
        except TemplateError as err:
            raise SaifError(f"the chat template refused these messages: {err}") from None

    def _template(self, messages: list[Message], add_generation_prompt: bool) -> str:
        out = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        assert isinstance(out, str)
        return out

    def _system_span(self, text: str) -> tuple[int, int] | None:
        """Where the system turn holding the sentinel starts and the next turn starts, found from the special token
        that opens a turn (the one right before the role word, e.g. `<|im_start|>` before `system`)."""
        s = text.find(_SENTINEL)
        role_at = text.rfind("system", 0, max(s, 0))
        if s < 0 or role_at < 0:
            return None
        opener = next((t for t in self._special_strings if text.endswith(t, 0, role_at)), None)
        if opener is None:
            return None
        start = role_at - len(opener)
        end = text.find(opener, s)
        return (start, end) if end > 0 else None

    def tokenize(self, text: str) -> list[int]:
        """Token ids of a rendered text; the template already holds BOS and the other special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def special_mask(self, token_ids: Sequence[int]) -> list[bool]:
        """True at special tokens (BOS, `<|im_start|>`, `<|im_end|>`, ...) and at role words right after one —
        the positions FAST calls special tokens (`user`, `assistant`, ...)."""
        is_special = [i in self._special_ids for i in token_ids]
        mask = list(is_special)
        closers = self._closers()
        for k, tid in enumerate(token_ids):
            if not is_special[k] or tid in closers:
                continue
            # A role word may be split into several tokens (SmolLM2: `ass` + `istant`): grow the run after the opener
            # while it is still a prefix of a role word, and mark it if it spells one exactly.
            word, end = "", k + 1
            while end < len(token_ids) and not is_special[end]:
                word += str(self.tokenizer.decode([token_ids[end]]))
                end += 1
                if word.strip() in ROLE_WORDS:
                    mask[k + 1 : end] = [True] * (end - k - 1)
                    break
                if not any(r.startswith(word.lstrip()) for r in ROLE_WORDS):
                    break
        return mask

    def _closers(self) -> set[int]:
        """Ids that end a turn (EOS); a role word after one of them is text, not a role."""
        eos = self.tokenizer.eos_token_id
        return {eos} if isinstance(eos, int) else set()
