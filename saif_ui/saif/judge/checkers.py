"""Compliance checkers (IFEval-style strict and loose verdicts) and model-free fluency signals."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

from saif_ui.engine.errors import SaifError

CHECKERS_VERSION = 1
"""Version of the verdicts. Bump it whenever any checker may judge some response differently (a new or changed rule,
regex, threshold, loose variant or langdetect setting): cached studies and evaluations carry it in their keys, so a
bump makes them recompute instead of reusing verdicts of the old rules. Adding a new checker id needs no bump."""

MIN_CASED_LETTERS = 3
"""uppercase/lowercase need at least this many cased letters, so "OK" or "1." is not a rewrite of a passage."""
MIN_BULLETS = 2
"""A bullet list needs at least two bullet lines; one line is a sentence with a dash."""
KEYWORD_COUNT = 3
MAX_KEYWORD_WORDS = 3
"""A keyword may be a short phrase ("solar power"); longer items are sentences, not keywords."""
MAX_SENTENCE_WORDS = 40

_LANGDETECT_LOCK = threading.Lock()
_BULLET_LINE = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+\S")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s*")
_KEYWORD_LABEL = re.compile(r"^\s*(?:the\s+)?(?:three\s+|3\s+)?key\s?(?:words?|terms?)\s*(?:are)?\s*:\s*", re.I)
_KEYWORD_ITEM = re.compile(r"^[\w'&/ -]+$")
_CODE_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)\n?```$", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Verdict:
    """IFEval's two verdicts on one response: `strict` on the raw text, `loose` on any of its relaxed variants."""

    strict: bool
    loose: bool


@dataclass(frozen=True)
class Checker:
    """A named compliance test; calling it applies the strict test to one response.

    Args:
        id: registry key, referenced by `Instruction.checker`.
        description: one line shown in the UI next to compliance rates.
        fn: the strict test `(response) -> bool`.
        loose_fn: the test applied to each loose variant; defaults to `fn`. Only `json` differs (it unwraps a fence).
    """

    id: str
    description: str
    fn: Callable[[str], bool]
    loose_fn: Callable[[str], bool] | None = None

    def __call__(self, response: str) -> bool:
        return self.fn(response)


class UnknownCheckerError(SaifError, KeyError):
    """Raised for a checker id that is not in the registry; the message lists the valid ids."""

    def __str__(self) -> str:
        # KeyError's default str() wraps the message in quotes; show it as written.
        return str(self.args[0]) if self.args else ""


# ---- language -------------------------------------------------------------------------------------------------------


def detect_language(text: str) -> str | None:
    """Return langdetect's top language code for `text` ("fr", "zh-cn", ...), or None when it has no letters.

    langdetect samples n-grams at random, so verdicts on short or mixed texts flip between calls unless
    `DetectorFactory.seed` is fixed (IFEval has the same caveat). The seed is set here rather than at import so that
    importing this module has no side effect; the lock keeps langdetect's lazy, global profile loading safe under
    Gradio's worker threads.
    """
    with _LANGDETECT_LOCK:
        DetectorFactory.seed = 0
        try:
            ranked = detect_langs(text)
        except LangDetectException:
            return None  # "No features in text": empty, digits or punctuation only.
    return ranked[0].lang if ranked else None


def _language_checker(*codes: str) -> Callable[[str], bool]:
    """Factory: a test that passes when the top detected language is one of `codes`.

    Top-1 without a probability threshold, as IFEval's `language:response_language` does: on passages of a few words
    langdetect is near-certain (p > 0.99), while on 3-word answers a correct translation can score 0.6-0.9 (e.g. Spanish
    vs Catalan), so a threshold would mostly reject good short answers. A text that mixes an English preface with a
    translation is decided by whichever language dominates it; loose verdicts drop the preface line.
    """
    accepted = frozenset(codes)

    def is_language(response: str) -> bool:
        return detect_language(response) in accepted

    return is_language


# ---- format ---------------------------------------------------------------------------------------------------------


def is_json_container(response: str) -> bool:
    """True when the whole response, stripped of whitespace, parses as a JSON object or array."""
    try:
        value = json.loads(response.strip())
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(value, dict | list)


def strip_code_fence(text: str) -> str:
    """Return the body of a markdown code fence (```json ... ```) that wraps the whole text, else the text unchanged."""
    match = _CODE_FENCE.match(text.strip())
    return match.group(1) if match else text


def is_fenced_json(response: str) -> bool:
    """Loose JSON test: unwrap a ``` fence, then parse, as IFEval's `detectable_format:json_format` does.

    IFEval unwraps the fence even for strict verdicts; we do it in loose only.

    Keeping the fence out of strict makes the strict/loose gap show how often the model wraps JSON in markdown.
    """
    return is_json_container(strip_code_fence(response))


