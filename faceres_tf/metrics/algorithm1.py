"""Algorithm 1 of the paper ("Precision and iPrecision", appendix B.1), corrected.

This module is the executable specification of the metric (docs/method.md
§6): short, float64, the full N x N distance matrices in memory. The fast
implementation, :func:`faceres_tf.metrics.identity_precision_recall`
(``precision_recall.py``: blocked, float32 BLAS, O(N * k + chunk^2) memory),
is tested against it.

Definitions [paper, Algorithm 1, corrected; recall ours]:

* ``E_r`` (N_r, F): identity features of the real (ground-truth) set R;
  ``E_g`` (N_g, F): features of the restored set G, from the same network.
* ``rho_k(r)``: distance from r to its k-th nearest neighbour among the
  *other* points of its own set (r itself excluded by index, so an exact
  duplicate of r is a neighbour at distance 0).
* g is **in** when ``d(g, r) <= rho_k(r)`` for some real r (precision,
  Kynkäänniemi et al. 2019); g is **identity-in** when such an r also shows
  the same person as g. ``precision`` / ``iprecision`` are the fractions of
  restored points that are in / identity-in.
* ``recall`` / ``irecall`` [ours]: the same with the roles of R and G
  swapped. Algorithm 1 ("B.1 pseudo-code for precision") defines only
  precision and iPrecision; the paper names iRecall (appendix B, Fig. 8)
  without code, and the swap is Kynkäänniemi et al.'s definition of recall.
* Identity: restored i and real i are the same person (paired sets), or
  labels ``real_ids`` / ``restored_ids`` say who is who.

The appendix's pseudo-code has four bugs that this corrects; as printed it
crashes (bugs 1 and 2) before it can compute anything:

1. line 18 ``dist[:, :, None] <= rn_dist``: ``dist`` is 1-D (N,), so three
   indices raise ``IndexError``; ``dist[:, None]`` ((N, 1) against the
   (N, k+1) radii) is meant.
2. line 22 ``np.logical_and(eg_in, eg_id_eq)``: (N, k+1) with (N,) does not
   broadcast (unless N == k + 1); ``eg_id_eq[:, None]`` is meant.
3. line 23: ``eg_dist_in`` is undefined; ``eg_in`` is meant.
4. lines 29-30 stack the last prediction (``pred`` / ``ipred``) instead of
   the lists ``precision`` / ``iprecision``.

Its line 12 keeps each point itself as neighbour 0 ("we also store the info
of data itself"), which is why the k-th neighbour here excludes the point
itself.
"""

from __future__ import annotations

import numpy as np


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances, (N_a, F) x (N_b, F) -> (N_a, N_b), float64."""
    diff = a[:, None, :] - b[None, :, :]  # (N_a, N_b, F)
    return np.sqrt(np.einsum("ijf,ijf->ij", diff, diff))


def neighbourhood_radii(features: np.ndarray, k: int) -> np.ndarray:
    """rho_k of every point: distance to its k-th nearest *other* point, (N,)."""
    n = features.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k={k} needs more than k points to define neighbourhoods; "
                         f"the set has {n}.")
    d = pairwise_distances(features, features)  # (N, N)
    np.fill_diagonal(d, np.inf)  # the point itself is not its own neighbour
    return np.sort(d, axis=1)[:, k - 1]  # (N,)


def _features(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, F) feature array, got shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf values.")
    return x


def algorithm1(real, restored, k: int = 3, real_ids=None, restored_ids=None) -> dict:
    """Precision, recall, iPrecision, iRecall of ``restored`` against ``real``.

    Args:
        real: (N_r, F) ground-truth features.
        restored: (N_g, F) restored features.
        k: neighbourhood size, 1 <= k < N_r and k < N_g.
        real_ids, restored_ids: identity labels (compared as strings); default:
            pair by index (needs N_r == N_g).

    Returns:
        {"precision", "recall", "iprecision", "irecall"}: floats in [0, 1].
    """
    e_r, e_g = _features(real, "real"), _features(restored, "restored")
    if real_ids is None and restored_ids is None:
        if len(e_r) != len(e_g):
            raise ValueError("pairing by index needs equal set sizes; pass identity labels.")
        real_ids, restored_ids = np.arange(len(e_r)), np.arange(len(e_g))
    id_r = np.asarray([str(v) for v in real_ids])  # (N_r,)
    id_g = np.asarray([str(v) for v in restored_ids])  # (N_g,)
    rho_r = neighbourhood_radii(e_r, k)  # (N_r,)
    rho_g = neighbourhood_radii(e_g, k)  # (N_g,)
    d_gr = pairwise_distances(e_g, e_r)  # (N_g, N_r)
    same = id_g[:, None] == id_r[None, :]  # (N_g, N_r): g and r show the same person
    g_in = d_gr <= rho_r[None, :]  # (N_g, N_r): g inside r's neighbourhood
    r_in = d_gr.T <= rho_g[None, :]  # (N_r, N_g): r inside g's neighbourhood
    return {
        "precision": float(g_in.any(axis=1).mean()),
        "recall": float(r_in.any(axis=1).mean()),
        "iprecision": float((g_in & same).any(axis=1).mean()),
        "irecall": float((r_in & same.T).any(axis=1).mean()),
    }
