"""A visitor's session: views of its discovery, and a JSON round trip that names a malformed result."""

from __future__ import annotations

import json

import pytest

from saif_ui.saif.discovery.discover import DiscoveryResult
from saif_ui.service.session import Session

ROW = {"score": 3.0, "freq_pos": 1.0, "freq_neg": 0.1, "mean_pos": 5.0, "mean_neg": 0.5, "t": 3.0}
DISCOVERY = {
    "instruction": "french",
    "sae": "L24",
    "layer": 24,
    "placement": "post",
    "positions": "last",
    "score": "t",
    "top_k": 20,
    "n_pairs": 48,
    "cache_key": "k",
    "latents": [
        {"id": 7, "flags": [], "logit_tokens": [" le", " la"], **ROW},
        {"id": 3, "flags": [], "logit_tokens": [" de"], **ROW},
    ],
    "flagged": [{"id": 9, "flags": ["special"], "logit_tokens": ["<|im_end|>"], **ROW, "mean_pos": 80.0}],
}
RESULT = DiscoveryResult.from_dict(DISCOVERY)


def test_session_views_and_choices() -> None:
    s = Session(discovery=RESULT)
    assert s.ranked_ids() == [7, 3] and s.flagged_ids("special") == [9] and s.flagged_ids("dense") == []
    assert RESULT.row(9).mean_pos == 80.0 and RESULT.row(100) is None
    assert RESULT.mean_act(9) == 80.0 and RESULT.mean_act(100) is None  # no statistics: rows only
    assert [v for _, v in s.latent_choices()] == ["7", "3", "9"]
    assert "[special]" in s.latent_choices()[2][0] and s.lens_labels()[7] == "le la"
    assert Session.from_dict({**s.to_dict(), "unknown": 1}).discovery == RESULT
    assert json.loads(json.dumps(s.to_dict()))["discovery"]["latents"][0]["id"] == 7


def test_a_malformed_discovery_in_a_session_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a discovery result: missing or malformed field 'n_pairs'"):
        Session.from_dict({"discovery": {k: v for k, v in DISCOVERY.items() if k != "n_pairs"}})
