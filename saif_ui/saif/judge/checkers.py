"""The compliance checkers: a registry of named text tests (`predicates`) and IFEval-style strict and loose verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from saif_ui.engine.errors import SaifError
from saif_ui.saif.judge.predicates import (
    END_PHRASE,
    END_WORD,
    FORBIDDEN_WORD,
    INCLUDE_WORD,
    MAX_TITLE_WORDS,
    START_WORD,
    at_most_words,
    ends_with_exclamation,
    ends_with_phrase,
    ends_with_word,
    excludes_word,
    has_bracket_title,
    has_no_commas,
    has_postscript,
    has_title_line,
    includes_word,
    is_bullet_list,
    is_fenced_json,
    is_formal,
    is_json_container,
    is_json_start,
    is_lowercase,
    is_markdown_table,
    is_numbered_list,
    is_one_sentence,
    is_one_word,
    is_question,
    is_quoted,
    is_three_keywords,
    is_title_case,
    is_uppercase,
    language_checker,
    starts_with_word,
)

CHECKERS_VERSION = 1
"""Version of the verdicts. Bump it whenever any checker may judge some response differently (a new or changed rule,
regex, threshold, loose variant or langdetect setting): cached studies and evaluations carry it in their keys, so a
bump makes them recompute instead of reusing verdicts of the old rules. Adding a new checker id needs no bump."""


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


# ---- registry and verdicts ------------------------------------------------------------------------------------------

CHECKERS: Mapping[str, Checker] = MappingProxyType(
    {
        checker.id: checker
        for checker in (
            Checker("french", "langdetect's top language is French (fr)", language_checker("fr")),
            Checker("spanish", "langdetect's top language is Spanish (es)", language_checker("es")),
            Checker("german", "langdetect's top language is German (de)", language_checker("de")),
            Checker("italian", "langdetect's top language is Italian (it)", language_checker("it")),
            Checker("portuguese", "langdetect's top language is Portuguese (pt)", language_checker("pt")),
            Checker(
                "chinese", "langdetect's top language is Chinese (zh-cn or zh-tw)", language_checker("zh-cn", "zh-tw")
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
            Checker("dutch", "langdetect's top language is Dutch (nl)", language_checker("nl")),
            Checker("russian", "langdetect's top language is Russian (ru)", language_checker("ru")),
            Checker("japanese", "langdetect's top language is Japanese (ja)", language_checker("ja")),
            Checker("numbered_list", "at least 2 lines numbered 1., 2., ... in order", is_numbered_list),
            Checker("quoted", 'the whole response is wrapped in double quotes ("..." or “...”)', is_quoted),
            Checker(
                "title_brackets",
                "holds a title in double angular brackets, <<like this>> (not the bare placeholder <<title>>)",
                has_bracket_title,
            ),
            Checker(
                "title_line",
                f"first line is a title (1-{MAX_TITLE_WORDS} words, no final . , ; ! ?) and more text follows",
                has_title_line,
            ),
            Checker("markdown_table", "a markdown table: a |---| rule and at least 2 rows in pipes", is_markdown_table),
            Checker("one_word", "exactly one word", is_one_word),
            Checker("max_words_5", "1-5 words (IFEval word count)", at_most_words(5)),
            Checker("max_words_10", "1-10 words (IFEval word count)", at_most_words(10)),
            Checker("max_words_20", "1-20 words (IFEval word count)", at_most_words(20)),
            Checker("starts_with_yes", f"the first word is {START_WORD!r}", starts_with_word(START_WORD)),
            Checker("ends_with_done", f"the last word is {END_WORD!r}", ends_with_word(END_WORD)),
            Checker("ends_with_phrase", f"ends with the phrase {END_PHRASE!r}", ends_with_phrase(END_PHRASE)),
            Checker("includes_banana", f"the word {INCLUDE_WORD!r} appears", includes_word(INCLUDE_WORD)),
            Checker("excludes_the", f"the word {FORBIDDEN_WORD!r} never appears", excludes_word(FORBIDDEN_WORD)),
            Checker("no_commas", "no comma anywhere", has_no_commas),
            Checker("postscript", "a line starting with P.S.", has_postscript),
            Checker("question", "ends with a question mark", is_question),
            Checker("exclamation", "ends with an exclamation mark", ends_with_exclamation),
            Checker("formal", "no contractions and no exclamation mark, at least 3 words (a proxy)", is_formal),
            Checker("title_case", "every word starts with a capital letter (at least 3 words)", is_title_case),
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
