"""Bad command-line arguments, as a table: each is refused with exit status 2 and a message on stderr that names
what is wrong (argparse's own for unknown flags and choices, the library's for values)."""

from __future__ import annotations

import pytest

import saif_ui.cli.discover as discover_cli
import saif_ui.cli.engine as engine_cli
import saif_ui.cli.evaluate as evaluate_cli
import saif_ui.cli.steer as steer_cli
from saif_ui.cli import main


@pytest.fixture
def cli_engine(engine, monkeypatch):
    for module in (discover_cli, engine_cli, evaluate_cli, steer_cli):
        monkeypatch.setattr(module, "engine_from_args", lambda args, warmup=True: engine)
    return engine


STEER = ["steer", "--instruction", "french", "--content", "The cat sat on the mat.", "--no-recipe"]
UNIT = [*STEER, "--scale", "unit", "--latents", "5", "--max-new-tokens", "4"]

CASES = [
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["recipe-curve", "no/such/sae"], r"no/such/sae has no manifest\.json"),
    (["recipe-curve", "assets/saes/L15_fast_topk64", "--harvest-layers", "8,x"], "comma-separated layer numbers"),
    (["recipe-curve", "assets/saes/L15_fast_topk64", "assets/saes/L24_fast_topk64", "--work", "w"], "give one SAE"),
    (["recipe-curve", "--table", "no/such/sae"], "no recipe curve recorded for sae: run recipe-curve"),
    (["discover", "--instruction", "french", "--colour", "red"], "unrecognized arguments: --colour red"),
    (["discover", "--instruction", "klingon"], "valid ids: french"),
    (["discover", "--instruction", "french", "--layer", "99"], "no attached SAE reads layer 99"),
    (["discover", "--instruction", "french", "--layer", "x"], "invalid int value: 'x'"),
    (["discover", "--instruction", "french", "--placement", "middle"], "invalid choice: 'middle'"),
    (["discover", "--instruction", "french", "--n-contents", "-3"], "n_contents"),
    (["discover", "--instruction", "french", "--top-k", "-1"], "top_k"),
    (["discover", "--instruction-text", "  "], "empty"),
    ([*STEER[:4], "", "--latents", "5", "--scale", "unit"], "the content is empty"),
    ([*STEER[:4], "Hi\x00there", "--latents", "5", "--scale", "unit"], "control character U\\+0000"),
    ([*STEER[:4], "x" * 40_000, "--latents", "5", "--scale", "unit"], "40,000 characters; at most 32,768"),
    ([*UNIT, "--alpha", "1e30"], "within ±1000"),
    ([*UNIT, "--alpha", "nan"], "alpha must be a finite number"),
    ([*UNIT, "--alpha", "big"], "invalid float value: 'big'"),
    ([*STEER, "--scale", "unit", "--latents", "x,y"], "expected comma-separated integers, got 'x,y'"),
    ([*STEER, "--scale", "unit", "--latents", "5,5"], "listed twice"),
    ([*STEER, "--scale", "unit", "--latents", "99999"], "out of range"),
    ([*UNIT, "--strengths", "1,2"], "strengths"),
    ([*UNIT, "--strengths", "1e9"], "within ±100"),
    ([*UNIT, "--max-new-tokens", "0"], "max_new_tokens must be in 1..1024"),
    ([*UNIT, "--max-new-tokens", "100000"], "max_new_tokens must be in 1..1024"),
    ([*UNIT, "--sample", "--temperature", "-1"], "temperature must be > 0"),
    ([*UNIT, "--positions", "middle"], "invalid choice: 'middle'"),
    (["steer", "--instruction", "french"], "the following arguments are required: --content"),
    ([*STEER, "--instruction", "french"], "each --instruction once"),
    ([*STEER, "--instruction", "klingon"], "valid ids: french"),
    ([*UNIT, "--instruction", "question"], "--latents choose one instruction's steering"),
    ([*STEER, "--weights", "1,2"], "--weights give one weight per instruction of a joint steer"),
    ([*STEER, "--instruction", "question", "--alpha", "2"], "a joint steer takes --weights"),
    ([*STEER, "--instruction", "question", "--weights", "1"], "one weight per instruction"),
    (["evaluate", "--instruction", "french", "--instruction", "question", "--alphas", "1"], "--alphas apply to one"),
    (["evaluate", "--instruction", "french", "--instruction", "question", "--weights", "1", "--weight-grid", "1"],
     "not both"),
    (["evaluate", "--instruction", "french", "--instruction", "question", "--weight-grid", "0,1,2,3,4,5"],
     "at most 25 cells"),
    (["generate", "--prompt", "w " * 20_000], "far beyond the limit"),
    (["latent", "--layer", "24", "--id", "999999"], "out of range"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_arguments_exit_2_with_a_message(cli_engine, rand_saes, capsys, argv, message) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses unknown flags and choices itself
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert pytest.importorskip("re").search(message, err), err
    assert "Traceback" not in err


def test_a_bad_spec_file(cli_engine, rand_saes, tmp_path, capsys) -> None:
    for text, message in (
        ("{", "the steering spec is not valid JSON"),
        ("[" * 100 + "]" * 100, "nests 33 levels deep"),
        ('{"alpha": "x"}', "'alpha' of the spec must be a number"),
    ):
        path = tmp_path / "spec.json"
        path.write_text(text)
        assert main([*STEER, "--spec", str(path)]) == 2
        assert message in capsys.readouterr().err
    assert main([*STEER, "--spec", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
