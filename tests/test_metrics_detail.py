"""The detail measure (Laplacian energy / the ground truth's) against scipy."""

import numpy as np
import pytest
from scipy import ndimage

from faceres_tf.metrics.detail import detail_ratio, detail_ratios, gray, laplacian_energy


def _reference_energy(rgb) -> float:
    """scipy's 5-point Laplacian of the BT.601 luma, 1-px border cropped, variance."""
    g = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return float(ndimage.laplace(g, mode="reflect")[1:-1, 1:-1].var())


@pytest.mark.parametrize("shape", [(3, 3, 3), (17, 23, 3), (64, 64, 3)])
def test_energy_matches_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(0, 256, (4,) + shape, dtype=np.uint8)
    ours = laplacian_energy(x)
    ref = [_reference_energy(im) for im in x]
    np.testing.assert_allclose(ours, ref, rtol=1e-10)


def test_ratio_is_the_mean_of_per_pair_ratios():
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    out = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    expected = np.mean([_reference_energy(a) / _reference_energy(b) for a, b in zip(out, gt)])
    assert detail_ratio(out, gt) == pytest.approx(expected, rel=1e-10)
    assert detail_ratio(gt, gt) == pytest.approx(1.0, abs=1e-12)


def test_blur_lowers_and_noise_raises_detail():
    rng = np.random.default_rng(1)
    gt = ndimage.gaussian_filter(rng.uniform(0, 255, (64, 64, 3)), (1, 1, 0))
    blurred = ndimage.gaussian_filter(gt, (2, 2, 0))
    noisy = gt + rng.normal(0, 10, gt.shape)
    assert detail_ratios(blurred, gt)[0] < 0.2
    assert detail_ratios(noisy, gt)[0] > 1.5


def test_luma_and_errors():
    x = np.zeros((1, 4, 4, 3))
    x[..., 0] = 100
    np.testing.assert_allclose(gray(x), 29.9)
    with pytest.raises(ValueError, match="flat"):
        detail_ratio(np.ones((8, 8, 3)), np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="same shape"):
        detail_ratio(np.ones((8, 8, 3)), np.ones((9, 8, 3)))
    with pytest.raises(ValueError, match="RGB"):
        laplacian_energy(np.ones((8, 8)))
