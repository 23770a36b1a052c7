"""The text tests behind the checkers, by family (language, format, length, lexical, style, content): each takes a
response and says whether it does what the instruction asked. Deterministic; languages by langdetect, seeded."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

from saif_ui.engine.jsonsafe import StringScanner

MIN_CASED_LETTERS = 3
"""uppercase/lowercase need at least this many cased letters, so "OK" or "1." is not a rewrite of a passage."""
MIN_BULLETS = 2
"""A bullet list needs at least two bullet lines; one line is a sentence with a dash."""
KEYWORD_COUNT = 3
MAX_KEYWORD_WORDS = 3
"""A keyword may be a short phrase ("solar power"); longer items are sentences, not keywords."""
MAX_SENTENCE_WORDS = 40
MIN_LIST_ITEMS = 2
"""A numbered list or a table needs at least two items (rows); one numbered line is a sentence with a number."""
MAX_TITLE_WORDS = 12
"""A title line is short; a longer first line is the start of the answer, not its title."""
MIN_STYLE_WORDS = 3
"""`formal` and `title_case` need at least this many words, so "OK" is not a formal answer."""
START_WORD = "yes"
END_WORD = "done"
END_PHRASE = "Is there anything else I can help with?"
"""IFEval's `startend:end_checker` phrase."""
INCLUDE_WORD = "banana"
"""A word no shipped content is about, so the model says it only when told."""
FORBIDDEN_WORD = "the"
POSTSCRIPT_MARKER = "p.s."

