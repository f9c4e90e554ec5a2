"""Precision / recall / iPrecision / iRecall: the fast blocked implementation
against Algorithm 1's float64 reference (faceres_tf/metrics/algorithm1.py)."""

import numpy as np
import pytest

from faceres_tf.metrics.algorithm1 import algorithm1, neighbourhood_radii
from faceres_tf.metrics.precision_recall import (
    identity_precision_recall,
    identity_precision_recall_curve,
    knn_radii,
)

NAMES = ("precision", "recall", "iprecision", "irecall")


def brute_force(real, fake, k, real_ids=None, fake_ids=None, rtol=0.0):
    """Naive full-distance-matrix version of method.md §6 (float64), with the
    fast implementation's documented tie tolerance (rtol = 0: the reference).

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


# The float32 path's decision band (module docstring of precision_recall): a
# pair counts as inside when d^2 <= rho^2 + 1e-5 (|a|^2 + |b|^2), and float32
# rounding moves both sides by less than another 1e-5 (|a|^2 + |b|^2). So its
# result lies between Algorithm 1's exact float64 result (rtol 0) and the
# reference with rtol = 2e-5, whatever the CPU's rounding.
FLOAT32_BAND = 2e-5


def assert_within_float32_band(got, real, fake, k, real_ids=None, fake_ids=None):
    """``got`` (the float32 path) between the exact reference and the band's upper edge."""
    lo = brute_force(real, fake, k, real_ids, fake_ids)
    hi = brute_force(real, fake, k, real_ids, fake_ids, rtol=FLOAT32_BAND)
    for name in lo:
        assert lo[name] - 1e-12 <= got[name] <= hi[name] + 1e-12, (name, lo[name], got[name], hi[name])


def _sets(seed, n=240, d=16, noise=0.6):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((n, d))
    return rng, real, real + noise * rng.standard_normal((n, d))


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("d", [4, 16])
def test_matches_brute_force(k, d):
    _, real, fake = _sets(k * 10 + d, d=d)
    # the tolerance-aware helper is Algorithm 1's reference when rtol = 0
    assert brute_force(real, fake, k) == algorithm1(real, fake, k=k)
    # float64 path: exact semantics; float32 path: with its documented tolerance
    exact = identity_precision_recall(real, fake, k=k, chunk=64, dtype=np.float64)
    fast = identity_precision_recall(real, fake, k=k, chunk=64)
    want_exact = brute_force(real, fake, k)
    for name in want_exact:
        assert exact[name] == pytest.approx(want_exact[name], abs=1e-12), name
        assert abs(fast[name] - exact[name]) <= 2 / len(real)  # near-ties only
    assert_within_float32_band(fast, real, fake, k)
    assert 0 < fast["iprecision"] < fast["precision"]


def test_unequal_sizes_with_labels_match_brute_force():
    rng, real, _ = _sets(7, n=200)
    fake = real[:150] + 0.5 * rng.standard_normal((150, 16)) + 0.2
    real_ids = rng.integers(0, 30, 200)
    fake_ids = [f"{v}" for v in rng.integers(0, 30, 150)]  # strings vs ints compare as text
    got = identity_precision_recall(real, fake, k=3, real_ids=real_ids, restored_ids=fake_ids,
                                    chunk=50)
    assert_within_float32_band(got, real, fake, 3, real_ids, fake_ids)


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


def test_float32_near_ties_stay_in_the_documented_band_and_float64_is_exact():
    """On random sets the float32 path may count a pair within the
    band (rho^2 < d^2 <= rho^2 + ~1e-5 (|a|^2 + |b|^2)) as inside, Algorithm 1
    does not. 300 random cases: float32 always within the band, float64
    always equal to the exact reference, and the float32 excess rare."""
    rng = np.random.default_rng(18)
    excess = 0
    for _ in range(300):
        n, d, k = int(rng.integers(6, 40)), int(rng.integers(2, 9)), int(rng.integers(1, 4))
        real = rng.standard_normal((n, d))
        fake = real + rng.uniform(0.1, 1.5) * rng.standard_normal((n, d))
        exact = brute_force(real, fake, k)
        got64 = identity_precision_recall(real, fake, k=k, dtype=np.float64, chunk=16)
        assert all(got64[m] == pytest.approx(exact[m], abs=1e-12) for m in NAMES)
        got32 = identity_precision_recall(real, fake, k=k, chunk=16)
        assert_within_float32_band(got32, real, fake, k)
        excess += any(abs(got32[m] - exact[m]) > 1e-12 for m in NAMES)
    assert excess <= 5, excess


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
        assert_within_float32_band({n: curve[n][i] for n in NAMES}, real, fake, k)
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
    assert_within_float32_band(got, real, fake, 2)


# ----------------------------------------------------------------------------- Algorithm 1


def _assert_same(got, want):
    for name in NAMES:
        assert got[name] == want[name], (name, got, want)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_fast_equals_reference_with_exact_ties(k):
    # integer lattice points: many exact distance ties (d == rho), which the
    # reference counts as inside; neither precision path may flip them
    rng = np.random.default_rng(20 + k)
    real = rng.integers(-3, 4, (120, 4)).astype(np.float64)
    fake = real + rng.integers(-1, 2, (120, 4))
    want = algorithm1(real, fake, k=k)
    assert 0 < want["iprecision"] < 1
    for dtype in (np.float64, np.float32):
        _assert_same(identity_precision_recall(real, fake, k=k, chunk=32, dtype=dtype), want)


def test_fast_equals_reference_with_duplicates_and_labels():
    rng = np.random.default_rng(21)
    real = rng.standard_normal((90, 8))
    real[30:40] = real[20:30]  # exact duplicate real points (radius 0 at k = 1)
    fake = np.concatenate([real[:45] + 0.3 * rng.standard_normal((45, 8)), real[45:60]])
    real_ids, fake_ids = np.arange(90) % 40, np.arange(60) % 40
    for k in (1, 2, 4):
        want = algorithm1(real, fake, k=k, real_ids=real_ids, restored_ids=fake_ids)
        got = identity_precision_recall(real, fake, k=k, real_ids=real_ids,
                                        restored_ids=fake_ids, chunk=16, dtype=np.float64)
        _assert_same(got, want)


def test_reference_on_a_hand_checked_example():
    # 1-D features, paired by index. Reals 0, 1, 3: k = 1 radii 1, 1, 2.
    # Restored 0.5 lies within real 0 (itself): identity-in. Restored 10: nowhere.
    # Restored 2 lies within real 1 (a tie, d = rho = 1) and real 3 (itself): identity-in.
    # Restored radii 1.5, 8, 1.5: every real is in; real 1 only near other people.
    real = np.array([[0.0], [1.0], [3.0]])
    fake = np.array([[0.5], [10.0], [2.0]])
    np.testing.assert_array_equal(neighbourhood_radii(real, 1), [1.0, 1.0, 2.0])
    want = {"precision": 2 / 3, "recall": 1.0, "iprecision": 2 / 3, "irecall": 2 / 3}
    assert algorithm1(real, fake, k=1) == pytest.approx(want)
    assert identity_precision_recall(real, fake, k=1, dtype=np.float64) == pytest.approx(want)


@pytest.mark.parametrize("fn", [algorithm1, identity_precision_recall])
def test_k_not_below_set_size_is_an_error(fn):
    x = np.random.default_rng(22).standard_normal((5, 3))
    for k in (5, 6):
        with pytest.raises(ValueError, match="more than k points"):
            fn(x, x + 0.1, k=k)
    with pytest.raises(ValueError, match="k"):
        fn(x, x, k=0)
