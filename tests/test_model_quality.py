"""experiments.model_quality: the schedule marks of the learning-curve plot."""

import json

from experiments import model_quality


def test_schedule_changes_reads_config_history(tmp_path):
    history = [
        {"step": 5001, "changes": {"loss.alpha": {"old": 0.1, "new": 0.02},
                                   "train.steps": {"old": 16000, "new": 11000}},
         "training_fields_changed": ["loss.alpha"]},
        {"step": 7000, "changes": {"train.steps": {"old": 11000, "new": 12000}},
         "training_fields_changed": []},  # bookkeeping only: not a schedule change
        {"step": 8046, "changes": {"train.lr": {"old": 0.001, "new": 0.0003}},
         "training_fields_changed": ["train.lr"]},
    ]
    (tmp_path / "run_info.json").write_text(json.dumps({"sessions": [], "config_history": history}))
    marks = model_quality.schedule_changes(tmp_path, batch_size=8)
    assert marks == [(40008, "alpha 0.1→0.02"), (64368, "lr 0.001→0.0003")]


def test_schedule_changes_without_run_info(tmp_path):
    assert model_quality.schedule_changes(tmp_path, batch_size=8) == []


# ----------------------------------------------------------------------------- the report
REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_both_chains_at_two_resolutions_on_tiny_inputs(tmp_path):
    """The bundled model on 4 faces of data/val: train and cv2 chains at 128 px and
    at 64 px (restored at 128, resized), detail, real LQ faces with BRISQUE."""
    import types

    from experiments import options, quality

    opts = options.ExpOptions(workdir=str(tmp_path), eval_dir=str(REPO / "data" / "val"),
                              num_eval_faces=4, num_eval_degradations=1, num_noise_seeds=0,
                              metrics=["psnr", "ssim"], id_net="none", command="test")
    flags_ = types.SimpleNamespace(model="rdfr_cpu128", run_dir=None, eval_resolution=64,
                                   chains=["train", "cv2"], lq_dirs=[str(REPO / "data" / "real_lq")],
                                   lq_per_dir=2)
    res = model_quality.evaluate(opts, flags_, quality.Progress(quiet=True))
    saved = json.loads((tmp_path / "quality.json").read_text())
    assert [(e["chain"], e["resolution"]) for e in saved["evaluations"]] == [
        ("train", 128), ("cv2", 128), ("train", 64), ("cv2", 64)]
    assert res["faces"] == 4 and all(e["restored_at"] == 128 for e in saved["evaluations"])
    for e in saved["evaluations"]:
        for row in (e["input"], e["zero_noise"]):
            assert 15 < row["psnr"] < 45 and 0 < row["ssim"] < 1 and row["detail"] > 0
        assert e["draws"] == [] and e["input"]["id_dist"] is None  # --id_net=none
    own = saved["evaluations"][0]
    assert own["zero_noise"]["psnr"] > own["input"]["psnr"]  # it restores its own chain
    assert saved["evaluations"][2]["ranges"].startswith("blur sigma 0.1-1.25 (kernel 7)")
    assert saved["evaluations"][0]["ceiling"] is None  # at the model's own resolution
    ceiling = saved["evaluations"][3]["ceiling"]  # 64 px ground truth -> 128 -> 64: nearly lossless
    assert ceiling["psnr"] > 35 and 0.5 < ceiling["detail"] < 1.5
    lq = saved["real_lq"][0]
    assert lq["faces"] == 6 and lq["laplacian_energy_restored"] > 0
    from faceres_tf.metrics.no_reference import brisque_available

    assert (lq["brisque_input"] is not None) == brisque_available()
    md = (tmp_path / "quality.md").read_text()
    assert "| 64 | cv2 | degraded input |" in md and "BRISQUE input" in md
    for name in ("quality_grid.png", "quality_grid_cv2_64.png", "real_lq_real_lq.png"):
        assert (tmp_path / name).is_file(), name


def test_default_workdir_and_no_silent_overwrite(tmp_path):
    import pytest

    from experiments.cli import UserError

    assert model_quality.default_workdir("rdfr_cpu128", None) == "runs/quality_rdfr_cpu128"
    assert model_quality.default_workdir(None, str(tmp_path / "cpu_128")) == "runs/quality_cpu_128"
    model_quality.check_outputs(tmp_path, overwrite=False)  # nothing there yet
    (tmp_path / "quality.json").write_text("{}")
    with pytest.raises(UserError, match="quality.json exists; pass --overwrite"):
        model_quality.check_outputs(tmp_path, overwrite=False)
    model_quality.check_outputs(tmp_path, overwrite=True)
    assert (tmp_path / "quality.json").read_text() == "{}"


def test_progress_embedder_reports_chunks_and_keeps_features():
    import numpy as np

    from experiments import quality

    class Fake:
        name, dim = "fake", 2

        def embed(self, images, progress=False):
            return np.array([[float(im), 1.0] for im in images])

    lines = []
    emb = quality.ProgressEmbedder(Fake(), lines.append, chunk=3)
    feats = emb.embed(list(range(7)))
    np.testing.assert_array_equal(feats[:, 0], np.arange(7))
    assert lines == [f"  identity features (fake) {i}/7" for i in (0, 3, 6)]
    assert emb.embed([]).shape == (0, 2)


def test_chain_preset_scores_two_models_on_the_same_inputs():
    """--chain_preset=cpu_256 gives a 128 px model the 256 px model's chain:
    at 256 px the same ranges and switches, at 128 px the ranges scaled."""
    from experiments.eval_chains import config_at
    from faceres_tf import presets

    small, big = presets.get("cpu_128"), presets.get("cpu_256")
    assert model_quality.chain_config(small, None) is small
    cfg = model_quality.chain_config(small, "cpu_256")
    assert cfg.model.resolution == 256 and cfg.data == big.data
    assert config_at(cfg, 256).data == config_at(big, 256).data
    assert config_at(cfg, 128).data.blur_sigma == (0.1, 2.5)
