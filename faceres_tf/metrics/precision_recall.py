"""Precision / recall and iPrecision / iRecall: the fast implementation.

The metric is the paper's Algorithm 1, corrected (``docs/method.md`` §6); its
executable specification is :func:`faceres_tf.metrics.algorithm1.algorithm1`
(float64, full distance matrices), and this module is tested against it. In
short: ``rho_k(r)`` is the distance from a real point to its k-th nearest
*other* real point; a restored point is *in* when it lies within some real
point's radius, *identity-in* when that real point is also the same person
(restored i <-> real i, or identity labels); recall / iRecall swap the sets.

Implementation [ours]:

* Tiles of ``chunk x chunk``: memory ``O(N * K + chunk^2)``, never ``O(N^2)``.
  Squared distances ``|a|^2 + |b|^2 - 2 a.b`` come from one float32 BLAS
  matmul on augmented vectors ``[-2a, 1, |a|^2] . [b, |b|^2, 1]``. The k-NN
  radii scan full rows below 256-d and, from 256-d on, only the tiles on and
  above the block diagonal, keeping the entries under an upper bound from a
  random sample (``_knn_sq_dists``). One restored x real tile serves both
  precision (row minima) and recall (column minima), thresholds folded into
  the matmul (``_cross_in``); tiles whose points are all "in" are skipped.
  Features are centred on the mean of both sets first (translation invariant;
  it removes most of the expansion's cancellation error).
* Tie tolerance: a pair is inside when ``d^2 <= rho^2 + rtol (|a|^2 + |b|^2)``
  (centred norms), ``rtol = 1e-5`` for float32 (about the worst-case rounding
  of a 512-d dot product), ``1e-12`` for float64, so exact ties do not flip
  with rounding. A float32 result lies between Algorithm 1's exact one and
  the one with ``rtol = 2e-5``; ``dtype=np.float64`` decides as Algorithm 1.
* Same-identity pairs are re-checked with exact float64 differences and an
  identity-in point also counts as in: ``iprecision <= precision`` and
  ``irecall <= recall`` hold exactly; identical sets give exactly 1.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

DEFAULT_CHUNK = 2048
# From this feature size on, the k-NN radii use the symmetric half of the
# distance matrix (measured: faster at d = 512, slower at d = 128 on 2 cores).
SYMMETRIC_MIN_DIM = 256


def _as_features(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, d) feature array, got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf values.")
    return x.astype(np.float64, copy=False)


def _smallest_k(tile: np.ndarray, k: int) -> np.ndarray:
    """The k smallest values of each row (unsorted); overwrites ``tile``.

    For small k, k argmin sweeps (SIMD, ~0.2 ns/element each) beat
    ``np.partition`` (~2 ns/element) by a wide margin.
    """
    if k >= tile.shape[1]:
        return tile.copy()
    if k > 8:
        return np.partition(tile, k - 1, axis=1)[:, :k]
    rows = np.arange(tile.shape[0])
    out = np.empty((tile.shape[0], k), dtype=tile.dtype)
    for t in range(k):
        j = tile.argmin(axis=1)
        out[:, t] = tile[rows, j]
        tile[rows, j] = np.inf
    return out


def _augment(x: np.ndarray, x_last: np.ndarray, y: np.ndarray, y_last: np.ndarray,
             dtype) -> tuple[np.ndarray, np.ndarray]:
    """``lhs = [-2x, 1, x_last]``, ``rhs_t = [y, y_last, 1]^T``: ``lhs[i] . rhs_t[:, j] =
    x_last_i + y_last_j - 2 x_i.y_j``, i.e. ``|x_i - y_j|^2`` for the squared norms."""
    lhs = np.concatenate([-2.0 * x, np.ones((x.shape[0], 1)), x_last[:, None]], axis=1).astype(dtype)
    rhs = np.concatenate([y, y_last[:, None], np.ones((y.shape[0], 1))], axis=1)
    return lhs, np.ascontiguousarray(rhs.T.astype(dtype))


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _merge_smallest(best: np.ndarray, rows: np.ndarray | slice, tile: np.ndarray, k: int):
    """Updates ``best[rows]`` (sorted k smallest) with the rows of ``tile``; overwrites tile."""
    cur = best[rows]
    upd = np.flatnonzero(tile.min(axis=1) < cur[:, -1])
    if upd.size == 0:
        return
    if 4 * upd.size > tile.shape[0]:  # most rows change: skip the row gather
        upd = np.arange(tile.shape[0])
        sub = _smallest_k(tile, k)
    else:
        sub = _smallest_k(tile[upd], k)
    merged = np.concatenate([cur[upd], sub], axis=1)
    merged.sort(axis=1)
    cur[upd] = merged[:, :k]
    best[rows] = cur


def _knn_sq_dists_rowwise(x: np.ndarray, rows: np.ndarray | None, max_k: int, chunk: int, dtype) -> np.ndarray:
    """k smallest squared distances (self excluded) by full row scans, ``(len(rows), k)``.

    ``rows=None`` means all rows. Per tile: one row-min pass, then k argmin
    sweeps only on rows whose minimum beats their running k-th smallest.
    """
    n = x.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    contiguous = len(rows) == n
    sq = _sq_norms(x)
    lhs, rhs_t = _augment(x, sq, x, sq, dtype)
    best = np.full((len(rows), max_k), np.inf, dtype=dtype)
    for s0 in range(0, len(rows), chunk):
        sel = rows[s0:s0 + chunk]
        a = lhs[s0:s0 + len(sel)] if contiguous else lhs[sel]
        for j0 in range(0, n, chunk):
            j1 = min(n, j0 + chunk)
            tile = a @ rhs_t[:, j0:j1]
            own = (sel >= j0) & (sel < j1)
            tile[np.flatnonzero(own), sel[own] - j0] = np.inf
            _merge_smallest(best, slice(s0, s0 + len(sel)), tile, max_k)
    return best


def _merge_hits(best: np.ndarray, offset: int, points: list, values: list, k: int) -> None:
    """Writes the k smallest ``values`` per point into ``best[point - offset]`` (sorted)."""
    if not points:
        return
    p = np.concatenate(points)
    v = np.concatenate(values)
    order = np.lexsort((v, p))
    p, v = p[order], v[order]
    starts = np.searchsorted(p, p, side="left")  # first position of each point's group
    rank = np.arange(len(p)) - starts
    keep = rank < k
    best[p[keep] - offset, rank[keep]] = v[keep]


def _sample_bounds(lhs, rhs_t, sq, max_k: int, chunk: int, dtype, seed: int) -> np.ndarray:
    """Upper bounds ``(N,)`` of each point's k-th smallest squared distance: the
    k-th smallest to a random sample of m other points, plus a rounding slack."""
    n = lhs.shape[0]
    m = min(n, max(512, min(4096, n // 12)))
    sample = np.sort(np.random.default_rng(seed).choice(n, m, replace=False))
    rhs_s = np.ascontiguousarray(rhs_t[:, sample])
    bound = np.empty(n, dtype=np.float64)
    for i0 in range(0, n, chunk):
        i1 = min(n, i0 + chunk)
        tile = lhs[i0:i1] @ rhs_s
        rows = np.arange(i0, i1)
        pos = np.searchsorted(sample, rows)
        own = (pos < m) & (sample[np.minimum(pos, m - 1)] == rows)
        tile[np.flatnonzero(own), pos[own]] = np.inf
        bound[i0:i1] = _smallest_k(tile, max_k).max(axis=1)
    # slack for float32 rounding differences between the two passes
    eps = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    return (bound + eps * (np.abs(bound) + sq + sq.max())).astype(dtype)


def _knn_sq_dists(x: np.ndarray, max_k: int, chunk: int = DEFAULT_CHUNK,
                  dtype=np.float32, seed: int = 0) -> np.ndarray:
    """Squared distances to the 1st..max_k-th nearest other point, ``(N, max_k)``.

    ``x`` is float64 (already centred). The point itself is excluded by index.
    Below ``SYMMETRIC_MIN_DIM`` features the matmul is cheap and extracting
    hits would cost more than the half of the matmuls it saves: full row scans
    (:func:`_knn_sq_dists_rowwise`); otherwise :func:`_knn_sq_dists_symmetric`.
    """
    n = x.shape[0]
    if n <= max_k:
        raise ValueError(
            f"k={max_k} needs more than k points to define neighbourhoods; the set has {n}.")
    if x.shape[1] < SYMMETRIC_MIN_DIM:
        best = _knn_sq_dists_rowwise(x, None, max_k, chunk, dtype)
    else:
        best = _knn_sq_dists_symmetric(x, max_k, chunk, dtype, seed)
    return np.maximum(best.astype(np.float64), 0.0)


def _knn_sq_dists_symmetric(x: np.ndarray, max_k: int, chunk: int, dtype, seed: int) -> np.ndarray:
    """:func:`_knn_sq_dists` from the tiles on and above the block diagonal.

    1. Upper bounds: ``u_i`` = k-th smallest distance from i to a random
       sample of m other points (m ~ N/12, 512..4096), plus a rounding slack.
       The true k-th neighbour distance is <= ``u_i``.
    2. One pass over the tiles on and above the block diagonal (the distance
       matrix is symmetric, so half the matmuls): each tile yields, for its
       rows and for its columns, only the entries <= ``u`` ("hits", about
       k * chunk / m per point and tile) via a compare + ``flatnonzero``.
    3. When a row block is complete, its hits are sorted and the k smallest
       kept. Rows with fewer than k hits (impossible unless the slack was too
       small) are redone by exact full row scans.
    """
    n = x.shape[0]
    sq = _sq_norms(x)
    lhs, rhs_t = _augment(x, sq, x, sq, dtype)
    bound = _sample_bounds(lhs, rhs_t, sq, max_k, chunk, dtype, seed)  # 1.
    best = np.full((n, max_k), np.inf, dtype=dtype)
    starts = list(range(0, n, chunk))
    hit_p: dict[int, list] = {i0: [] for i0 in starts}  # block start -> point indices
    hit_v: dict[int, list] = {i0: [] for i0 in starts}  # block start -> their distances
    for i0 in starts:  # 2.
        i1 = min(n, i0 + chunk)
        for j0 in starts[starts.index(i0):]:
            j1 = min(n, j0 + chunk)
            tile = lhs[i0:i1] @ rhs_t[:, j0:j1]  # (rows, cols) squared distances
            width = j1 - j0
            if j0 == i0:
                idx = np.arange(i1 - i0)
                tile[idx, idx] = np.inf
            flat = tile.ravel()
            f = np.flatnonzero(tile <= bound[i0:i1, None])
            hit_p[i0].append(f // width + i0)
            hit_v[i0].append(flat[f])
            if j0 != i0:
                f = np.flatnonzero(tile <= bound[None, j0:j1])
                hit_p[j0].append(f % width + j0)
                hit_v[j0].append(flat[f])
        _merge_hits(best[i0:i1], i0, hit_p.pop(i0), hit_v.pop(i0), max_k)  # 3.
    short = np.flatnonzero(~np.isfinite(best[:, -1]))
    if short.size:
        best[short] = _knn_sq_dists_rowwise(x, short, max_k, chunk, dtype)
    return best


def knn_radii(features, k: int = 3, chunk: int = DEFAULT_CHUNK, dtype=np.float32) -> np.ndarray:
    """Distance from each point to its k-th nearest neighbour (itself excluded).

    Args:
        features: ``(N, d)`` array, ``N > k``.
        k: neighbourhood size (1 = nearest other point).
        chunk: tile size; memory is ``O(N * k + chunk^2)``.
        dtype: matmul precision (float32 default, float64 for exactness).

    Returns:
        ``(N,)`` float64 Euclidean distances.
    """
    x = _as_features(features, "features")
    x = x - x.mean(axis=0)
    return np.sqrt(_knn_sq_dists(x, int(k), chunk, dtype)[:, -1])


def _cross_in(g: np.ndarray, r: np.ndarray, rho2_r: np.ndarray, rho2_g: np.ndarray,
              rtol: float, chunk: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Both membership tests from one distance tile per block pair and level.

    Returns ``g_in (Ng, L)``: g_i within some r_j's neighbourhood
    (``d^2 <= rho2_r[j] + rtol(|g_i|^2 + |r_j|^2)``), and ``r_in (Nr, L)``: the
    same with roles swapped (radii ``rho2_g``).

    Both thresholds are folded into the augmented factors, so the tile holds
    ``t_ij = d_ij^2 - a_i - b_j`` with ``a = rho2_g + rtol|g|^2`` and
    ``b = rho2_r + rtol|r|^2``. Since ``a_i`` is constant along a row and
    ``b_j`` along a column: g_i is in iff ``min_j t_ij <= rtol|g_i|^2 - a_i``
    and r_j is in iff ``min_i t_ij <= rtol|r_j|^2 - b_j``: one matmul and two
    min-reductions per tile, no elementwise pass.
    """
    g_sq, r_sq = _sq_norms(g), _sq_norms(r)
    levels = rho2_r.shape[1]
    g_in = np.zeros((g.shape[0], levels), dtype=bool)
    r_in = np.zeros((r.shape[0], levels), dtype=bool)
    for lev in range(levels):
        a = rho2_g[:, lev] + rtol * g_sq
        b = rho2_r[:, lev] + rtol * r_sq
        lhs, rhs_t = _augment(g, g_sq - a, r, r_sq - b, dtype)
        lim_g = (rtol * g_sq - a).astype(dtype)
        lim_r = (rtol * r_sq - b).astype(dtype)
        gl, rl = g_in[:, lev], r_in[:, lev]
        for i0 in range(0, g.shape[0], chunk):
            i1 = min(g.shape[0], i0 + chunk)
            for j0 in range(0, r.shape[0], chunk):
                j1 = min(r.shape[0], j0 + chunk)
                if gl[i0:i1].all() and rl[j0:j1].all():
                    continue  # nothing left to decide in this tile
                tile = lhs[i0:i1] @ rhs_t[:, j0:j1]  # d^2 - a_i - b_j
                gl[i0:i1] |= tile.min(axis=1) <= lim_g[i0:i1]
                rl[j0:j1] |= tile.min(axis=0) <= lim_r[j0:j1]
    return g_in, r_in


