"""Precision / recall / iPrecision / iRecall against a brute-force numpy reference."""

import numpy as np
import pytest

from faceres_tf.metrics.precision_recall import (identity_precision_recall,
                                                 identity_precision_recall_curve, knn_radii)


def brute_force(real, fake, k, real_ids=None, fake_ids=None, rtol=0.0):
    """Naive full-distance-matrix version of method.md §6 (float64).

    ``rtol`` applies the documented tie tolerance: inside when
    ``d^2 <= rho^2 + rtol (|a|^2 + |b|^2)`` with norms taken after centring on
    the mean of both sets.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    center = np.concatenate([real, fake]).mean(0)
    real, fake = real - center, fake - center
    if real_ids is None:
        real_ids, fake_ids = np.arange(len(real)), np.arange(len(fake))
    real_ids = np.asarray([str(v) for v in real_ids])
    fake_ids = np.asarray([str(v) for v in fake_ids])

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    d_rr, d_gg, d_gr = dist(real, real), dist(fake, fake), dist(fake, real)
    np.fill_diagonal(d_rr, np.inf)
    np.fill_diagonal(d_gg, np.inf)
    rho_r, rho_g = np.sort(d_rr, 1)[:, k - 1], np.sort(d_gg, 1)[:, k - 1]
    same = fake_ids[:, None] == real_ids[None, :]
    tol = rtol * ((fake ** 2).sum(1)[:, None] + (real ** 2).sum(1)[None, :])  # (Ng, Nr)
    g_in = d_gr ** 2 <= rho_r[None, :] ** 2 + tol
    r_in = d_gr.T ** 2 <= rho_g[None, :] ** 2 + tol.T
    return {"precision": g_in.any(1).mean(), "recall": r_in.any(1).mean(),
            "iprecision": (g_in & same).any(1).mean(), "irecall": (r_in & same.T).any(1).mean()}


def _sets(seed, n=240, d=16, noise=0.6):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, d))
    return rng, real, real + noise * rng.standard_normal((n, d))


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("d", [4, 16])
def test_matches_brute_force(k, d):
    _, real, fake = _sets(k * 10 + d, d=d)
    # float64 path: exact semantics; float32 path: with its documented tolerance
    exact = identity_precision_recall(real, fake, k=k, chunk=64, dtype=np.float64)
    fast = identity_precision_recall(real, fake, k=k, chunk=64)
    want_exact = brute_force(real, fake, k)
    want_fast = brute_force(real, fake, k, rtol=1e-5)
    for name in want_exact:
        assert exact[name] == pytest.approx(want_exact[name], abs=1e-12), name
        assert fast[name] == pytest.approx(want_fast[name], abs=1e-12), name
        assert abs(fast[name] - exact[name]) <= 2 / len(real)  # ties only
    assert 0 < fast["iprecision"] < fast["precision"]


def test_unequal_sizes_with_labels_match_brute_force():
    rng, real, _ = _sets(7, n=200)
    fake = real[:150] + 0.5 * rng.standard_normal((150, 16)) + 0.2
    real_ids = rng.integers(0, 30, 200)
    fake_ids = [f"{v}" for v in rng.integers(0, 30, 150)]  # strings vs ints compare as text
    got = identity_precision_recall(real, fake, k=3, real_ids=real_ids, restored_ids=fake_ids,
                                    chunk=50)
    want = brute_force(real, fake, 3, real_ids, fake_ids, rtol=1e-5)
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name


def test_identical_sets_give_one_and_shuffled_identities_do_not():
    rng, real, _ = _sets(3)
    same = identity_precision_recall(real, real.copy(), k=3, chunk=64)
    assert same == {"precision": 1.0, "recall": 1.0, "iprecision": 1.0, "irecall": 1.0}
    shuffled = identity_precision_recall(real, real[rng.permutation(len(real))], k=3)
    assert shuffled["precision"] == 1.0 and shuffled["recall"] == 1.0
    assert shuffled["iprecision"] < 0.1 and shuffled["irecall"] < 0.1


def test_identical_sets_with_duplicates_and_offset():
    # exact duplicate points (zero radius) and a large common offset (float32
    # cancellation) must not flip the identical-set case
    rng = np.random.default_rng(4)
    real = rng.standard_normal((100, 32)) + 1000.0
    real[50:60] = real[40:50]
    res = identity_precision_recall(real, real.copy(), k=1, chunk=32)
    assert res == {"precision": 1.0, "recall": 1.0, "iprecision": 1.0, "irecall": 1.0}


def test_chunk_size_and_dtype_do_not_change_result():
    _, real, fake = _sets(5, n=300, d=8)
    base = identity_precision_recall(real, fake, k=3, chunk=2048)
    for chunk in (3, 7, 64, 299):
        assert identity_precision_recall(real, fake, k=3, chunk=chunk) == base
    assert identity_precision_recall(real, fake, k=3, dtype=np.float64) == base


def test_curve_matches_pointwise_and_is_monotone():
    _, real, fake = _sets(6, n=150, d=6, noise=1.0)
    curve = identity_precision_recall_curve(real, fake, max_k=5, chunk=40)
    np.testing.assert_array_equal(curve["k"], np.arange(1, 6))
    for i, k in enumerate(range(1, 6)):
        want = brute_force(real, fake, k, rtol=1e-5)
        for name in want:
            assert curve[name][i] == pytest.approx(want[name], abs=1e-12), (name, k)
    for name in ("precision", "recall", "iprecision", "irecall"):
        assert np.all(np.diff(curve[name]) >= 0)


def test_knn_radii_matches_sorted_distances():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((90, 5))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(knn_radii(x, k=4, chunk=16), np.sort(d, 1)[:, 3], rtol=1e-5)


def test_clear_errors():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match="equal set sizes"):
        identity_precision_recall(x, np.zeros((9, 4)))
    with pytest.raises(ValueError, match="both real_ids and restored_ids"):
        identity_precision_recall(x, x, real_ids=np.arange(10))
    with pytest.raises(ValueError, match="more than k points"):
        identity_precision_recall(x[:3], x[:3], k=3)
    with pytest.raises(ValueError, match="NaN"):
        identity_precision_recall(np.full((10, 4), np.nan), x)


def test_both_radius_algorithms_match_brute_force(monkeypatch):
    from faceres_tf.metrics import precision_recall as pr

    rng = np.random.default_rng(9)
    x = rng.standard_normal((700, 6))
    x[10] = x[11]  # an exact duplicate: radius 0 for k=1
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    want = np.sort(d2, 1)[:, :4]
    rowwise = pr._knn_sq_dists(x, 4, chunk=64)  # d = 6 < SYMMETRIC_MIN_DIM
    monkeypatch.setattr(pr, "SYMMETRIC_MIN_DIM", 1)
    symmetric = pr._knn_sq_dists(x, 4, chunk=64)
    for got in (rowwise, symmetric):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    rows = np.array([0, 5, 63, 64, 699])
    np.testing.assert_allclose(pr._knn_sq_dists_rowwise(x, rows, 4, 64, np.float32), want[rows],
                               rtol=1e-5, atol=1e-5)


def test_symmetric_radii_path_matches_brute_force():
    # d = 300 >= SYMMETRIC_MIN_DIM: exercises the symmetric-tiles radius code
    rng = np.random.default_rng(10)
    real = rng.standard_normal((260, 300))
    fake = real + 0.8 * rng.standard_normal((260, 300))
    got = identity_precision_recall(real, fake, k=2, chunk=48)
    want = brute_force(real, fake, 2, rtol=1e-5)
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name