_FENCE_OPEN = re.compile(r"^```[a-zA-Z]*[ \t]*\n")


def _json_prefix(prefix: str) -> tuple[str, str] | None:
    """Split a truncated JSON text into (text with its open string closed, the brackets that close it);
    None when a bracket closes the wrong thing, so it cannot be the start of valid JSON."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in prefix:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and (not stack or stack.pop() != ch):
            return None
    text = (prefix[:-1] if escaped else prefix) + ('"' if in_string else "")
    return text.rstrip(), "".join(reversed(stack))


def is_json_start(response: str) -> bool:
    """The response (after an optional ``` fence opener) is a JSON object or array, or a valid beginning of one.

    Not an IFEval check: it exists because a small model asked for JSON often opens a JSON document and then nests
    or repeats until the length limit, so `json` (must parse) is 0 even when prompted. This measures whether the
    *format* switched to JSON, which is what steering can move.
    """
    text = _FENCE_OPEN.sub("", response.strip(), count=1).strip()
    if text.endswith("```"):
        text = text[:-3].rstrip()
    if not text or text[0] not in "{[":
        return False
    split = _json_prefix(text)
    if split is None:
        return False
    body, closers = split
    body = body[:-1] if body.endswith(",") else body
    # Whatever was cut off mid-way: nothing, a value after a colon, a key's colon and value, or a literal's end.
    for tail in ("", "null", ": null", "e", "ue", "rue", "lse", "ull", "0"):
        try:
            json.loads(body + tail + closers)
            return True
        except (json.JSONDecodeError, RecursionError):
            continue
    return False


def is_bullet_list(response: str) -> bool:
    """At least `MIN_BULLETS` lines start with `*`, `-`, `•`, `+` or `1.`/`1)` followed by a space and text.

    Other lines (a heading, a closing remark) are allowed, as in IFEval's bullet-list checker. Requiring a space after
    the marker keeps `**bold**` lines and negative numbers out.
    """
    return sum(1 for line in response.splitlines() if _BULLET_LINE.match(line)) >= MIN_BULLETS


def _cased_letters(text: str) -> list[str]:
    return [ch for ch in text if ch.isalpha() and ch.upper() != ch.lower()]


def is_uppercase(response: str) -> bool:
    """Every cased letter is upper case and there are at least `MIN_CASED_LETTERS` of them (digits, CJK ignored)."""
    letters = _cased_letters(response)
    return len(letters) >= MIN_CASED_LETTERS and all(ch.isupper() for ch in letters)


def is_lowercase(response: str) -> bool:
    """Every cased letter is lower case and there are at least `MIN_CASED_LETTERS` of them."""
    letters = _cased_letters(response)
    return len(letters) >= MIN_CASED_LETTERS and all(ch.islower() for ch in letters)


# ---- content --------------------------------------------------------------------------------------------------------


def keyword_items(response: str) -> list[str]:
    """Split a keyword answer into items: one per non-empty line, else comma/semicolon separated on a single line.

    A line that is only a bare label ("Keywords:") is dropped; so are list markers, a trailing period, quotes and a
    leading "and" ("a, b and c" or "a, b, and c").
    """
    lines = [line for line in response.strip().splitlines() if line.strip()]
    lines = [line for line in lines if _KEYWORD_LABEL.sub("", line).strip()]
    if len(lines) == 1:
        raw = re.split(r"[,;]", _KEYWORD_LABEL.sub("", lines[0]))
        if len(raw) > 1:  # "a, b and c": split the last piece on its last "and" (a lone "x and y" stays one item).
            raw[-1:] = re.split(r"\s+and\s+(?!.*\sand\s)", raw[-1])
    else:
        raw = [_LIST_MARKER.sub("", line) for line in lines]
    items = [re.sub(r"^and\s+", "", item.strip().rstrip(".").strip().strip("\"'").strip()) for item in raw]
    return [item for item in items if item]


def is_three_keywords(response: str) -> bool:
    """Exactly `KEYWORD_COUNT` distinct items of 1-`MAX_KEYWORD_WORDS` words each (see `keyword_items`).

    A bare label ("Keywords:", "The keywords are:") is part of a valid answer; a chatty preface ("Here are three
    keywords:") is not, and only the loose verdict (first line dropped) forgives it, as for every other checker.
    """
    items = keyword_items(response)
    if len(items) != KEYWORD_COUNT or len({item.lower() for item in items}) != KEYWORD_COUNT:
        return False
    # Only word characters, spaces, hyphens and the like: "**Keywords:** bread" is a label plus markdown, not a keyword.
    return all(_KEYWORD_ITEM.match(item) and len(item.split()) <= MAX_KEYWORD_WORDS for item in items)


def is_one_sentence(response: str) -> bool:
    """A single line holding one sentence of 3-`MAX_SENTENCE_WORDS` words (split after . ! ? + space).

    Limitation: abbreviations such as "U.S. economy" count as a sentence break. The checker cannot tell a summary from
    an echo of a one-sentence statement, so use it on paragraph contents.
    """
    text = response.strip()
    if "\n" in text or not 3 <= len(text.split()) <= MAX_SENTENCE_WORDS:
        return False
    return len([part for part in _SENTENCE_END.split(text) if part.strip()]) == 1


# ---- registry and verdicts ------------------------------------------------------------------------------------------

CHECKERS: Mapping[str, Checker] = MappingProxyType(
    {
        checker.id: checker
        for checker in (
            Checker("french", "langdetect's top language is French (fr)", _language_checker("fr")),
            Checker("spanish", "langdetect's top language is Spanish (es)", _language_checker("es")),
            Checker("german", "langdetect's top language is German (de)", _language_checker("de")),
            Checker("italian", "langdetect's top language is Italian (it)", _language_checker("it")),
            Checker("portuguese", "langdetect's top language is Portuguese (pt)", _language_checker("pt")),
            Checker(
                "chinese", "langdetect's top language is Chinese (zh-cn or zh-tw)", _language_checker("zh-cn", "zh-tw")
            ),
            Checker(
                "json",
                "parses as a JSON object or array (loose: also inside a ``` fence)",
                is_json_container,
                is_fenced_json,
            ),
            Checker(
                "json_start",
                "a JSON object or array, or a valid beginning of one cut off by the length limit (not IFEval)",
                is_json_start,
            ),
            Checker("uppercase", "all cased letters are upper case (at least 3)", is_uppercase),
            Checker("lowercase", "all cased letters are lower case (at least 3)", is_lowercase),
            Checker("bullet_list", "at least 2 lines start with *, -, •, + or a number", is_bullet_list),
            Checker(
                "keywords", "exactly 3 distinct items of 1-3 words, one per line or comma-separated", is_three_keywords
            ),
            Checker("one_sentence", "one line, one sentence, 3-40 words", is_one_sentence),
        )
    }
)
"""Checker id -> Checker. Every `checker` named in assets/instructions.json must be a key here."""


def checker_ids() -> tuple[str, ...]:
    """The registered checker ids, sorted."""
    return tuple(sorted(CHECKERS))


def get_checker(checker_id: str) -> Checker:
    """Look up a checker; raises `UnknownCheckerError` (a KeyError) listing the valid ids."""
    try:
        return CHECKERS[checker_id]
    except KeyError:
        raise UnknownCheckerError(
            f"unknown checker {checker_id!r}; valid checkers: {', '.join(checker_ids())}"
        ) from None


def loose_variants(response: str) -> tuple[str, ...]:
    """IFEval's 8 loose variants, in its order: the response, without `*`, without the first line, without the last
    line, without both, and those three again without `*` (google-research instruction_following_eval,
    `test_instruction_following_loose`)."""
    lines = response.split("\n")
    remove_first = "\n".join(lines[1:]).strip()
    remove_last = "\n".join(lines[:-1]).strip()
    remove_both = "\n".join(lines[1:-1]).strip()
    return (
        response,
        response.replace("*", ""),
        remove_first,
        remove_last,
        remove_both,
        remove_first.replace("*", ""),
        remove_last.replace("*", ""),
        remove_both.replace("*", ""),
    )


def _passes(test: Callable[[str], bool], text: str) -> bool:
    # IFEval never credits an empty (or whitespace-only) response or variant.
    return bool(text.strip()) and test(text)


def check(checker_id: str, response: str) -> Verdict:
    """Judge one response, IFEval style.

    Args:
        checker_id: a key of `CHECKERS` (e.g. an instruction's `checker`).
        response: the model's answer, as generated.

    Returns:
        `Verdict(strict, loose)`; strict implies loose, since the raw response is the first loose variant.

    Example:
        >>> check("json", '```json\\n{"a": 1}\\n```')
        Verdict(strict=False, loose=True)
    """
    checker = get_checker(checker_id)
    strict = _passes(checker.fn, response)
    loose_test = checker.loose_fn or checker.fn
    loose = strict or any(_passes(loose_test, variant) for variant in loose_variants(response))
    return Verdict(strict=strict, loose=loose)


def compliance_rates(verdicts: Iterable[Verdict]) -> tuple[float, float]:
    """(strict rate, loose rate) over verdicts; (0.0, 0.0) for none."""
    items = list(verdicts)
    if not items:
        return 0.0, 0.0
    return sum(v.strict for v in items) / len(items), sum(v.loose for v in items) / len(items)
