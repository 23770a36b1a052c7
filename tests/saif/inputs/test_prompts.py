"""Tests for saif_ui.saif.inputs.prompts: positives and negatives differ only by the instruction, at the right place."""

from __future__ import annotations

import pytest

from saif_ui.saif.inputs.catalogue import load_catalogue
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.inputs.prompts import SEPARATOR, build_pairs, build_prompt, user_message

CONTENT = "Honeybees share the location of flowers with each other through a special dance."
FRENCH = "Translate the text into French."


def _decode(engine, prompt, span) -> str:
    return engine.tokenizer.decode(list(prompt.token_ids[span.start : span.end]))


def test_user_message_places_the_instruction() -> None:
    post, c, i = user_message(CONTENT, FRENCH, "post")
    assert post == CONTENT + SEPARATOR + FRENCH
    assert post[c.start : c.end] == CONTENT and i is not None and post[i.start : i.end] == FRENCH
    pre, c, i = user_message(CONTENT, FRENCH, "pre")
    assert pre == FRENCH + SEPARATOR + CONTENT
    assert pre[c.start : c.end] == CONTENT and i is not None and pre[i.start : i.end] == FRENCH
    none, c, i = user_message(CONTENT, FRENCH, "none")
    assert none == CONTENT and i is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", FRENCH, "post"), "empty"),
        ((CONTENT, "  ", "post"), "needs an instruction"),
        ((CONTENT, FRENCH, "mid"), "placement must be"),
        (("Hi\x00there", FRENCH, "post"), r"the content holds the control character U\+0000"),
        ((CONTENT, "Say\x1b[1m it", "pre"), r"the instruction holds the control character U\+001B"),
        ((CONTENT, f"  {CONTENT} ", "post"), "same text as the content"),
    ],
)
def test_user_message_rejects_bad_input(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        user_message(*args)


@pytest.mark.parametrize("placement", ["post", "pre"])
@pytest.mark.parametrize("system_prompt", [True, False])
def test_spans_locate_content_and_instruction(engine, placement, system_prompt) -> None:
    p = build_prompt(engine.chat, CONTENT, FRENCH, placement, system_prompt=system_prompt)
    assert p.text == engine.chat.render(p.user, system_prompt=system_prompt)
    assert list(p.token_ids) == engine.tokens(p.text)[0]
    assert p.text[p.content_chars.start : p.content_chars.end] == CONTENT
    assert p.instruction_chars and p.text[p.instruction_chars.start : p.instruction_chars.end] == FRENCH
    assert p.instruction_tokens is not None
    assert _decode(engine, p, p.content_tokens).strip() == CONTENT
    assert _decode(engine, p, p.instruction_tokens).strip() == FRENCH
    if placement == "post":
        assert p.content_tokens.end <= p.instruction_tokens.start
    else:
        assert p.instruction_tokens.end <= p.content_tokens.start
    assert ("You are a helpful AI assistant" in p.text) == system_prompt


def test_negatives_never_hold_the_instruction_and_pairs_differ_only_by_it(engine) -> None:
    contents = [(c.id, c.text) for c in load_contents("discovery")[:3]]
    for instruction in load_catalogue():
        for placement in ("post", "pre"):
            for pair in build_pairs(engine.chat, contents, instruction.variants(), placement, cross=True):
                neg, pos = pair.negative, pair.positive
                assert neg.instruction_tokens is None and neg.placement == "none"
                assert not any(v in neg.text for v in instruction.variants())
                assert pair.instruction in pos.text
                # Cut the instruction and its separator out of the positive: what is left is the negative.
                assert pos.instruction_chars is not None
                a, b = pos.instruction_chars.start, pos.instruction_chars.end
                if placement == "post":  # <content>\n\n<instruction>
                    cut = pos.text[: a - len(SEPARATOR)] + pos.text[b:]
                else:  # <instruction>\n\n<content>
                    cut = pos.text[:a] + pos.text[b + len(SEPARATOR) :]
                assert cut == neg.text


def test_build_pairs_rotates_wordings_or_crosses(engine) -> None:
    contents = [(c.id, c.text) for c in load_contents("discovery")[:5]]
    variants = ["Say it in French.", "Use French.", "En français."]
    rotated = build_pairs(engine.chat, contents, variants)
    assert [p.instruction for p in rotated] == [variants[i % 3] for i in range(5)]
    assert [p.content_id for p in rotated] == [c[0] for c in contents]
    crossed = build_pairs(engine.chat, contents, variants, "pre", cross=True)
    assert len(crossed) == 15 and {p.instruction for p in crossed} == set(variants)
    with pytest.raises(ValueError, match="post or pre"):
        build_pairs(engine.chat, contents, variants, "none")
    with pytest.raises(ValueError, match="no instruction"):
        build_pairs(engine.chat, contents, [])


def test_tabs_newlines_and_any_printable_script_are_kept() -> None:
    for content in ("a\tb\nc", "مرحبا بالعالم", "猫がいる 🐈", "e\u0301 combining"):
        assert user_message(content, FRENCH, "post")[0].startswith(content)
