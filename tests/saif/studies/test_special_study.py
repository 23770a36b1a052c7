"""FAST's special-token steering measured: stated measures per answer, special latent against a random one."""

from __future__ import annotations

from saif_ui.engine.decoding import Decoding
from saif_ui.saif.discovery.discover import pick_contents
from saif_ui.saif.inputs.contents import load_contents
from saif_ui.saif.steering.special import PAPER_ALPHAS
from saif_ui.saif.studies.special_study import MEASURES, measures, run_sae


def test_measures_are_the_stated_ones() -> None:
    listed = measures("Sure, I am happy to help.\n- first point\n- second point", "A plain answer.")
    assert listed == {"structured": True, "polite": True, "loop": False, "changed": True, "words": 12}
    heading = measures("# Tea\nTea comes from China.", "# Tea\nTea comes from China.")
    assert heading["structured"] and not heading["changed"] and not heading["polite"]
    assert measures("pour " * 30, "x")["loop"] and not measures("One short line.", "x")["structured"]


def test_special_latent_against_a_random_one_on_the_same_contents(l24, engine) -> None:
    contents = pick_contents(load_contents("test"), 2)
    r = run_sae(engine, l24, contents, log=lambda _: None, decoding=Decoding(max_new_tokens=4))
    assert [row["alpha"] for row in r["rows"]] == list(PAPER_ALPHAS) and r["random_latent"] != r["latent"]
    zero = r["rows"][0]
    assert zero["special"]["texts"] == zero["random"]["texts"] and zero["special"]["changed"]["rate"] == 0
    for row in r["rows"]:
        for name in ("special", "random"):
            block = row[name]
            assert block["n"] == 2 and len(block["texts"]) == 2
            for m in MEASURES:
                low, high = block[m]["ci"]
                assert 0 <= low <= block[m]["rate"] <= high <= 1
        assert set(row["paired"]) == set(MEASURES) and all(0 <= p <= 1 for p in row["paired"].values())
