"""The share bar's controls (`ui.share`): every control an exploration records has its component, the decoding ones
read from `Decoding`'s fields."""

from __future__ import annotations

from dataclasses import fields

from saif_ui.service import Decoding
from saif_ui.ui.export import CONTROL_KEYS, DECODING_KEYS
from saif_ui.ui.instructions import InstructionsTab
from saif_ui.ui.share import control_components
from saif_ui.ui.steering.tab import SteeringTab


def _named(cls: type) -> object:
    """A tab whose every component is stood in for by its own attribute name (no gradio Blocks needed); its
    decoding knobs (`sampling`, by `Decoding` field) by their field names."""
    knobs = {f.name: f.name for f in fields(Decoding)[1:]}
    return cls(**{f.name: knobs if f.name == "sampling" else f.name for f in fields(cls)})


def test_each_recorded_control_has_its_component_and_decoding_knobs_are_decodings_fields() -> None:
    steer = _named(SteeringTab)
    comps = control_components(_named(InstructionsTab), steer, "sae")  # type: ignore[arg-type]
    assert tuple(comps) == CONTROL_KEYS
    decoding = tuple(f.name for f in fields(Decoding))
    # A knob added to Decoding is recorded and shared by the component of the same name, with no edit here.
    assert steer.decoding_inputs == ["max_new_tokens", *decoding[1:]]  # type: ignore[attr-defined]
    assert {k: comps[k] for k in decoding} == {k: k for k in decoding}
    assert decoding == DECODING_KEYS


def test_a_links_chat_is_answered_again_and_kept_in_the_session(engine) -> None:
    """The chat a link carries is replayed with what steered it (here the recipe of one_sentence, its SAE shipped):
    the source radio and each column's messages come back, and the visitor's session holds the conversation."""
    from saif_ui.resources import assets_dir
    from saif_ui.service import Backend, Session
    from saif_ui.ui.export import parse_query
    from saif_ui.ui.share import _replayed_chat

    backend = Backend(engine)
    recipe = backend.steering.recipe_view("one_sentence").recipe
    assert recipe is not None
    sae = recipe.steering.latents[0].sae
    engine.add_sae(str(assets_dir() / "saes" / sae))
    try:
        link = parse_query(
            {"instruction": "one_sentence", "chat": '["Bees make honey.", "Cats purr."]'}, ["one_sentence"], {}
        )
        state = Session()
        out = _replayed_chat(backend, link, state, None)
    finally:
        engine.remove_sae(sae)
    assert out[0] == "recipe" and len(out) == 7
    assert state.conversation is not None and [t.user for t in state.conversation.turns] == [
        "Bees make honey.",
        "Cats purr.",
    ]
    default, verdict = out[1], out[2]
    assert [m["content"] for m in default[::2]] == ["Bees make honey.", "Cats purr."] and "of 2 turns" in verdict
    nothing = _replayed_chat(
        backend, parse_query({"instruction": "one_sentence"}, ["one_sentence"], {}), Session(), None
    )
    assert len(nothing) == 7 and all(u == {"__type__": "update"} for u in nothing)
