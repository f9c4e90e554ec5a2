"""experiments/eval_chains.py: the independent cv2 evaluation chain."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from experiments import eval_chains as ec
from faceres_tf.config import DataConfig

VAL = Path(__file__).resolve().parents[1] / "data" / "val"
CPU128 = DataConfig(blur_kernel_size=13, blur_sigma=(0.1, 2.5), downsample_range=(0.8, 4.0))


def _face(r=64, i=0):
    from faceres_tf.data.faces import load_face

    return load_face(sorted(VAL.glob("*.jpg"))[i], r)


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def test_deterministic_per_seed_and_index():
    face = _face()
    a = ec.degrade(face, ec.rng_for(3, d=1), CPU128)
    b = ec.degrade(face, ec.rng_for(3, d=1), CPU128)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, ec.degrade(face, ec.rng_for(4, d=1), CPU128))
    assert not np.array_equal(a, ec.degrade(face, ec.rng_for(3, d=2), CPU128))


@pytest.mark.parametrize("r", [32, 64, 128])
def test_output_is_uint8_rgb_of_the_input_size(r):
    out = ec.degrade(_face(r), ec.rng_for(0), CPU128)
    assert out.shape == (r, r, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="uint8 RGB"):
        ec.degrade(_face(r).astype(np.float32), ec.rng_for(0), CPU128)


def test_parameters_stay_in_the_configured_ranges_and_every_choice_occurs():
    draws = [ec.sample_params(ec.rng_for(i), CPU128) for i in range(400)]
    for p in draws:
        assert 0.1 <= p["sigma_x"] <= 2.5 and 0.1 <= p["sigma_y"] <= 2.5
        assert 0.8 <= p["scale"] <= 4.0 and 0.0 <= p["noise_sigma"] <= 20.0
        assert 60 <= p["jpeg_quality"] <= 100 and p["kernel"] == 13
    for key, values in (("down", ec.RESIZERS), ("up", ec.RESIZERS), ("noise", ec.NOISE_KINDS),
                        ("jpeg_by", ("cv2", "pil")), ("blur_iso", (True, False))):
        assert {p[key] for p in draws} == set(values), key
    assert {p["jpeg_quality"] for p in draws} >= {60, 100}  # both ends inclusive


def test_noise_strength_follows_the_range():
    flat = np.full((64, 64, 3), 128, np.uint8)
    data = DataConfig(blur_kernel_size=3, blur_sigma=(0.1, 0.1), downsample_range=(1.0, 1.0),
                      noise_range=(10.0, 10.0), jpeg_range=(100, 100))
    stds = [float((ec.degrade(flat, ec.rng_for(i), data).astype(float) - 128).std())
            for i in range(30)]
    assert 6.0 < np.mean(stds) < 12.0  # std 10 at mid-grey, some of it removed by resizing/JPEG


def test_anisotropic_kernel_is_normalised_and_rotates():
    k0 = ec.anisotropic_kernel(13, 3.0, 0.7, 0.0)
    k90 = ec.anisotropic_kernel(13, 3.0, 0.7, np.pi / 2)
    assert k0.sum() == pytest.approx(1.0, abs=1e-5) and (k0 >= 0).all()
    yy, xx = np.mgrid[-6:7, -6:7]
    var_x, var_y = float((k0 * xx ** 2).sum()), float((k0 * yy ** 2).sum())
    g = np.exp(-np.arange(-6, 7) ** 2 / (2 * 3.0 ** 2))
    truncated_var = float((g * np.arange(-6, 7) ** 2).sum() / g.sum())  # sigma 3 cut at 2 sigma
    assert var_x == pytest.approx(truncated_var, rel=0.02) and var_y == pytest.approx(0.49, rel=0.05)
    np.testing.assert_allclose(k90, k0.T, atol=1e-4)


def test_ranges_scale_like_the_presets():
    at256 = ec.ranges_at(CPU128, 128, 256)
    assert at256.blur_sigma == (0.1, 5.0) and at256.blur_kernel_size == 25
    assert at256.downsample_range == (0.8, 8.0)  # GFPGAN's cap
    assert ec.ranges_at(CPU128, 128, 512).downsample_range == (0.8, 8.0)
    assert (at256.noise_range, at256.jpeg_range) == (CPU128.noise_range, CPU128.jpeg_range)
    assert ec.ranges_at(CPU128, 128, 128) is CPU128


def test_same_ranges_different_implementation_than_the_training_chain():
    """With every range pinned to one value both chains apply the same degradation
    strength (close outputs) through different code (outputs not equal)."""
    import tensorflow as tf

    from faceres_tf.data.degradations import bfr

    pinned = DataConfig(blur_kernel_size=13, blur_sigma=(1.5, 1.5), downsample_range=(2.0, 2.0),
                        noise_range=(0.0, 0.0), jpeg_range=(90, 90))
    face = _face(64)
    ours = np.stack([ec.degrade(face, ec.rng_for(i), pinned) for i in range(4)])
    train = np.stack([np.clip(np.rint(bfr(tf.constant(face, tf.float32) / 255.0, [i, 0],
                                          pinned).numpy() * 255), 0, 255).astype(np.uint8)
                      for i in range(4)])
    assert _psnr(ours, face) == pytest.approx(_psnr(train, face), abs=2.5)  # same strength
    assert np.abs(ours.astype(int) - train.astype(int)).mean() > 0.5  # another implementation


def test_eval_set_is_fixed_and_in_the_evalset_convention():
    from faceres_tf import presets

    cfg = dataclasses.replace(presets.get("cpu_128"), data=CPU128)
    cfg = ec.config_at(cfg, 32)
    a = ec.build_chain_eval_set("cv2", cfg, VAL, num_degradations=2, num_faces=3)
    b = ec.build_chain_eval_set("cv2", cfg, VAL, num_degradations=2, num_faces=3)
    assert a.degraded.shape == (2, 3, 32, 32, 3) and a.target.shape == (3, 32, 32, 3)
    assert a.degraded.dtype == np.float32 and -1.0 <= a.degraded.min() and a.degraded.max() <= 1.0
    np.testing.assert_array_equal(a.degraded, b.degraded)
    assert not np.array_equal(a.degraded[0], a.degraded[1])
    with pytest.raises(ValueError, match="unknown chain"):
        ec.build_chain_eval_set("nope", cfg, VAL)
