"""faceres_tf.training.grow: a new run started from trained weights."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import faceres_tf
from faceres_tf import presets
from faceres_tf.errors import ConfigError
from faceres_tf.training import grow


def _cfg(resolution, **model_fields):
    cfg = presets.get("test")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, resolution=resolution,
                                                              **model_fields))


@pytest.fixture()
def small_source(monkeypatch):
    """A trained-looking 32 px generator offered as ``train.init_from="src"``."""
    src = faceres_tf.build_generator(_cfg(32))
    rng = np.random.default_rng(0)
    for v in src.weights:  # non-zero biases and strengths, as after training
        v.assign(v.numpy() + 0.1 * rng.standard_normal(v.shape).astype(np.float32))
    weights = {v.path: v.numpy() for v in src.weights}
    monkeypatch.setattr(grow, "source_weights", lambda source: (weights, 32))
    return src


def test_grown_model_starts_as_the_small_one_upsampled(small_source):
    big = faceres_tf.build_generator(_cfg(64, lowres_rgb=32))
    report = grow.init_generator([big], "src")
    assert report["source_resolution"] == 32
    assert report["copied"] > 0 and report["adapted"] == 6
    x = np.random.default_rng(1).uniform(-1, 1, (2, 64, 64, 3)).astype(np.float32)
    seeds = tf.constant([-1, -1], tf.int32)
    small_in = tf.image.resize(x, (32, 32), "area")
    expected = tf.image.resize(small_source({"image": small_in, "noise_seed": seeds}), (64, 64), "bilinear")
    out = big({"image": tf.constant(x), "noise_seed": seeds})
    err = np.abs(out.numpy() - expected.numpy())
    # Only the x0.01 fresh parts of the new input block differ from the copy.
    assert err.mean() < 0.01 and err.max() < 0.1


def test_same_resolution_copies_everything_and_refusals(small_source):
    same = faceres_tf.build_generator(_cfg(32))
    report = grow.init_generator([same], "src")
    assert report["copied"] == len(same.weights) and report["fresh"] == 0
    for a, b in zip(same.weights, small_source.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ConfigError, match="lowres_rgb"):
        grow.init_generator([faceres_tf.build_generator(_cfg(64))], "src")
    with pytest.raises(ConfigError, match="16 px"):
        grow.init_generator([faceres_tf.build_generator(_cfg(16, num_skips=1))], "src")


def test_unknown_source_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="neither a bundled model"):
        grow.source_weights(str(tmp_path / "nope"))


def test_cpu_256_grows_from_the_bundled_128_model():
    """The shipped preset and bundle fit: every level below 256 px is copied."""
    big = faceres_tf.build_generator(presets.get("cpu_256"))
    report = grow.init_generator([big], "rdfr_cpu128")
    assert report["source_resolution"] == 128
    assert report["copied"] == 77 and report["adapted"] == 6
    assert all(p.startswith(("resblock_128x128", "styleblock_256x256", "to_rgb/"))
               for p in report["fresh_paths"])


def test_a_run_directory_is_a_source(tmp_path):
    """train.init_from may name a run directory: its newest EMA generator is copied."""
    from pathlib import Path

    from faceres_tf.config import override
    from faceres_tf.training import train
    from faceres_tf.training.checkpoint import load_generator

    repo = Path(__file__).resolve().parents[1]
    cfg = override(presets.get("test"), {"data.train_dir": str(repo / "data" / "train"),
                                         "data.val_dir": str(repo / "data" / "val")})
    train(cfg, tmp_path / "src", steps=1, progress=False)
    weights, res = grow.source_weights(str(tmp_path / "src"))
    assert res == 32
    fresh = faceres_tf.build_generator(cfg)
    report = grow.init_generator([fresh], str(tmp_path / "src"))
    assert report["copied"] == len(fresh.weights)
    ema, _ = load_generator(tmp_path / "src", use_ema=True)
    for a, b in zip(fresh.weights, ema.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
