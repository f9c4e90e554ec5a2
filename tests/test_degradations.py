"""Tests for faceres_tf.data.degradations (TF ops, CPU, small images)."""

import dataclasses
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf

from faceres_tf.config import DataConfig
from faceres_tf.data import degradation_ops as ops
from faceres_tf.data import degradations as D

REPO = Path(__file__).resolve().parents[1]
FACE = REPO / "data" / "train" / "ffhq_00000.jpg"


@pytest.fixture(scope="module")
def face64():
    """A real 64x64 face, float32 in [0, 1]."""
    if not FACE.exists():
        pytest.skip(f"bundled face {FACE} missing (run python -m tools.make_samples)")
    from faceres_tf.data.faces import load_face

    return tf.constant(load_face(FACE, 64).astype(np.float32) / 255.0)


def _laplacian_var(img):
    gray = np.asarray(img, np.float64).mean(-1)
    return scipy.ndimage.laplace(gray)[2:-2, 2:-2].var()


SEED = tf.constant([3, 7], tf.int32)


@pytest.mark.parametrize("name", ["bfr", "sr8", "sr16"])
@pytest.mark.parametrize("res", [32, 64])
def test_shape_dtype_range(face64, name, res):
    cfg = DataConfig(degradation=name, color_jitter_prob=0.5, gray_prob=0.5)
    for s in range(3):
        out = D.degrade(face64, tf.constant([s, 1]), cfg, res)
        assert out.shape == (res, res, 3)
        assert out.dtype == tf.float32
        v = out.numpy()
        assert np.isfinite(v).all() and v.min() >= 0.0 and v.max() <= 1.0
        deg, tgt = D.degrade_pair(face64, tf.constant([s, 1]), cfg, res)
        assert deg.shape == tgt.shape == (res, res, 3)
        assert tgt.numpy().min() >= 0.0 and tgt.numpy().max() <= 1.0


def test_bfr_default_output_size_and_small_image():
    cfg = DataConfig()
    x = tf.random.stateless_uniform([16, 24, 3], [0, 0])  # smaller than the 41 kernel
    out = D.bfr(x, SEED, cfg)
    assert out.shape == (16, 24, 3)
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0


def test_determinism_eager_graph_and_seeds(face64):
    cfg = DataConfig(color_jitter_prob=0.5, gray_prob=0.5)
    a = D.bfr(face64, SEED, cfg).numpy()
    b = D.bfr(face64, SEED, cfg).numpy()
    c = tf.function(lambda x, s: D.bfr(x, s, cfg))(face64, tf.cast(SEED, tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, atol=1e-5)
    other = D.bfr(face64, tf.constant([3, 8]), cfg).numpy()
    assert np.abs(a - other).mean() > 1e-3


def test_inside_tf_data(face64):
    cfg = DataConfig()
    ds = tf.data.Dataset.from_tensors(face64).repeat(3).enumerate()
    ds = ds.map(lambda i, x: D.degrade(x, tf.stack([tf.constant(0, tf.int64), i]), cfg, 32))
    outs = [o.numpy() for o in ds]
    assert len(outs) == 3 and all(o.shape == (32, 32, 3) for o in outs)
    assert np.abs(outs[0] - outs[1]).mean() > 1e-3  # per-element seeds differ


def test_gaussian_kernel_properties():
    k = ops.gaussian_kernel(2.0, 2.0, 0.0, 41).numpy()
    assert k.shape == (41, 41)
    np.testing.assert_allclose(k.sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(k, k.T, atol=1e-7)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)
    # 1-D marginal of an isotropic Gaussian has the requested variance.
    r = np.arange(-20, 21)
    np.testing.assert_allclose((k.sum(0) * r**2).sum(), 4.0, rtol=1e-3)
    # Anisotropic: rotating by 90 degrees swaps the axes.
    a = ops.gaussian_kernel(1.0, 4.0, 0.0, 21).numpy()
    b = ops.gaussian_kernel(4.0, 1.0, np.pi / 2, 21).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, a.T, atol=1e-4)
    with pytest.raises(ValueError):
        ops.gaussian_kernel(1.0, 1.0, 0.0, 40)


