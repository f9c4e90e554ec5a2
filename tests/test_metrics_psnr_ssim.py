"""PSNR / SSIM equal scikit-image (the documented options) in float64."""

import os
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from faceres_tf.metrics.psnr_ssim import PSNR_MAX_DB, psnr, psnr_tf, ssim

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def sk_ssim(a, b):
    return structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False)


def _noisy(rng, a, sigma):
    return np.clip(a.astype(np.float64) + rng.normal(0, sigma, a.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(16, 16, 3), (33, 47, 3), (64, 40, 3)])
def test_random_images_match_skimage(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = _noisy(rng, a, 25)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-6)
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b), abs=1e-6)


def test_real_face_matches_skimage():
    path = DATA / "gpen_ffhq10" / "00000.png"
    if not path.is_file():
        pytest.skip(f"shared test data not found at {path}")
    from PIL import Image

    a = np.asarray(Image.open(path).convert("RGB").resize((96, 96), Image.BICUBIC))
    blurred = np.asarray(Image.fromarray(a).resize((24, 24)).resize((96, 96), Image.BICUBIC))
    assert psnr(a, blurred) == pytest.approx(peak_signal_noise_ratio(a, blurred, data_range=255),
                                             abs=1e-6)
    assert ssim(a, blurred) == pytest.approx(sk_ssim(a, blurred), abs=1e-6)
    assert 0.3 < ssim(a, blurred) < 0.99


def test_identical_and_batched():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    b = _noisy(rng, a, 10)
    assert psnr(a[0], a[0]) == PSNR_MAX_DB == 100.0  # the documented cap, not inf
    assert psnr(a[0], a[0], max_db=float("inf")) == float("inf")
    assert ssim(a[0], a[0]) == pytest.approx(1.0)
    assert psnr(a, b) == pytest.approx(np.mean([psnr(x, y) for x, y in zip(a, b)]))
    assert ssim(a, b) == pytest.approx(np.mean([sk_ssim(x, y) for x, y in zip(a, b)]), abs=1e-6)


def test_psnr_cap_against_numpy_reference():
    """Every value is min(10 log10(255^2 / MSE), 100 dB): the cap binds only on
    (near-)identical pairs; a batch is the mean of the capped per-image values."""
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    one_level = a.copy()
    one_level[0, 0, 0] ^= 1  # one value one grey level off: 10 log10(255^2 * 12288) = 89.0 dB
    many = _noisy(rng, a, 10)

    def reference(x, y):
        mse = np.mean((x.astype(np.float64) - y) ** 2)
        return 100.0 if mse == 0 else min(10 * np.log10(255.0 ** 2 / mse), 100.0)

    for b in (a, one_level, many):
        assert psnr(a, b) == pytest.approx(reference(a, b), abs=1e-9)
    assert psnr(a, one_level) == pytest.approx(10 * np.log10(255.0 ** 2 * a.size), abs=1e-9)
    big = np.zeros((1024, 1024, 3), np.uint8)
    big_one = big.copy()
    big_one[0, 0, 0] = 1  # uncapped 10 log10(255^2 * 3 * 2^20) = 113 dB
    assert psnr(big, big_one) == 100.0
    batch = np.stack([a, a, many]), np.stack([a, one_level, a])
    assert psnr(*batch) == pytest.approx(np.mean([reference(x, y) for x, y in zip(*batch)]))


def test_psnr_tf_applies_the_same_cap():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    a = np.random.default_rng(5).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    got = np.asarray(psnr_tf(a, a))
    np.testing.assert_allclose(got, [PSNR_MAX_DB, PSNR_MAX_DB])


def test_bad_input_messages():
    with pytest.raises(ValueError, match="same shape"):
        psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))


def test_psnr_tf_matches_numpy():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rng = np.random.default_rng(2)
    a = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), -1, 1).astype(np.float32)
    got = np.asarray(psnr_tf(a, b))
    want = [psnr((x + 1) * 127.5, (y + 1) * 127.5) for x, y in zip(a, b)]
    np.testing.assert_allclose(got, want, atol=1e-3)
