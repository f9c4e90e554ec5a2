"""Bundled pretrained models: save/load round trip, errors, and the shipped model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import faceres_tf  # noqa: E402
from faceres_tf import presets, pretrained  # noqa: E402
from faceres_tf.pretrained import bundle  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _inputs(resolution, n=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (n, resolution, resolution, 3)).astype(np.float32)
    return {"image": images, "noise_seed": np.arange(n, dtype=np.int32)}


def test_save_and_load_round_trip(tmp_path):
    cfg = presets.get("test")
    g = faceres_tf.build_generator(cfg)
    for v in g.weights:  # non-trivial noise strengths, so noise paths are covered
        if "strength" in v.path:
            v.assign(0.3)
    meta, weights = pretrained.save_bundle(g, cfg, "tiny_bundle", {"note": "unit test"}, tmp_path)
    assert json.loads(meta.read_text())["info"] == {"note": "unit test"}
    loaded = pretrained.load_pretrained("tiny_bundle", folder=tmp_path)
    assert loaded.faceres_config == cfg
    for a, b in zip(g.weights, loaded.weights):
        assert a.path == b.path
        # float16 storage: relative error of one half-precision rounding
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-4)
    x = _inputs(cfg.model.resolution)
    np.testing.assert_allclose(loaded(x).numpy(), g(x).numpy(), atol=2e-2)


def test_missing_and_mismatched_bundles_are_clear(tmp_path):
    with pytest.raises(pretrained.PretrainedError, match="no bundled model 'nope'"):
        pretrained.load_pretrained("nope", folder=tmp_path)
    cfg = presets.get("test")
    g = faceres_tf.build_generator(cfg)
    pretrained.save_bundle(g, cfg, "b", {}, tmp_path)
    # a config whose generator has other variables than the stored weights
    other = faceres_tf.override(cfg, {"model.num_skips": 0})
    meta = tmp_path / "b.json"
    record = json.loads(meta.read_text())
    record["config"] = other.to_dict()
    meta.write_text(json.dumps(record))
    with pytest.raises(pretrained.PretrainedError, match="does not match|has shape"):
        pretrained.load_pretrained("b", folder=tmp_path)


def test_bundle_cli_from_a_run_dir(tmp_path, capsys):
    import tensorflow as tf

    cfg = presets.get("test")
    g = faceres_tf.build_generator(cfg)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    (run / "metrics.jsonl").write_text(
        json.dumps({"step": 10, "images_per_sec": 4.0, "time": 1.0}) + "\n"
        + json.dumps({"step": 20, "images_per_sec": 8.0, "time": 2.0}) + "\n")
    tf.train.Checkpoint(generator_ema=g).save(str(run / "checkpoints" / "ckpt"))
    out = tmp_path / "bundles"
    assert bundle.main(["--checkpoint", str(run), "--name", "m", "--output", str(out)]) == 0
    info = pretrained.model_info("m", folder=out)["info"]
    # 10 steps x 4 images at 4 img/s + 10 steps x 4 images at 8 img/s
    assert info["train_steps"] == 20 and info["images_seen"] == 80
    assert info["train_wall_seconds"] == pytest.approx(15.0)
    assert info["precision"] == "fp32"  # the run's sessions did not record it: its config's
    assert bundle.main(["--checkpoint", str(run), "--name", "m", "--output", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


SHIPPED = pretrained.DEFAULT_MODEL in pretrained.available()


@pytest.mark.skipif(not SHIPPED, reason="no bundled model in this checkout")
def test_shipped_model_restores_held_out_faces():
    """The default model improves degraded held-out faces (bundled data/val)."""
    from faceres_tf.data import load_validation_pairs
    from faceres_tf.metrics.psnr_ssim import psnr

    g = faceres_tf.load_pretrained()
    cfg = g.faceres_config
    assert cfg.model.resolution == 128
    size_mb = (Path(pretrained.__file__).parent / f"{pretrained.DEFAULT_MODEL}.weights.npz"
               ).stat().st_size / 2**20
    assert size_mb <= 20
    val = faceres_tf.override(cfg, {"data.val_dir": str(REPO / "data" / "val")})
    degraded, target = load_validation_pairs(val, num=9)
    restored = g({"image": degraded, "noise_seed": np.zeros(len(degraded), np.int32)}).numpy()

    def to255(x):
        return np.clip((np.asarray(x, np.float64) + 1.0) * 127.5, 0, 255)

    before = np.mean([psnr(to255(d), to255(t)) for d, t in zip(degraded, target)])
    after = np.mean([psnr(to255(r), to255(t)) for r, t in zip(restored, target)])
    assert after > before + 0.5, (before, after)


def test_bundled_record_states_the_learning_rate_that_was_applied():
    """rdfr_cpu128's resumed sessions asked for lr 1e-3 and 3e-4, but
    the code of that run restored the old rate over them. The record must say
    what ran (2.5e-3) and mark every recorded lr change as not applied."""
    record = json.loads((Path(pretrained.__file__).parent / "rdfr_cpu128.json").read_text())
    assert record["config"]["train"]["lr"] == pytest.approx(2.5e-3)
    lr_changes = [h for h in record["info"]["config_history"] if "train.lr" in h["changes"]]
    assert lr_changes and all("train.lr" in h["not_applied"] for h in lr_changes)
    assert "NOT applied" in record["info"]["lr_note"]


def test_import_and_load_pretrained_are_quiet():
    code = "import faceres_tf; g = faceres_tf.load_pretrained(); print(g.faceres_config.model.resolution)"
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "FACERES_TF_VERBOSE")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(env, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().isdigit(), proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_bundles_carry_a_licence_and_no_machine_paths(tmp_path):
    record = pretrained.model_info()
    assert "non-commercial" in record["licence"]
    text = (Path(pretrained.__file__).parent / f"{pretrained.DEFAULT_MODEL}.json").read_text()
    assert not re.search(r'"(/|[A-Za-z]:[\\/])', text)
    cfg = faceres_tf.override(faceres_tf.presets.get("test"), {"data.train_dir": "/home/me/faces"})
    meta, _ = pretrained.save_bundle(faceres_tf.build_generator(cfg), cfg, "t", {"run_dir": "/srv/x/run"},
                                     tmp_path)
    saved = pretrained.model_info("t", tmp_path)
    assert saved["config"]["data"]["train_dir"] == "faces" and saved["info"]["run_dir"] == "run"
    assert saved["licence"] == pretrained.WEIGHTS_LICENCE
    assert pretrained.load_pretrained("t", tmp_path).faceres_config.model.resolution == 32