def test_blur_matches_scipy_reference(face64):
    k = ops.gaussian_kernel(3.0, 1.5, 0.6, 15).numpy()
    got = ops.blur(face64, tf.constant(k)).numpy()
    ref = np.stack(
        [scipy.ndimage.convolve(face64.numpy()[..., c].astype(np.float64), k, mode="mirror")
         for c in range(3)], -1)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_blur_and_downsample_lower_high_frequencies(face64):
    base = _laplacian_var(face64.numpy())
    blurred = ops.blur(face64, ops.gaussian_kernel(2.0, 2.0, 0.0, 41)).numpy()
    assert _laplacian_var(blurred) < 0.2 * base
    clean = DataConfig(noise_range=(0.0, 0.0), jpeg_range=(100, 100), blur_sigma=(1.0, 3.0),
                       downsample_range=(2.0, 4.0))
    for s in range(3):
        out = D.bfr(face64, tf.constant([s, 0]), clean).numpy()
        assert _laplacian_var(out) < 0.5 * base
    sr8 = D.sr8(face64).numpy()
    sr16 = D.sr16(face64).numpy()
    assert _laplacian_var(sr16) < _laplacian_var(sr8) < 0.5 * base


def test_noise_magnitude():
    gray = tf.fill([64, 64, 3], 0.5)  # far from the clipping bounds
    out = ops.add_gaussian_noise(gray, 20.0, SEED).numpy()
    std = (out - 0.5).std()
    assert abs(std - 20.0 / 255.0) < 0.004, std
    assert abs((out - 0.5).mean()) < 0.004
    np.testing.assert_array_equal(ops.add_gaussian_noise(gray, 0.0, SEED).numpy(), gray.numpy())


def test_jpeg_error_order_of_magnitude(face64):
    q60 = np.abs(ops.jpeg_compress(face64, 60).numpy() - face64.numpy()).mean()
    q100 = np.abs(ops.jpeg_compress(face64, 100).numpy() - face64.numpy()).mean()
    assert 0.002 < q60 < 0.05, q60
    assert q100 < q60
    # Inside bfr, JPEG is the only change when everything else is off.
    only_jpeg = DataConfig(blur_sigma=(0.1, 0.1), downsample_range=(1.0, 1.0),
                           noise_range=(0.0, 0.0), jpeg_range=(60, 60))
    out = D.bfr(face64, SEED, only_jpeg).numpy()
    np.testing.assert_allclose(np.abs(out - face64.numpy()).mean(), q60, rtol=0.15)


def test_sr_is_bicubic_down_then_up(face64):
    out = D.sr(face64, 8, 64).numpy()
    small = tf.image.resize(face64, [8, 8], "bicubic", antialias=True)
    ref = tf.clip_by_value(tf.image.resize(tf.clip_by_value(small, 0, 1), [64, 64], "bicubic"), 0, 1)
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-6)
    cfg = DataConfig(degradation="sr16")
    np.testing.assert_array_equal(D.degrade(face64, SEED, cfg, 64).numpy(), D.sr16(face64).numpy())


def test_grayscale_applies_to_input_and_target(face64):
    cfg = DataConfig(gray_prob=1.0)
    deg, tgt = D.degrade_pair(face64, SEED, cfg, 64)
    for img in (deg.numpy(), tgt.numpy()):
        np.testing.assert_allclose(img[..., 0], img[..., 1], atol=1e-6)
        np.testing.assert_allclose(img[..., 0], img[..., 2], atol=1e-6)
    _, tgt0 = D.degrade_pair(face64, SEED, dataclasses.replace(cfg, gray_prob=0.0), 64)
    np.testing.assert_array_equal(tgt0.numpy(), face64.numpy())


def test_color_jitter_shift_bounds():
    gray = tf.fill([8, 8, 3], 0.5)
    out = ops.color_jitter(gray, SEED, prob=1.0, shift_255=20.0).numpy()
    shift = out[0, 0] - 0.5
    assert np.abs(shift).max() <= 20.0 / 255.0 + 1e-6 and np.abs(shift).max() > 1e-4
    np.testing.assert_allclose(out - 0.5, np.broadcast_to(shift, out.shape), atol=1e-6)
    np.testing.assert_array_equal(ops.color_jitter(gray, SEED, 0.0, 20.0).numpy(), gray.numpy())


