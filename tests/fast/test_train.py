"""SAE training through sae-lens on real activations: MSE goes down, checkpoints resume exactly, fp16 export loads."""

import json
import shutil

import pytest
import torch
from sae_lens import SAE

from saif_ui.fast.config import HarvestConfig, TrainConfig
from saif_ui.fast.data import DataConfig, build_dataset
from saif_ui.fast.harvest import harvest
from saif_ui.fast.report import evaluate_sae
from saif_ui.fast.train import ActivationBatches, init_training_sae, latest_checkpoint, train_sae


@pytest.fixture(scope="module")
def harvests(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("h")
    data = build_dataset(DataConfig(limit=600))
    train = harvest(
        engine,
        HarvestConfig(layers=[3], tokens=12_000, max_len=256, batch_tokens=2048),
        root / "train",
        conversations=data.train[:100],
        progress=False,
    )
    held = harvest(
        engine,
        HarvestConfig(layers=[3], tokens=3_000, max_len=256, batch_tokens=2048),
        root / "eval",
        conversations=data.eval or data.train[100:130],
        progress=False,
    )
    return train, held


def _cfg(**kw):
    base = dict(
        layer=3,
        arch="standard",
        d_sae=256,
        tokens=512 * 24,
        batch_size=512,
        lr=2e-3,
        l1_coefficient=1.0,
        checkpoint_every=8,
        device="cpu",
    )
    return TrainConfig(**(base | kw))


def test_training_lowers_mse_and_exports_a_plain_sae_lens_fp16_sae(harvests, tmp_path):
    train, held = harvests
    cfg = _cfg()
    initial, scale = init_training_sae(train, cfg, {"hook_name": "blocks.3.hook_resid_post"})
    initial.fold_activation_norm_scaling_factor(scale)  # as training starts, in the raw space evaluation uses
    before = evaluate_sae(initial, held, 3)
    out = train_sae(train, cfg, tmp_path / "sae", progress=False)
    sae = SAE.load_from_disk(out)  # plain sae-lens, as a user would
    assert sae.cfg.dtype == "float16" and sae.W_dec.dtype == torch.float16
    assert sae.cfg.metadata.hook_name == "blocks.3.hook_resid_post" and sae.cfg.d_sae == 256
    after = evaluate_sae(SAE.load_from_disk(out, dtype="float32"), held, 3)
    assert after.mse < 0.9 * before.mse
    assert before.explained_variance < after.explained_variance <= 1 and after.l0 > 0
    stats = json.loads((out / "train_stats.json").read_text())
    assert stats["steps"] == 24 and stats["resumed_from_step"] == 0
    curve = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == list(range(1, 25))  # 24 steps: a line each (every max(1, steps // 200))
    assert {"loss", "mse", "l0", "explained_variance", "dead", "lr"} <= set(curve[0])
    assert curve[-1]["mse"] < curve[0]["mse"]  # the trainer's own loss went down


def test_the_shelf_plots_the_recorded_curve(harvests, engine, tmp_path):
    from saif_ui.engine.cache import ResultCache
    from saif_ui.service.shelf import SaeShelf

    out = train_sae(harvests[0], _cfg(tokens=512 * 8), tmp_path / "sae", progress=False)
    name = engine.add_sae(str(out)).name
    try:
        curves = SaeShelf(engine, ResultCache(2**20)).training_curves(name)
    finally:
        engine.remove_sae(name)
    assert [step for step, _ in curves["mse"]] == [float(s) for s in range(1, 9)] and "l0" in curves


def test_resume_continues_from_the_checkpoint_and_matches_an_uninterrupted_run(harvests, tmp_path):
    train, _ = harvests
    full = train_sae(train, _cfg(), tmp_path / "full", progress=False)
    # Interrupted copy: only the first checkpoint survived.
    part = tmp_path / "part"
    (part / "checkpoints").mkdir(parents=True)
    first = min((full / "checkpoints").iterdir(), key=lambda p: int(p.name))
    shutil.copytree(first, part / "checkpoints" / first.name)
    assert latest_checkpoint(part) == part / "checkpoints" / first.name
    # The interrupted run had logged steps past its last checkpoint: the resumed run redoes them, once.
    shutil.copy(full / "train_log.jsonl", part / "train_log.jsonl")
    resumed = train_sae(train, _cfg(), part, progress=False)
    steps = [json.loads(line)["step"] for line in (resumed / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 25))  # no step twice, none missing
    stats = json.loads((resumed / "train_stats.json").read_text())
    assert stats["resumed_from_step"] == int(first.name) // 512 > 0
    a, b = SAE.load_from_disk(full, dtype="float32"), SAE.load_from_disk(resumed, dtype="float32")
    torch.testing.assert_close(a.W_dec, b.W_dec, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(a.W_enc, b.W_enc, rtol=1e-3, atol=1e-3)


def test_batches_are_seeded_shuffled_and_skip_reproduces(harvests):
    train, _ = harvests
    a = ActivationBatches(train, 3, 256, seed=1)
    batches = [next(a) for _ in range(5)]
    b = ActivationBatches(train, 3, 256, seed=1, skip=3)
    assert torch.equal(next(b), batches[3])
    c = ActivationBatches(train, 3, 256, seed=2)
    assert not torch.equal(next(c), batches[0])
    assert batches[0].dtype == torch.float32 and batches[0].shape == (256, 576)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="arch"):
        TrainConfig(layer=1, arch="dense")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one batch"):
        TrainConfig(layer=1, tokens=10, batch_size=4096)
