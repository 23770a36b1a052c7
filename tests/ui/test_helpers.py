"""Pure helpers of the dashboard (no model, no server): tables, figures, exports, links, state, parsing."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saif_ui.saif.steering.compare import Comparison, Output
from saif_ui.saif.steering.evaluate import Evaluation, Summary
from saif_ui.saif.steering.special import SpecialGrid
from saif_ui.service import ControlError, Session
from saif_ui.ui import figures
from saif_ui.ui.export import (
    TOP_KEYS,
    exploration,
    parse_exploration,
    parse_query,
    share_query,
    to_json,
    write_csvs,
)
from saif_ui.ui.findings import findings_markdown
from saif_ui.ui.saes import markdown_section, rerun_title
from saif_ui.ui.steering.tab import STRENGTH_SLIDERS, collect_strengths, strength_updates
from saif_ui.ui.tables import grid_table, latent_table, quality_table, sweep_plot, sweep_table
from tests.service.test_session import RESULT

SPEC = {"latents": [{"sae": "L24", "layer": 24, "latent": 7, "strength": 0.5, "mean_act": 5.0}], "alpha": 2.0}


def output(text: str, strict: bool | None = True, **kw) -> dict:
    return {"text": text, "strict": strict, "loose": strict, "perplexity": 9.0, "repetition": 0.1, "finished": True,
            **kw}  # fmt: skip


COMPARISON = Comparison.from_dict(
    {
        "instruction": "french",
        "content": "Hi.",
        "placement": "post",
        "wording": "Translate the text into French.",
        "spec": SPEC,
        "prompts": {"original": "p0", "steered": "p0"},
        "original": output("Hi.", False),
        "steered": output("Bonjour"),
    }
)


def heat(values: list[list[float]], latents: list[int], span: tuple[int, int] | None) -> dict:
    n = len(values)
    return {
        "tokens": [f"t{i}" for i in range(n)],
        "special": [i == 0 for i in range(n)],
        "latents": latents,
        "values": values,
        "instruction_tokens": span,
    }


def test_latent_table_ranks_rows_and_keeps_flagged_apart() -> None:
    table = latent_table(RESULT)
    assert [r[:2] for r in table.rows] == [[1, 7], [2, 3]]
    assert latent_table(RESULT, flagged=True).rows[0][1] == 9
    assert latent_table(None).rows == []
    assert table.csv().splitlines()[0].startswith("rank,latent,label (top contexts),score")


def test_strengths_come_from_the_sliders_then_the_table() -> None:
    ids = list(range(100, 112))  # 12 latents: 8 sliders and 4 table rows
    sliders = [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -2.0]
    table = [[108, 0.25], [111, 3.0]]  # rows may be missing (then 1) or in any order
    got = collect_strengths([str(i) for i in ids], *sliders, table)
    assert got == [*sliders, 0.25, 1.0, 1.0, 3.0]
    assert collect_strengths(["5", "6"], 0.5, 2.0, *[1.0] * (STRENGTH_SLIDERS - 2), None) == [0.5, 2.0]
    with pytest.raises(ValueError, match="latent id and a number"):
        collect_strengths([str(i) for i in ids], *sliders, [["x", 1]])
    values, shown, *slider_updates, more = strength_updates(ids, {100: 0.5, 111: 3.0}, {100: "le"})
    assert values == [0.5, *[1.0] * 10, 3.0] and shown == ids
    assert slider_updates[0]["label"] == "#100 le" and slider_updates[0]["value"] == 0.5
    assert all(u["visible"] for u in slider_updates) and more["visible"] is True
    assert more["value"].values.tolist() == [[108, 1.0], [109, 1.0], [110, 1.0], [111, 3.0]]
    few = strength_updates([1, 2], {}, {})
    assert [u["visible"] for u in few[2:-1]] == [True, True] + [False] * (STRENGTH_SLIDERS - 2)
    assert few[-1]["visible"] is False


def test_share_query_round_trips_through_parse_query() -> None:
    q = share_query("french", "", 24, [436, 3798], 2.0, {436: 1.0, 3798: 0.5}, "pre")
    assert q == "instruction=french&layer=24&latents=436,3798&strengths=1,0.5&alpha=2&placement=pre"
    params = dict(p.split("=", 1) for p in q.split("&"))
    link = parse_query(params, ["french", "json"], {24: "L24"})
    assert (link.instruction, link.layer, link.sae, link.latents, link.alpha) == ("french", 24, "L24", [436, 3798], 2.0)
    assert link.strengths == {436: 1.0, 3798: 0.5} and link.placement == "pre" and not link.errors


def test_share_query_of_a_custom_instruction() -> None:
    q = share_query("custom", "Talk like a pirate.\nBe a pirate.", None, [], None)
    link = parse_query({"text": "Talk like a pirate.|Be a pirate."}, ["french"], {})
    assert q.startswith("text=Talk+like+a+pirate.|Be") and link.instruction == "custom"
    assert link.custom_text == "Talk like a pirate.\nBe a pirate."


def test_parse_query_refuses_bad_values_with_reasons() -> None:
    link = parse_query(
        {"instruction": "klingon", "layer": "99", "latents": "1,x", "alpha": "big"}, ["french"], {24: "L"}
    )
    assert len(link.errors) == 4 and link.instruction is None and link.layer is None
    assert "valid: french" in link.errors[0] and "layers with an SAE: 24" in link.errors[1]
    assert parse_query({}, ["french"], {}).empty


LINK_KEYS = ["instruction", "text", "sae", "layer", "latents", "strengths", "alpha", "placement"]
EXPLORATION_KEYS = sorted(TOP_KEYS - {"format", "version"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"instruction": "klingon"}, "unknown instruction 'klingon'"),
        ({"sae": "nope"}, "no SAE named 'nope'"),
        ({"layer": "-1x"}, "no attached SAE reads layer"),
        ({"layer": "99"}, "no attached SAE reads layer '99'"),
        ({"latents": "5,5"}, "listed twice"),
        ({"latents": "-2"}, "'-2' is not one"),
        ({"latents": ",".join(map(str, range(500)))}, "at most 64 latents"),
        ({"latents": "5", "strengths": "abc"}, "strengths must be numbers"),
        ({"latents": "5", "strengths": "1e9"}, "within ±100"),
        ({"latents": "5", "strengths": "nan"}, "within ±100"),
        ({"alpha": "1e30"}, "within ±1000"),
        ({"alpha": "inf"}, "within ±1000"),
        ({"alpha": "two"}, "alpha must be a number"),
        ({"placement": "middle"}, "placement must be post or pre"),
    ],
)
def test_each_bad_link_parameter_has_its_reason(params, message) -> None:
    link = parse_query(params, ["french"], {24: "L24"}, ["L24"])
    assert any(message in e for e in link.errors), link.errors


@given(st.dictionaries(st.sampled_from(LINK_KEYS) | st.text(max_size=6), st.text(max_size=40), max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_query_string_parses_without_raising(params) -> None:
    """Property: a share link, however mangled, is parsed into values and reasons, never an exception."""
    link = parse_query(params, ["french"], {24: "L24"}, ["L24"])
    assert all(isinstance(e, str) and e for e in link.errors)
    assert link.alpha is None or abs(link.alpha) <= 1000


EXPLORATION_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(EXPLORATION_KEYS), EXPLORATION_VALUES, max_size=8))
@settings(max_examples=300, deadline=None)
def test_any_exploration_json_is_read_or_refused_clearly(fields) -> None:
    """Property: an exploration file with any values in its fields is imported or refused with a ControlError."""
    text = json.dumps({"format": "saif_ui.exploration", "version": 1, **fields})
    with contextlib.suppress(ControlError):
        parse_exploration(text)


def test_exploration_round_trip(tmp_path) -> None:
    session = Session(discovery=RESULT, comparison=COMPARISON)
    controls = {"instruction": "french", "content": "Hi.", "sae": "L24", "latents": ["7", "3"], "alpha": 2.0,
                "strengths": {7: 0.5, 3: 1.0}, "max_new_tokens": 32}  # fmt: skip
    record = exploration(controls, session, "embedded:x", 24)
    assert record["latents"] == [7, 3] and record["strengths"] == {"7": 0.5, "3": 1.0} and record["spec"]["alpha"] == 2
    back = parse_exploration(to_json(record))
    assert back.controls["latents"] == [7, 3] and back.controls["strengths"] == {7: 0.5, 3: 1.0}
    assert back.controls["max_new_tokens"] == 32 and back.session.discovery == RESULT and back.model == "embedded:x"
    assert back.session.comparison == COMPARISON and back.session.comparison.outputs["steered"].text == "Bonjour"
    paths = write_csvs(back.session, tmp_path)
    assert sorted(p.name for p in paths) == ["comparison.csv", "flagged_latents.csv", "latents.csv"]


EXPLORATION = '{"format": "saif_ui.exploration", "version": 1, '


def test_unknown_exploration_fields_are_reported_not_fatal() -> None:
    back = parse_exploration(EXPLORATION + '"colour": "red", "alpha": 2}')
    assert back.warnings == ["ignored unknown fields: colour"] and back.controls["alpha"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "the exploration is not valid JSON"),
        ("[]", "not a saif_ui exploration"),
        ('{"format": "saif_ui.exploration"}', "version"),
        ("[" * 1000 + "]" * 1000, "nests 33 levels deep"),
        (" " * (5 * 2**20), "the limit is 4 MB"),
        (EXPLORATION + '"steering": [1]}', "'steering' must be an object"),
        (EXPLORATION + '"decoding": "fast"}', "'decoding' must be an object"),
        (EXPLORATION + '"alpha": "big"}', "'alpha' must be a number"),
        (EXPLORATION + '"system_prompt": 1}', "'system_prompt' must be true or false"),
        (EXPLORATION + '"decoding": {"seed": 1.5}}', "'seed' must be a whole number"),
        (EXPLORATION + '"latents": "436"}', "'latents' must be a list"),
        (EXPLORATION + '"latents": [1, 1]}', "listed twice"),
        (EXPLORATION + '"latents": [-1]}', "'-1' is not one"),
        (EXPLORATION + f'"latents": {list(range(100_000))}}}', "100000 latents; at most 64"),
        (EXPLORATION + '"strengths": {"1": "x"}}', "'strengths' must map latent ids to numbers"),
        (EXPLORATION + '"outputs": [1]}', "'outputs' must be an object"),
        (EXPLORATION + '"outputs": {"discovery": {"x": 1}}}', "'outputs.discovery' is not a saif_ui discovery"),
        (EXPLORATION + '"outputs": {"extra": [1]}}', "'outputs.extra' must be an object"),
        (EXPLORATION + '"alpha": NaN}', "NaN"),
    ],
)
def test_parse_exploration_refuses_foreign_files(text: str, message: str) -> None:
    """Each malformed exploration is refused with the field that is wrong (never a TypeError or RecursionError)."""
    with pytest.raises(ValueError, match=message):
        parse_exploration(text)


def test_heatmap_puts_special_latents_on_their_own_colour_scale() -> None:
    pos = heat([[1.0, 90.0], [2.0, 80.0], [0.5, 85.0]], [7, 9], (1, 2))  # [tokens][latents]
    neg = heat([[0.0, 70.0], [0.2, 60.0]], [7, 9], None)
    fig = figures.token_heatmap(pos, neg, special_latents=[9])
    kinds = sorted({(t.type, t.coloraxis) for t in fig.data})
    assert kinds == [("heatmap", "coloraxis"), ("heatmap", "coloraxis2")] and len(fig.data) == 4
    assert fig.layout.coloraxis.cmax == 2.0 and fig.layout.coloraxis2.cmax == 90.0  # 45x apart, scales separate
    assert fig.layout.shapes[0].x0 == 0.5  # the instruction span is outlined on the positive panel
    assert list(fig.data[0].y) == ["#7", "#9 ★"]


def test_umap_sweep_histogram_and_empty_figures() -> None:
    coords = np.random.default_rng(0).normal(size=(50, 2))
    fig = figures.umap_scatter(coords, ranked=[1, 2], special=[3], selected=1, neighbours=[1, 4, 5])
    names = [t.name for t in fig.data]
    assert names == ["all latents", "instruction-relevant", "special-token", "neighbour links", "neighbours",
                     "selected #1"]  # fmt: skip
    assert len(fig.data[0].x) == 50 and list(fig.data[4].customdata) == [4, 5]

    def block(k: int, n: int) -> dict:  # k of n outputs follow the instruction
        return {"outputs": [output(f"t{i}", i < k) for i in range(n)]}

    ev = Evaluation.from_dict(
        {
            "instruction": "french",
            "checker": "french",
            "layer": 24,
            "spec": SPEC,
            "contents": ["a", "b", "c", "d"],
            "config": {"alphas": [0.0, 1.0], "decoding": {"max_new_tokens": 8}},
            "results": [{"alpha": 0.0, **block(0, 4)}, {"alpha": 1.0, **block(3, 4)}],
            "baselines": {"original": block(0, 4), "prompted": block(3, 4)},
        }
    )
    assert ev.summary(1.0).fluent_strict == 0.75 and ev.baseline("prompted").n == 4
    sweep = sweep_plot(ev)
    assert [t.name for t in sweep.data][:3] == ["steered fluent strict", "steered strict", "steered loose"]
    assert list(sweep.data[0].y) == [0.0, 0.75] and [s.y0 for s in sweep.layout.shapes] == [0.0, 0.75]
    assert sweep_table(ev).rows[-1][0] == "prompted" and len(sweep_table(ev).rows) == 4
    assert sweep_table(ev).rows[1][:3] == [1.0, 0.75, 0.75]
    # n, the 95% Wilson interval and McNemar's exact p against each baseline, on the same 4 contents
    assert sweep_table(ev).rows[1][6:8] == [4, "[30, 95]%"]
    assert ev.paired(1.0, "original").only_a == 3 and sweep_table(ev).rows[1][8:] == [0.25, 1.0]
    assert list(sweep.data[0].error_y.array)[1] == pytest.approx(ev.summary(1.0).ci(0.75)[1] - 0.75)
    assert Evaluation.from_dict(ev.to_dict()).to_dict() == ev.to_dict()
    assert sweep_plot(None).layout.annotations[0].text.startswith("Run a sweep")
    hist = figures.activation_histogram([0.1, 1.0, 10.0], [3, 4])
    assert list(hist.data[0].y) == [3, 4] and hist.layout.xaxis.type == "log"
    assert figures.empty_figure("hint").layout.annotations[0].text == "hint"


def test_grid_and_quality_tables() -> None:
    grid = SpecialGrid.from_dict(
        {
            "sae": "L24",
            "layer": 24,
            "latent": 9,
            "rows": [{"alpha": 0.0, "text": "a", "finished": True, "strict": False, "loose": True}],
        }
    )
    assert grid_table(grid).headers == ["α", "answer", "strict", "loose"] and grid_table(None).rows == []
    assert grid_table(grid).rows == [[0.0, "a", False, True]] and SpecialGrid.from_dict(grid.to_dict()) == grid
    q = quality_table({"A": {"log2_mse": 1.23456, "l0": 64.0}, "B": None})
    assert q.rows[0][:2] == ["A", 1.235] and q.rows[1][1] == "–"


def test_markdown_section_and_findings_image_links(tmp_path) -> None:
    doc = "# T\n## FAST vs BT\nbody *here*\n## Next\nrest"
    assert markdown_section(doc, "FAST vs BT") == "body *here*" and markdown_section(doc, "Missing") == ""
    (tmp_path / "FINDINGS.md").write_text("![plot](figures/a.png) ![web](https://x.org/b.png)")
    text = findings_markdown(tmp_path / "FINDINGS.md")
    assert f"/gradio_api/file={tmp_path}/figures/a.png" in text and "(https://x.org/b.png)" in text
    assert "not been generated" in findings_markdown(tmp_path / "missing.md")


def test_exploration_json_is_plain_json() -> None:
    record = exploration({"alpha": float("inf")}, Session(), "m", None)
    assert json.loads(to_json(record))["alpha"] is None


def test_compliance_note_warns_when_the_prompt_is_not_followed() -> None:
    from saif_ui.saif.inputs.catalogue import Instruction
    from saif_ui.ui.widgets import compliance_md, verdict_md

    told = Instruction.custom(["Answer in French."], checker="french")
    assert "not measured" in compliance_md(told)
    low = compliance_md(told, Summary(0.25, 0.25, 0.25, None, 0.0, 8))
    assert "**25%** (95% CI 7–59%) of 8 validation contents" in low and "does not follow this instruction even" in low
    assert "⚠" not in compliance_md(told, Summary(0.75, 0.75, 0.75, None, 0.0, 8))
    line = verdict_md(Output.from_dict({**output("x"), "loose": False}), "french")
    assert line == "**french**: strict **pass** ✓ · loose **fail** ✗ · perplexity 9.0 · repeated (loops) 10%"


def test_recipe_panel_states_the_recipe_and_its_test_intervals() -> None:
    from saif_ui.saif.steering.recipe import Recipe
    from saif_ui.saif.steering.spec import SteeringSpec, SteerLatent
    from saif_ui.saif.studies.steering_study import TestFigures
    from saif_ui.service import RecipeView
    from saif_ui.ui.widgets import recipe_md

    assert "No validated recipe for `json`" in recipe_md(RecipeView("json", None, None, False))
    spec = SteeringSpec(latents=(SteerLatent("L24_fast_topk64", 24, 5, mean_act=2.0),), alpha=3.0)
    recipe = Recipe("french", "saif_topk", spec, k=1, fidelity_threshold=29.6, validation={"n": 96, "successes": 40})
    assert "not attached" in recipe_md(RecipeView("french", recipe, None, False))
    figures = TestFigures(
        n=96,
        rates={"original": (0.0, 0.0, 0.0385), "steered": (0.5, 0.4, 0.6), "prompted": (0.8, 0.71, 0.87)},
        paired_p={"original": 1e-9, "prompted": 0.001},
        key_digest="abc",
        current=False,
    )
    text = recipe_md(RecipeView("french", recipe, figures, True))
    assert "latents 5, α = 3" in text and "chrF ≥ 29.6" in text and "40/96" in text
    assert "| steered with the recipe (not told) | 50% | 40–60% | – |" in text
    assert "| prompted (told) | 80% | 71–87% | 0.001 |" in text and "need a rerun" in text


def test_a_rerun_curve_is_titled_as_a_reruns_with_both_explained_variances() -> None:
    about = {"quality": {"rerun": {"explained_variance": 0.85481}, "shipped": {"explained_variance": 0.855}}}
    title = rerun_title("L15_fast_topk64", about)
    assert title.startswith("re-run of L15_fast_topk64's recipe, not the shipped weights' own curve")
    assert "EV 0.8548 re-run vs 0.8550 shipped" in title
    assert "EV" not in rerun_title("L15_fast_topk64", {"quality": {"rerun": {}}})  # nothing measured: no figures
