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
    """A tab whose every component is stood in for by its own attribute name (no gradio Blocks needed)."""
    return cls(**{f.name: f.name for f in fields(cls)})


def test_each_recorded_control_has_its_component_and_decoding_knobs_are_decodings_fields() -> None:
    steer = _named(SteeringTab)
    comps = control_components(_named(InstructionsTab), steer, "sae")  # type: ignore[arg-type]
    assert tuple(comps) == CONTROL_KEYS
    decoding = tuple(f.name for f in fields(Decoding))
    # A knob added to Decoding is recorded and shared by the component of the same name, with no edit here.
    assert steer.decoding_inputs == list(decoding)  # type: ignore[attr-defined]
    assert {k: comps[k] for k in decoding} == {k: k for k in decoding}
    assert decoding == DECODING_KEYS
