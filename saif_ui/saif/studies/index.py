"""Every study that ships results under docs/studies/, by its folder name, with the function that computes the key a
current result must carry (what the staleness test and the findings check against)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from saif_ui.engine import Engine
from saif_ui.saif.studies import (
    ablation_study,
    fast_vs_bt,
    joint_study,
    layers_study,
    placement_study,
    proximity_study,
    selection_study,
    special_study,
    steering_study,
)

KeyFor = Callable[[Engine, str], dict[str, Any]]

KEY_FOR: dict[str, KeyFor] = {
    steering_study.STUDY: steering_study.key_for,
    proximity_study.STUDY: proximity_study.key_for,
    special_study.STUDY: special_study.key_for,
    placement_study.STUDY: placement_study.key_for,
    ablation_study.STUDY: ablation_study.key_for,
    layers_study.STUDY: layers_study.key_for,
    fast_vs_bt.STUDY: fast_vs_bt.key_for,
    selection_study.STUDY: selection_study.key_for,
    joint_study.STUDY: joint_study.key_for,
}

RERUN = {
    steering_study.STUDY: "steering-study",
    proximity_study.STUDY: "proximity-study",
    special_study.STUDY: "special-study",
    placement_study.STUDY: "placement-study",
    ablation_study.STUDY: "ablation-study",
    layers_study.STUDY: "layers-study",
    fast_vs_bt.STUDY: "fast-vs-bt-study",
    selection_study.STUDY: "selection-study",
    joint_study.STUDY: "joint-study",
}
"""The command that reruns each study."""
