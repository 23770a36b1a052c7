"""The typed controls: ids, α values and strengths parsed once from the components' raw values, with a message
naming what is wrong."""

from __future__ import annotations

import pytest

from saif_ui.service.controls import (
    MAX_LATENTS,
    ControlError,
    SteerControls,
    TrainControls,
    parse_alphas,
    parse_latent_ids,
    parse_strengths,
)


def test_parse_latent_ids() -> None:
    assert parse_latent_ids("436, #3798") == [436, 3798]
    with pytest.raises(ValueError, match="latent 436 is listed twice"):
        parse_latent_ids("436, #3798 436")
    for bad in ("1.5", "١٢", "9" * 12, [True]):
        with pytest.raises(ValueError, match="is not one"):
            parse_latent_ids(bad)
    with pytest.raises(ValueError, match="at most 64 latents"):
        parse_latent_ids(list(range(10_000)))
    assert parse_latent_ids(["1", 2]) == [1, 2] and parse_latent_ids(None) == []
    with pytest.raises(ValueError, match="'x1'"):
        parse_latent_ids("x1")
    with pytest.raises(ValueError, match="'-3' is not one"):
        parse_latent_ids("-3")


def test_parse_alphas_and_steer_controls() -> None:
    assert parse_alphas("4, 0 1,1") == [0.0, 1.0, 4.0]
    for bad, message in (("", "at least one"), ("a", "must be numbers"), ("inf", "finite")):
        with pytest.raises(ValueError, match=message):
            parse_alphas(bad)
    c = SteerControls.parse(["7", "3"], [0.5, None], 2.0, "all", "unit", None, None)
    assert c.strength_of() == {7: 0.5, 3: 1.0} and c.alpha == 2.0 and c.decay == 0.0 and c.decay_power == 1.0
    assert SteerControls.parse("7 3", None, 1).strengths == (1.0, 1.0)  # no strengths: 1 each
    twelve = SteerControls.parse([str(i) for i in range(12)], [0.5] * 12, 1.0)
    assert len(twelve.latents) == 12 and twelve.strength_of()[11] == 0.5  # no cap at the number of sliders
    with pytest.raises(ValueError, match=f"at most {MAX_LATENTS} latents"):
        SteerControls.parse(list(range(MAX_LATENTS + 1)), None, 1.0)
    with pytest.raises(ValueError, match="α must be a number"):
        SteerControls.parse(["7"], None, None)


@pytest.mark.parametrize(
    ("values", "message"),
    [([1, 2, 3], "3 strengths for 2 latents"), ("1,2", "a list of numbers"), ({"7": 1}, "a list"), (["x"], "numbers")],
)
def test_parse_strengths_refuses_what_is_not_one_number_per_latent(values, message) -> None:
    with pytest.raises(ValueError, match=message):
        parse_strengths(values, 2)


def test_the_train_form_takes_whole_numbers_and_a_positive_sparsity() -> None:
    form = TrainControls.parse(8.0, "fast", "topk", 1024.0, "32", 300_000, 0)
    assert form == TrainControls(8, "fast", "topk", 1024, 32.0, 300_000, 0)
    with pytest.raises(ControlError, match="the layer must be a whole number"):
        TrainControls.parse(8.5, "fast", "topk", 1024, 32, 300_000, 0)
    with pytest.raises(ControlError, match="must be a positive number"):
        TrainControls.parse(8, "fast", "topk", 1024, 0, 300_000, 0)