_LANGDETECT_LOCK = threading.Lock()
_BULLET_LINE = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+\S")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s*")
_KEYWORD_LABEL = re.compile(r"^\s*(?:the\s+)?(?:three\s+|3\s+)?key\s?(?:words?|terms?)\s*(?:are)?\s*:\s*", re.I)
_KEYWORD_ITEM = re.compile(r"^[\w'&/ -]+$")
_CODE_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)\n?```$", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\w+")
_NUMBERED_LINE = re.compile(r"^\s*(\d{1,3})[.)]\s+\S")
_TITLE_BRACKETS = re.compile(r"<<([^\n]+?)>>")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_CONTRACTION = re.compile(
    r"\b\w+(?:n['’]t|['’](?:re|ve|ll|m|d))\b|\b(?:it|that|there|here|what|who|he|she|let|where|how)['’]s\b", re.I
)
_POSTSCRIPT = re.compile(r"\s*p\.\s?s\..*$", re.MULTILINE)


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


def language_checker(*codes: str) -> Callable[[str], bool]:
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
    scan = StringScanner()
    for ch in prefix:
        if not scan.structural(ch):
            continue
        if ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and (not stack or stack.pop() != ch):
            return None
    text = (prefix[:-1] if scan.escaped else prefix) + ('"' if scan.in_string else "")
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


def is_numbered_list(response: str) -> bool:
    """At least `MIN_LIST_ITEMS` lines start with `1.` (or `1)`), `2.`, ... in order from 1, each followed by text.

    Other lines (a heading, a closing remark, wrapped text) are allowed, as in `is_bullet_list`.
    """
    numbers = [int(m.group(1)) for line in response.splitlines() if (m := _NUMBERED_LINE.match(line))]
    return len(numbers) >= MIN_LIST_ITEMS and numbers == list(range(1, len(numbers) + 1))


def is_quoted(response: str) -> bool:
    """The whole response is wrapped in double quotation marks (IFEval's `startend:quotation`; curly “…” also count)."""
    text = response.strip()
    return len(text) > 1 and ((text[0] == '"' and text[-1] == '"') or (text[0] == "“" and text[-1] == "”"))


def has_bracket_title(response: str) -> bool:
    """A title wrapped in double angular brackets, such as <<My title>> (IFEval's `detectable_format:title`).

    Unlike IFEval, the bare placeholder <<title>> (the instruction's own example, copied) is not a title.
    """
    titles = (title.strip("<> \t") for title in _TITLE_BRACKETS.findall(response))
    return any(title and title.casefold() != "title" for title in titles)


def has_title_line(response: str) -> bool:
    """The first line is a title: 1-`MAX_TITLE_WORDS` words, not ending like a sentence (. , ; ! ?), and more text
    follows on a later line. A markdown heading marker (`# `) or bold (`**`) around the title is allowed.

    A heuristic (no library judges titles): it cannot tell a title from a short first line without a full stop.
    """
    lines = [line.strip() for line in response.strip().splitlines()]
    if len(lines) < 2 or not any(lines[1:]):
        return False
    title = lines[0].lstrip("#").strip().strip("*").strip()
    return 1 <= count_words(title) <= MAX_TITLE_WORDS and title[-1] not in ".,;!?"


def is_markdown_table(response: str) -> bool:
    """A markdown table: a `|---|---|` rule line and at least `MIN_LIST_ITEMS` rows wrapped in pipes (`| a | b |`)."""
    lines = response.splitlines()
    rows = [line for line in lines if _TABLE_ROW.match(line) and not _TABLE_RULE.match(line)]
    return any(_TABLE_RULE.match(line) and "-" in line for line in lines) and len(rows) >= MIN_LIST_ITEMS


# ---- length ---------------------------------------------------------------------------------------------------------


def count_words(text: str) -> int:
    """Words as IFEval counts them: runs of word characters (nltk's `RegexpTokenizer(r"\\w+")`)."""
    return len(_WORD.findall(text))


def is_one_word(response: str) -> bool:
    """Exactly one word (punctuation around it allowed: "Library." passes, "The library." does not)."""
    return count_words(response) == 1


def at_most_words(limit: int) -> Callable[[str], bool]:
    """Factory: 1 to `limit` words (IFEval's `length_constraints:number_words`, relation "less than" limit + 1)."""

    def at_most(response: str) -> bool:
        return 1 <= count_words(response) <= limit

    return at_most


# ---- lexical --------------------------------------------------------------------------------------------------------


def starts_with_word(word: str) -> Callable[[str], bool]:
    """Factory: the first word is `word` (case-insensitive; "Yes," and "Yes." pass, "Yesterday" does not)."""
    pattern = re.compile(rf"{re.escape(word)}\b", re.I)

    def starts_with(response: str) -> bool:
        return pattern.match(response.strip()) is not None

    return starts_with


def ends_with_word(word: str) -> Callable[[str], bool]:
    """Factory: the last word is `word` (case-insensitive), with only punctuation after it."""
    pattern = re.compile(rf"\b{re.escape(word)}[\W_]*$", re.I)

    def ends_with(response: str) -> bool:
        return pattern.search(response.strip()) is not None

    return ends_with


def ends_with_phrase(phrase: str) -> Callable[[str], bool]:
    """Factory: the response ends with this exact phrase, nothing after it (IFEval's `startend:end_checker`)."""
    wanted = phrase.strip().lower()

    def ends_with(response: str) -> bool:
        return response.strip().lower().endswith(wanted)

    return ends_with


def includes_word(word: str) -> Callable[[str], bool]:
    """Factory: `word` (or its plural in -s) appears as a whole word (IFEval's `keywords:existence`, word-bounded)."""
    pattern = re.compile(rf"\b{re.escape(word)}s?\b", re.I)

    def includes(response: str) -> bool:
        return pattern.search(response) is not None

    return includes


def excludes_word(word: str) -> Callable[[str], bool]:
    """Factory: `word` never appears as a whole word, and there is some text (IFEval's `keywords:forbidden_words`)."""
    pattern = re.compile(rf"\b{re.escape(word)}\b", re.I)

    def excludes(response: str) -> bool:
        return count_words(response) > 0 and pattern.search(response) is None

    return excludes


def has_no_commas(response: str) -> bool:
    """No ASCII comma anywhere, and some text (IFEval's `punctuation:no_comma`)."""
    return count_words(response) > 0 and "," not in response


def has_postscript(response: str) -> bool:
    """A line starting with P.S. (IFEval's `detectable_content:postscript`, marker "P.S.")."""
    return _POSTSCRIPT.search(response.lower()) is not None


# ---- style ----------------------------------------------------------------------------------------------------------


def is_question(response: str) -> bool:
    """The response ends with a question mark (ASCII or full-width) and holds some words."""
    text = response.strip()
    return count_words(text) > 0 and text.endswith(("?", "？"))


def ends_with_exclamation(response: str) -> bool:
    """The response ends with an exclamation mark (ASCII or full-width) and holds some words."""
    text = response.strip()
    return count_words(text) > 0 and text.endswith(("!", "！"))


def is_formal(response: str) -> bool:
    """A proxy for a formal register: at least `MIN_STYLE_WORDS` words, no English contraction (don't, it's, we'll)
    and no exclamation mark.

    A heuristic (no offline library judges formality); it passes any plain neutral text, so compare with the rate
    without the instruction.
    """
    return count_words(response) >= MIN_STYLE_WORDS and "!" not in response and not _CONTRACTION.search(response)


def is_title_case(response: str) -> bool:
    """Every word that starts with a letter starts with a capital, and there are at least `MIN_STYLE_WORDS` such."""
    words = [w for w in _WORD.findall(response) if w[0].isalpha() and w[0].upper() != w[0].lower()]
    return len(words) >= MIN_STYLE_WORDS and all(w[0].isupper() for w in words)


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