def _identity_pairs(ids_q, ids_r) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i, j) with ids_q[i] == ids_r[j] (labels compared as strings)."""
    allv = np.asarray([str(v) for v in ids_q] + [str(v) for v in ids_r])
    _, codes = np.unique(allv, return_inverse=True)
    cq, cr = codes[: len(ids_q)], codes[len(ids_q):]
    oq, orr = np.argsort(cq, kind="stable"), np.argsort(cr, kind="stable")
    sq, sr = cq[oq], cr[orr]
    common = np.intersect1d(sq, sr)
    qs, rs = [], []
    q_lo, q_hi = np.searchsorted(sq, common, "left"), np.searchsorted(sq, common, "right")
    r_lo, r_hi = np.searchsorted(sr, common, "left"), np.searchsorted(sr, common, "right")
    for a0, a1, b0, b1 in zip(q_lo, q_hi, r_lo, r_hi):
        qi, rj = oq[a0:a1], orr[b0:b1]
        qs.append(np.repeat(qi, len(rj)))
        rs.append(np.tile(rj, len(qi)))
    if not qs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(qs), np.concatenate(rs)


def _identity_in(q, ref, ref_rho2, pairs_q, pairs_r, rtol, block=1 << 16) -> np.ndarray:
    """``(Nq, L)`` bool: q_i within the neighbourhood of a same-identity ref point (float64)."""
    found = np.zeros((q.shape[0], ref_rho2.shape[1]), dtype=bool)
    for s in range(0, len(pairs_q), block):
        pq, pr = pairs_q[s:s + block], pairs_r[s:s + block]
        diff = q[pq] - ref[pr]
        tol = rtol * (_sq_norms(q[pq]) + _sq_norms(ref[pr]))
        inside = _sq_norms(diff)[:, None] <= ref_rho2[pr] + tol[:, None]
        np.logical_or.at(found, pq, inside)
    return found


def _precision_recall_levels(real_features, restored_features, ks: Sequence[int], real_ids=None,
                             restored_ids=None, chunk: int = DEFAULT_CHUNK, dtype=np.float32,
                             rtol: float | None = None) -> dict[str, np.ndarray]:
    real = _as_features(real_features, "real_features")
    fake = _as_features(restored_features, "restored_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape}, restored {fake.shape}.")
    ks = [int(k) for k in ks]
    if min(ks) < 1:
        raise ValueError(f"k must be >= 1, got {ks}.")
    if (real_ids is None) != (restored_ids is None):
        raise ValueError("give both real_ids and restored_ids, or neither (pairing by index).")
    if real_ids is None:
        if real.shape[0] != fake.shape[0]:
            raise ValueError(
                f"pairing by index needs equal set sizes (real {real.shape[0]}, restored "
                f"{fake.shape[0]}); pass real_ids / restored_ids labels otherwise.")
        pg = pr = np.arange(real.shape[0])
    else:
        real_ids, restored_ids = np.asarray(real_ids), np.asarray(restored_ids)
        if len(real_ids) != real.shape[0] or len(restored_ids) != fake.shape[0]:
            raise ValueError(
                f"id labels must have one entry per feature row: real_ids {len(real_ids)} vs "
                f"{real.shape[0]}, restored_ids {len(restored_ids)} vs {fake.shape[0]}.")
        pg, pr = _identity_pairs(restored_ids, real_ids)
    rtol = (1e-5 if np.dtype(dtype) == np.float32 else 1e-12) if rtol is None else float(rtol)
    center = (real.sum(axis=0) + fake.sum(axis=0)) / (len(real) + len(fake))
    real, fake = real - center, fake - center
    max_k = max(ks)
    cols = [k - 1 for k in ks]
    rho2_real = _knn_sq_dists(real, max_k, chunk, dtype)[:, cols]
    rho2_fake = _knn_sq_dists(fake, max_k, chunk, dtype)[:, cols]
    fake_in, real_in = _cross_in(fake, real, rho2_real, rho2_fake, rtol, chunk, dtype)
    fake_id_in = _identity_in(fake, real, rho2_real, pg, pr, rtol)
    real_id_in = _identity_in(real, fake, rho2_fake, pr, pg, rtol)
    fake_in |= fake_id_in
    real_in |= real_id_in
    return {
        "k": np.asarray(ks),
        "precision": fake_in.mean(axis=0),
        "recall": real_in.mean(axis=0),
        "iprecision": fake_id_in.mean(axis=0),
        "irecall": real_id_in.mean(axis=0),
    }


def identity_precision_recall(real_features, restored_features, k: int = 3,
                              real_ids: Sequence[Hashable] | None = None,
                              restored_ids: Sequence[Hashable] | None = None,
                              chunk: int = DEFAULT_CHUNK, dtype=np.float32,
                              rtol: float | None = None) -> dict[str, float]:
    """Precision, recall, iPrecision and iRecall at neighbourhood size ``k``.

    Args:
        real_features: ``(N_r, d)`` identity features of the ground-truth set.
        restored_features: ``(N_g, d)`` features of the restored set (same network).
        k: neighbourhood size (paper: 3 [ours default; the paper does not state k]).
        real_ids, restored_ids: optional identity labels (any hashable values,
            compared as strings when the types differ). Default: pair by index
            (restored i is the restoration of real i; needs ``N_r == N_g``).
        chunk: side of the square distance tiles (memory ``O(chunk^2)``).
        dtype: matmul precision, float32 (fast, default) or float64.
        rtol: tie tolerance (see module docstring); default by dtype.

    Returns:
        ``{"precision", "recall", "iprecision", "irecall"}`` as Python floats in
        [0, 1], with ``iprecision <= precision`` and ``irecall <= recall``.
    """
    res = _precision_recall_levels(real_features, restored_features, [k], real_ids,
                                   restored_ids, chunk, dtype, rtol)
    return {name: float(res[name][0]) for name in ("precision", "recall", "iprecision", "irecall")}


def identity_precision_recall_curve(real_features, restored_features, max_k: int = 10,
                                    real_ids: Sequence[Hashable] | None = None,
                                    restored_ids: Sequence[Hashable] | None = None,
                                    chunk: int = DEFAULT_CHUNK, dtype=np.float32,
                                    rtol: float | None = None) -> dict[str, np.ndarray]:
    """Like :func:`identity_precision_recall` for every k in 1..max_k at once.

    Returns:
        dict of ``(max_k,)`` arrays: ``k`` (1..max_k), ``precision``, ``recall``,
        ``iprecision``, ``irecall`` (all non-decreasing in k).
    """
    return _precision_recall_levels(real_features, restored_features, range(1, int(max_k) + 1),
                                    real_ids, restored_ids, chunk, dtype, rtol)
