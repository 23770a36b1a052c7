"""The placement study on the real model, shrunk: pre answers generated on the steering study's contents and judged
against its post-prompted answers."""

from __future__ import annotations

import pytest

from saif_ui.engine.errors import SaifError
from saif_ui.saif.discovery.config import DiscoveryConfig
from saif_ui.saif.studies import derived, placement_study, steering_study
from saif_ui.saif.studies.placement_study import compare_placements
from tests.saif.studies.conftest import SHORT, shrunk_steering_study


@pytest.fixture(scope="module")
def study(engine, tmp_path_factory):
    with shrunk_steering_study(engine, tmp_path_factory.mktemp("placement")) as s:
        yield (
            s.shipped,
            placement_study.run_instruction(derived.Item(engine, s.recipe, s.doc, SHORT), lambda _: None),
            s.recipe,
        )


def test_pre_answers_are_on_the_steering_studys_contents(study) -> None:
    shipped, result, _ = study
    assert result["contents"] == shipped["contents"] and result["n"] == 4
    for block in (result["prompted"]["pre_outputs"], result["steering"]["pre_outputs"]):
        assert [o["id"] for o in block] == shipped["contents"]
        assert all(isinstance(o["text"], str) for o in block)


def test_verdicts_and_rates_agree(study) -> None:
    shipped, result, _ = study
    tau = 15.0
    for o in result["steering"]["pre_outputs"]:
        assert o["success"] == (o["fluent_strict"] and o["chrf_prompted"] >= tau)
        assert o["fluent_strict"] == (o["strict"] and o["repetition"] <= 0.5)
    pre = result["steering"]["success"]["pre"]
    assert pre["rate"] == sum(o["success"] for o in result["steering"]["pre_outputs"]) / 4
    assert pre["ci"][0] <= pre["rate"] <= pre["ci"][1] and pre["n"] == 4
    # The post side is the steering study's own verdicts, read back, not regenerated.
    post = result["steering"]["success"]["post"]["rate"]
    assert post == shipped["methods"]["steered"]["success"]
    assert result["prompted"]["fluent_strict"]["post"]["rate"] == shipped["methods"]["prompted"]["fluent_strict"]
    assert result["prompted"]["strict"]["post"]["rate"] == shipped["methods"]["prompted"]["strict"]
    paired = result["prompted"]["fluent_strict"]["paired"]
    assert paired["n"] == 4 and 0.0 <= paired["p"] <= 1.0


def test_pre_latents_are_the_pre_discovery_top_k(study) -> None:
    _, result, _ = study
    d = result["discovery"]
    assert d["k"] == 2 and 0.0 <= d["jaccard_at_2"] <= 1.0 and len(d["pre_top"]) <= placement_study.OVERLAP_AT
    assert result["steering"]["pre_latents"] == d["pre_top"][:2]


def test_a_missing_or_stale_steering_study_is_a_clear_error(engine, study, monkeypatch) -> None:
    recipe = study[2]
    for shipped in (None, {"key_digest": "stale", "result": {}}):
        monkeypatch.setattr(steering_study, "load_shipped", lambda *a, shipped=shipped, **k: shipped)
        with pytest.raises(SaifError, match="steering-study --instructions french"):
            steering_study.current_doc(engine, recipe)


def test_generations_are_cached_on_disk_by_what_decides_them(study, engine) -> None:
    _, result, recipe = study
    contents = steering_study.reporting_contents()[:4]
    before = list((engine.config.cache_dir / "studies").rglob("*.json"))
    again = steering_study.generate(
        engine, "french", contents, recipe.spec, "prompted", placement="pre", decoding=SHORT
    )
    assert [o.text for o in again] == [o["text"] for o in result["prompted"]["pre_outputs"]]
    assert list((engine.config.cache_dir / "studies").rglob("*.json")) == before  # read back, nothing new written
    other = steering_study.generate(engine, "french", contents[:2], recipe.spec, "prompted", placement="pre",
                                    decoding=SHORT)  # fmt: skip
    assert len(other) == 2 and len(list((engine.config.cache_dir / "studies").rglob("*.json"))) == len(before) + 1


def test_compare_placements_runs_discovery_under_both(engine, rand_saes) -> None:
    study = compare_placements(engine, "french", "rand24", DiscoveryConfig(n_contents=4, top_k=8))
    assert study.pre.config.placement == "pre" and study.post.config.placement == "post"
    assert 0.0 <= study.jaccard <= 1.0 and set(study.shared) <= set(study.post.ids)
    dist = study.to_dict()["distributions"]["post"]
    assert dist["n_latents"] == 256 and dist["top"] == [r.score for r in study.post.latents]
    assert sum(dist["log10_histogram"]["counts"]) == dist["n_positive"]
