"""The backend's SAEs part: what a session sees, layers and labels of attached SAEs, and the default SAE."""

from __future__ import annotations

from pathlib import Path

from saif_ui.resources import assets_dir
from saif_ui.service.saes import most_used, origin


def test_a_session_sees_the_shared_saes_by_layer(backend, rand_saes) -> None:
    rand8, rand24 = rand_saes
    saes = backend.saes
    assert [n for n in saes.names() if n in rand_saes] == [rand8, rand24]  # shallowest first
    assert (f"{rand24} · layer 24", rand24) in saes.choices("anyone")
    assert saes.layers("anyone")[8] == rand8 and saes.layer_of(rand24) == 24 and saes.layer_of(None) is None
    assert saes.has(rand8) and not saes.has("nope") and not saes.has(None)
    assert saes.info(rand8)["d_sae"] == 256 and saes.info(rand8) in saes.table_rows("anyone")
    assert saes.report(rand8) is None and saes.manifest(rand8) is None  # a bare folder: no report, no manifest
    assert saes.latent_labels(rand8) == {}  # no cards: no labels
    assert saes.info(rand8)["origin"] == "local folder `rand8`"  # the folder's name, not this machine's path


def test_an_saes_origin_is_said_in_words_never_as_this_machines_path(tmp_path) -> None:
    shipped = assets_dir() / "saes" / "L15_fast_topk64"
    assert origin(str(shipped), tmp_path) == "shipped (assets/saes/L15_fast_topk64)"
    uploads = tmp_path / "uploads"
    (uploads / "upload_0123456789").mkdir(parents=True)
    (uploads / "trained_fast_L2_topk64_ab").mkdir()
    assert origin(str(uploads / "upload_0123456789"), tmp_path) == "uploaded by a visitor"
    assert origin(str(uploads / "trained_fast_L2_topk64_ab"), tmp_path) == "trained in this app"
    assert (
        origin("gemma-scope-2-270m-it-res/layer_12", tmp_path)
        == "sae-lens registry `gemma-scope-2-270m-it-res/layer_12`"
    )
    elsewhere = tmp_path / "mine" / "sae_a"
    elsewhere.mkdir(parents=True)
    assert origin(str(elsewhere), tmp_path) == "local folder `sae_a`" and str(Path(tmp_path)) not in origin(
        str(elsewhere), tmp_path
    )


def test_default_sae_is_the_one_most_recipes_use_ties_to_the_deeper() -> None:
    names = ["L08", "L15", "L24", "L27"]
    # One recipe at L27 does not pull the default to the deepest layer.
    assert most_used(names, ["L08", "L24", "L24", "L27", "L15"]) == "L24"
    assert most_used(names, ["L08", "L08", "L24", "L24", "L27"]) == "L24"  # a tie goes deeper
    assert most_used(names, ["L08", "L08", "L24"]) == "L08"
    assert most_used(names, ["elsewhere"]) == "L27"  # no attached SAE used: the deepest
    assert most_used(names, []) == "L27"
