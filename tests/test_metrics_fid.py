"""FID against a direct numpy/scipy reference; closed-form and monotonic cases."""

import numpy as np
import pytest
from scipy import linalg

from faceres_tf.metrics.fid import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    load_statistics,
    save_statistics,
)


def reference_fid(f1, f2):
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))


def test_matches_reference_on_random_features():
    rng = np.random.default_rng(0)
    f1 = rng.standard_normal((400, 16))
    f2 = rng.standard_normal((300, 16)) @ rng.standard_normal((16, 16)) * 0.5 + 0.3
    assert fid_from_features(f1, f2) == pytest.approx(reference_fid(f1, f2), rel=1e-8)


def test_identical_sets_near_zero_and_grows_with_scale():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((500, 8))
    assert abs(fid_from_features(f, f)) < 1e-6
    scores = [fid_from_features(f, f * s) for s in (1.0, 1.5, 2.0, 3.0)]
    assert all(b > a for a, b in zip(scores, scores[1:]))
    # closed form for sigma2 = s^2 sigma1, same mean: (1 - s)^2 tr(sigma1)
    mu, sigma = feature_statistics(f)
    assert frechet_distance(mu, sigma, mu, 4 * sigma) == pytest.approx(np.trace(sigma), rel=1e-8)


def test_singular_covariance_is_handled():
    rng = np.random.default_rng(2)
    f1 = rng.standard_normal((5, 32))  # rank-deficient covariance (N < d)
    f2 = rng.standard_normal((5, 32)) + 1.0
    value = fid_from_features(f1, f2)
    assert np.isfinite(value) and value > 0


def test_statistics_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    mu, sigma = feature_statistics(rng.standard_normal((50, 6)))
    save_statistics(tmp_path / "s.npz", mu, sigma, network="test")
    mu2, sigma2 = load_statistics(tmp_path / "s.npz")
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sigma, sigma2)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        load_statistics(tmp_path / "bad.npz")


def test_missing_inception_weights_message(tmp_path, monkeypatch):
    from faceres_tf.metrics.fid import build_inception_v3
    from faceres_tf.weights import MissingWeightsError

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="inception_v3_weights"):
        build_inception_v3()
