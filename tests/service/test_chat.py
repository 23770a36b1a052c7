"""The backend's chat part: turns through the result cache, a stopped turn never cached, the steering taken from the
tab's latents or the recipe, a conversation that no longer matches the controls refused, and the session keeping it."""

from __future__ import annotations

import threading

import pytest

from saif_ui.engine.decoding import Decoding
from saif_ui.engine.errors import SaifError
from saif_ui.resources import assets_dir
from saif_ui.service import CHAT_COLUMNS, Partial, Session
from saif_ui.service.controls import PromptChoice, SteerControls

SHORT = Decoding(max_new_tokens=6)
CHOICE = PromptChoice("french", content="ignored by a chat")


def test_turns_grow_the_conversation_and_a_repeat_comes_from_the_cache(backend, rand_sae) -> None:
    controls = SteerControls.parse(["3", "5"], [1.0, 0.5], 8.0, scale="unit")
    spec = backend.chat.spec("latents", CHOICE, rand_sae, controls, None)
    assert [(e.latent, e.strength) for e in spec.latents] == [(3, 1.0), (5, 0.5)] and spec.alpha == 8.0
    first = backend.chat.reply(CHOICE, None, "Bees make honey.", spec, SHORT)
    assert not first.cached and [t.user for t in first.conversation.turns] == ["Bees make honey."]
    second = backend.chat.reply(CHOICE, first.conversation, "Cats purr.", spec, SHORT)
    assert [t.user for t in second.conversation.turns] == ["Bees make honey.", "Cats purr."]
    assert second.conversation.turns[0] == first.turn  # earlier turns are kept as they were
    again = backend.chat.reply(CHOICE, first.conversation, "Cats purr.", spec, SHORT)
    assert again.cached and again.conversation == second.conversation
    # The passage in the Instructions tab plays no part in a chat's key.
    other = PromptChoice("french", content="another passage")
    assert backend.chat.reply(other, first.conversation, "Cats purr.", spec, SHORT).cached


def test_a_stopped_turn_is_kept_as_written_and_never_cached(backend, rand_sae) -> None:
    spec = backend.chat.spec("latents", CHOICE, rand_sae, SteerControls.parse(["3"], [1.0], 4.0, scale="unit"), None)
    stop = threading.Event()
    stop.set()  # pressed before the first token
    stopped = backend.chat.reply(CHOICE, None, "The sea is salty.", spec, Decoding(max_new_tokens=12), stop)
    assert stopped.stopped and not stopped.cached
    assert all(not a.finished for a in stopped.turn.answers.values())
    full = backend.chat.reply(CHOICE, None, "The sea is salty.", spec, Decoding(max_new_tokens=12))
    assert not full.cached and not full.stopped  # recomputed: the stopped turn was not stored
    for column, answer in stopped.turn.answers.items():
        assert full.turn.answers[column].text.startswith(answer.text)


def test_a_streamed_turn_grows_in_every_column_and_a_stop_keeps_it_uncached(backend, rand_sae, held) -> None:
    spec = backend.chat.spec("latents", CHOICE, rand_sae, SteerControls.parse(["3"], [1.0], 4.0, scale="unit"), None)
    first = None
    partials = []
    for update in backend.chat.reply_stream(CHOICE, None, "Owls fly at night.", spec, SHORT):
        if isinstance(update, Partial):
            partials.append(update)
            held.set()
        else:
            first = update
    assert first is not None and not first.cached and not first.stopped
    assert partials and all(set(p.texts) == set(CHAT_COLUMNS) for p in partials)
    for column in CHAT_COLUMNS:  # each column only grows, up to its whole answer
        lengths = [len(p.texts[column]) for p in partials]
        assert lengths == sorted(lengths) and lengths[-1] <= len(first.turn.answers[column].text)
    [again] = backend.chat.reply_stream(CHOICE, None, "Owls fly at night.", spec, SHORT)  # a repeat: at once
    assert again.cached and again.conversation == first.conversation
    stop = threading.Event()
    stop.set()  # pressed before the first token
    *_, stopped = backend.chat.reply_stream(CHOICE, first.conversation, "And bats?", spec, SHORT, stop)
    assert stopped.stopped and not stopped.cached and not any(a.finished for a in stopped.turn.answers.values())
    assert not backend.chat.reply(CHOICE, first.conversation, "And bats?", spec, SHORT).cached  # never stored


def test_the_recipe_steers_the_chat_only_with_its_sae_attached(backend, engine) -> None:
    view = backend.steering.recipe_view("one_sentence")
    assert view.recipe is not None
    one = PromptChoice("one_sentence")
    with pytest.raises(SaifError, match="not attached"):
        backend.chat.spec("recipe", one, None, SteerControls.parse([], [], 1.0), None)
    sae = view.recipe.steering.latents[0].sae
    engine.add_sae(str(assets_dir() / "saes" / sae))
    try:
        spec = backend.chat.spec("recipe", one, None, SteerControls.parse([], [], 1.0), None)
        assert spec == view.recipe.steering  # the adopted method's spec, as steer_recipe applies it
    finally:
        engine.remove_sae(sae)
    with pytest.raises(SaifError, match="no validated recipe"):
        backend.chat.spec("recipe", PromptChoice("uppercase"), None, SteerControls.parse([], [], 1.0), None)
    with pytest.raises(SaifError, match="one of latents, recipe"):
        backend.chat.spec("vibes", one, None, SteerControls.parse([], [], 1.0), None)
    with pytest.raises(SaifError, match="pick an attached SAE"):
        backend.chat.spec("latents", one, "nope", SteerControls.parse(["1"], [1.0], 1.0), None)


def test_a_conversation_for_other_controls_is_refused_and_the_session_keeps_it(backend, rand_sae) -> None:
    spec = backend.chat.spec("latents", CHOICE, rand_sae, SteerControls.parse(["3"], [1.0], 4.0, scale="unit"), None)
    first = backend.chat.reply(CHOICE, None, "Rain falls.", spec, SHORT)
    with pytest.raises(SaifError, match="press Reset"):
        backend.chat.reply(PromptChoice("spanish"), first.conversation, "Hello.", spec, SHORT)
    with pytest.raises(SaifError, match="press Reset"):
        backend.chat.reply(PromptChoice("french", placement="pre"), first.conversation, "Hello.", spec, SHORT)
    session = Session(conversation=first.conversation)
    assert Session.from_dict(session.to_dict()).conversation == first.conversation