def test_bad_arguments():
    with pytest.raises(ValueError, match="degradation"):
        D.degrade(tf.zeros([8, 8, 3]), SEED, DataConfig(degradation="nope"), 8)
    with pytest.raises(ValueError, match="HxWx3"):
        D.bfr(tf.zeros([2, 8, 8, 3]), SEED, DataConfig())


WIDE = dict(resize_down_methods=("area", "bilinear", "bicubic", "lanczos3", "nearest"),
            resize_up_methods=("bilinear", "bicubic", "lanczos3", "area"), resize_antialias_prob=0.5,
            gray_noise_prob=0.4, poisson_prob=0.5, second_order_prob=0.5)


def test_default_switches_reproduce_the_first_chain(face64):
    """The widened chain's defaults give the first chain draw for draw: an
    explicit ("area", "bilinear") down / ("bilinear",) up equals the default."""
    base = DataConfig(blur_kernel_size=13, blur_sigma=(0.1, 2.0), downsample_range=(1.0, 4.0))
    explicit = dataclasses.replace(base, resize_down_methods=("area", "bilinear"),
                                   resize_up_methods=("bilinear",), poisson_prob=0.0)
    for s in range(4):
        seed = tf.constant([s, 5])
        a = D.bfr(face64, seed, base).numpy()
        b = D.bfr(face64, seed, explicit).numpy()
        np.testing.assert_array_equal(a, b)


def test_widened_chain_is_seeded_in_range_and_varied(face64):
    cfg = DataConfig(blur_kernel_size=13, blur_sigma=(0.1, 2.0), downsample_range=(1.0, 4.0), **WIDE)
    fn = tf.function(lambda seed: D.bfr(face64, seed, cfg, 64))
    outs = [fn(tf.constant([s, 9])).numpy() for s in range(12)]
    for o in outs:
        assert o.shape == (64, 64, 3) and np.isfinite(o).all()
        assert o.min() >= 0.0 and o.max() <= 1.0
    np.testing.assert_array_equal(outs[3], fn(tf.constant([3, 9])).numpy())
    # Different seeds draw different kernels / noise: no two outputs equal.
    assert len({o.tobytes() for o in outs}) == len(outs)


def test_random_resize_draws_each_listed_kernel():
    """Over many seeds every kernel is used (the outputs of a 3-kernel draw
    fall into exactly the three results of the kernels applied directly)."""
    x = tf.random.stateless_uniform([16, 16, 3], [1, 2])
    methods = ("area", "bicubic", "nearest")
    direct = {m: ops.resize(x, (5, 5), m).numpy().tobytes() for m in methods}
    seen = set()
    for s in range(40):
        out = ops.random_resize(x, (5, 5), tf.constant([s, 0]), methods, ops.TAG_METHOD).numpy()
        seen.add(next(m for m, b in direct.items() if b == out.tobytes()))
    assert seen == set(methods)


def test_poisson_and_grey_noise():
    """Poisson noise has variance x / 255 (times scale^2) per pixel; grey noise
    is the same in the three channels."""
    x = tf.fill([64, 64, 3], 0.5)
    out = ops.add_poisson_noise(x, 1.0, tf.constant([4, 4])).numpy()
    np.testing.assert_allclose((out - 0.5).var(), 0.5 / 255.0, rtol=0.1)
    grey = ops.add_gaussian_noise(x, 10.0, tf.constant([1, 1]), gray=tf.constant(True)).numpy()
    np.testing.assert_allclose(grey[..., 0], grey[..., 2], rtol=0, atol=1e-7)
    assert np.abs(grey - 0.5).max() > 0.01
    grey_p = ops.add_poisson_noise(x, 1.0, tf.constant([4, 4]), gray=tf.constant(True)).numpy()
    np.testing.assert_allclose(grey_p[..., 0], grey_p[..., 1], rtol=0, atol=1e-7)


def test_widened_chain_config_is_validated():
    from faceres_tf.config import ConfigError, override
    from faceres_tf.presets import get

    with pytest.raises(ConfigError, match="resize_down_methods"):
        override(get("test"), {"data.resize_down_methods": "area,box"})
    with pytest.raises(ConfigError, match="poisson_prob"):
        override(get("test"), {"data.poisson_prob": "1.5"})
