"""SAIF prompt pairs: positive `[content] + [instruction]`, negative `[content]`, and where each part lies."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from saif_ui.engine.chat import ChatTemplate
from saif_ui.engine.errors import SaifError

Placement = Literal["post", "pre", "none"]
PLACEMENTS: tuple[Placement, ...] = get_args(Placement)
SEPARATOR = "\n\n"
"""Between content and instruction: a paragraph break, as a user would type it."""


@dataclass(frozen=True)
class Span:
    """Half-open range [start, end) of characters or tokens."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise SaifError(f"bad span [{self.start}, {self.end})")

    def __len__(self) -> int:
        return self.end - self.start

    def indices(self) -> list[int]:
        return list(range(self.start, self.end))


@dataclass(frozen=True)
class Prompt:
    """One rendered prompt and where its content and instruction lie in the characters and in the tokens."""

    text: str
    """Rendered with the chat template, assistant turn opened."""
    user: str
    """The user message inside it."""
    placement: Placement
    token_ids: tuple[int, ...]
    content_chars: Span
    content_tokens: Span
    instruction_chars: Span | None
    """None for the negative (placement `none`)."""
    instruction_tokens: Span | None

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)


@dataclass(frozen=True)
class Pair:
    """A positive and its negative: the same content, with and without one wording of the instruction."""

    content_id: str
    instruction: str
    """The wording used (one of `Instruction.variants()`)."""
    positive: Prompt
    negative: Prompt


MAX_TEXT_CHARS = 32_768
"""Longest content or instruction read at all: a prompt is tokenised with character offsets before the engine's token
limit can refuse it, and offsets of a 2-million-character text take hundreds of MB. 32k characters is far past any
prompt the engine accepts (1,024 tokens by default)."""


def check_text(text: str, what: str) -> str:
    """`text` stripped; a `SaifError` if it is empty or holds control characters other than tab and newline (a NUL
    or an escape sequence is never part of a passage; the tokenizer would keep it and the model answer noise).
    Any printable Unicode (right-to-left scripts, emoji) is welcome."""
    if not isinstance(text, str):
        raise SaifError(f"{what} must be text")
    if len(text) > MAX_TEXT_CHARS:
        raise SaifError(f"{what} is {len(text):,} characters; at most {MAX_TEXT_CHARS:,} are accepted")
    text = text.strip()
    if not text:
        raise SaifError(f"{what} is empty")
    bad = next((c for c in text if unicodedata.category(c) == "Cc" and c not in "\t\n\r"), None)
    if bad is not None:
        raise SaifError(f"{what} holds the control character U+{ord(bad):04X}: remove it")
    return text


def user_message(content: str, instruction: str | None, placement: Placement) -> tuple[str, Span, Span | None]:
    """The user message and the character spans of content and instruction in it.

    Example:
        >>> user_message("Cats purr.", "Translate it into French.", "post")[0]
        'Cats purr.\\n\\nTranslate it into French.'
    """
    if placement not in PLACEMENTS:
        raise SaifError(f"placement must be one of {', '.join(PLACEMENTS)}, not {placement!r}")
    content = check_text(content, "the content")
    if placement == "none":
        return content, Span(0, len(content)), None
    if not (instruction or "").strip():
        raise SaifError(f"placement {placement!r} needs an instruction")
    instruction = check_text(instruction or "", "the instruction")
    if instruction == content:
        raise SaifError("the instruction is the same text as the content: SAIF contrasts a content with and without it")
    if placement == "post":
        text = content + SEPARATOR + instruction
        return text, Span(0, len(content)), Span(len(text) - len(instruction), len(text))
    text = instruction + SEPARATOR + content
    return text, Span(len(text) - len(content), len(text)), Span(0, len(instruction))


def _token_span(offsets: Sequence[tuple[int, int]], chars: Span) -> Span:
    """Tokens whose characters overlap `chars` (a token straddling a boundary counts as inside)."""
    inside = [i for i, (a, b) in enumerate(offsets) if a < chars.end and b > chars.start]
    if not inside:
        raise SaifError(f"no token covers characters [{chars.start}, {chars.end})")
    return Span(inside[0], inside[-1] + 1)


def _offsets(chat: ChatTemplate, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    tok = chat.tokenizer
    ids = chat.tokenize(text)  # exactly what Engine.encode feeds the model
    if getattr(tok, "is_fast", False):
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        if list(enc["input_ids"]) == ids:
            return ids, [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    # Slow tokenizers have no offsets: rebuild them from the decoded prefix lengths.
    offsets, prev = [], 0
    for k in range(len(ids)):
        end = len(tok.decode(ids[: k + 1]))
        offsets.append((prev, end))
        prev = end
    return ids, offsets


def build_prompt(
    chat: ChatTemplate,
    content: str,
    instruction: str | None,
    placement: Placement,
    *,
    system_prompt: bool | None = None,
) -> Prompt:
    """Render one prompt with the chat template (assistant turn opened) and locate its parts.

    Args:
        chat: the engine's template (`engine.chat`).
        content, instruction: the passage and one wording; `instruction` is ignored for placement `none`.
        placement: `post` (content then instruction; SAIF's better one), `pre` (instruction first) or `none`.
        system_prompt: the template's default system prompt on/off; None uses the engine default.
    """
    user, content_chars, instr_chars = user_message(content, instruction, placement)
    text = chat.render(user, add_generation_prompt=True, system_prompt=system_prompt)
    # The template copies the message verbatim; the last occurrence is the user turn (a system prompt comes first).
    at = text.rfind(user)
    if at < 0:
        raise SaifError("the chat template altered the user message; cannot locate content and instruction")
    ids, offsets = _offsets(chat, text)

    def locate(span: Span) -> tuple[Span, Span]:
        chars = Span(at + span.start, at + span.end)
        return chars, _token_span(offsets, chars)

    c_chars, c_tokens = locate(content_chars)
    i_chars, i_tokens = locate(instr_chars) if instr_chars is not None else (None, None)
    return Prompt(
        text=text,
        user=user,
        placement=placement,
        token_ids=tuple(ids),
        content_chars=c_chars,
        content_tokens=c_tokens,
        instruction_chars=i_chars,
        instruction_tokens=i_tokens,
    )


def build_pairs(
    chat: ChatTemplate,
    contents: Sequence[tuple[str, str]],
    variants: Sequence[str],
    placement: Placement = "post",
    *,
    system_prompt: bool | None = None,
    cross: bool = False,
) -> list[Pair]:
    """Positive/negative pairs for SAIF Stage 1.

    Args:
        contents: (id, text) passages.
        variants: wordings of the instruction (`Instruction.variants()`).
        placement: `post` or `pre` for the positives; negatives are always the content alone.
        cross: every content with every wording (len(contents) x len(variants) pairs); by default content i gets
            wording i mod len(variants), so each wording is used about equally and there is one pair per content.
    """
    if placement == "none":
        raise SaifError("positives need an instruction: placement must be post or pre")
    if not variants:
        raise SaifError("no instruction wordings given")
    pairs: list[Pair] = []
    for i, (cid, text) in enumerate(contents):
        negative = build_prompt(chat, text, None, "none", system_prompt=system_prompt)
        chosen = variants if cross else [variants[i % len(variants)]]
        for wording in chosen:
            positive = build_prompt(chat, text, wording, placement, system_prompt=system_prompt)
            pairs.append(Pair(content_id=cid, instruction=wording.strip(), positive=positive, negative=negative))
    return pairs
