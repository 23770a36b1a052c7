"""Tests for saif_ui.cli.discover: the `discover` and `latent` commands on the real engine with random SAEs."""

from __future__ import annotations

import json

import pytest

import saif_ui.cli.discover as discover_cli
from saif_ui.cli import build_parser, main
from saif_ui.cli.fields import dataclass_values
from saif_ui.saif.discovery.config import DiscoveryConfig


@pytest.fixture
def cli_engine(engine, monkeypatch):
    """The session engine handed to the commands instead of one built from their arguments."""
    monkeypatch.setattr(discover_cli, "engine_from_args", lambda args, warmup=True: engine)
    return engine


def test_discover_flags_come_from_the_config(capsys) -> None:
    args = build_parser().parse_args(["discover", "--instruction", "french"])
    assert DiscoveryConfig(**dataclass_values(DiscoveryConfig, args, discover_cli.FLAGS)) == DiscoveryConfig()
    assert args.placement is None  # so --placement-study can refuse one given with it
    args = build_parser().parse_args(["discover", "--instruction", "french", "--n-contents", "0", "--score", "mean"])
    assert dataclass_values(DiscoveryConfig, args, ["n_contents", "score"]) == {"n_contents": None, "score": "mean"}
    with pytest.raises(SystemExit):
        main(["discover", "--help"])
    assert "Token positions to score. (default: last)" in " ".join(capsys.readouterr().out.split())


def test_cli_discover_json_and_table(cli_engine, rand_saes, capsys) -> None:
    args = ["discover", "--instruction", "french", "--layer", "24", "--top-k", "5", "--n-contents", "4"]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["instruction"] == "french" and data["layer"] == 24 and len(data["latents"]) <= 5
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "french @ rand24 (layer 24)" in text and str(data["latents"][0]["id"]) in text
    assert main(["discover", "--instruction-text", "Answer like a pirate.", "--n-contents", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["instruction"].startswith("custom_")


def test_cli_errors_are_clear(cli_engine, rand_saes, capsys) -> None:
    assert main(["discover", "--instruction", "klingon"]) == 2
    assert "valid ids: french" in capsys.readouterr().err
    assert main(["discover", "--instruction", "french", "--layer", "3"]) == 2
    assert "no attached SAE reads layer 3" in capsys.readouterr().err


def test_cli_latent_card(cli_engine, rand_saes, capsys) -> None:
    assert main(["latent", "--layer", "8", "--id", "7", "--neighbours", "3", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["id"] == 7 and card["layer"] == 8 and card["neighbours"][0] == {"id": 7, "cosine": 1.0}
    assert len(card["logit_lens"]["promoted"]) == 10 and card["instruction_words"]
    assert main(["latent", "--layer", "8", "--id", "7"]) == 0
    assert "latent 7 of rand8 (layer 8)" in capsys.readouterr().out
    assert main(["latent", "--layer", "8", "--id", "999"]) == 2


def test_cli_latent_card_shows_contexts(cli_engine, rand_sae, capsys) -> None:
    args = ["latent", "--layer", "2", "--id", "4", "--neighbours", "3", "--cards-conversations", "2"]
    assert main([*args, "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    act = card["activations"]
    assert act["source"] == "computed" and act["n_conversations"] == 2 and 0 < act["density"] <= 1
    assert sum(act["histogram"]["counts"]) == act["fired"] and act["contexts"]
    ctx = act["contexts"][0]  # the maximum, up to the float noise within which contexts tie (see scoring.tie_key)
    assert ctx["value"] == pytest.approx(act["max"], rel=1e-5)
    assert ctx["acts"][ctx["highlight"]] == pytest.approx(ctx["value"], rel=1e-3)  # stored as fp16
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "top contexts:" in text and "[[" in text and "cache cards" in text and "histogram" in text
    assert main(["latent", "--layer", "2", "--id", "4", "--no-cards", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["activations"] is None
    assert main(["latent", "--layer", "2", "--id", "99", "--cards-conversations", "2"]) == 2
    assert "out of range" in capsys.readouterr().err
