"""No-reference quality of faces without a ground truth: BRISQUE [ours].

BRISQUE (Mittal, Moorthy and Bovik, IEEE TIP 2012) scores natural-scene
statistics of the locally normalised luminance with an SVR trained on the
LIVE IQA database: **lower is better** (about 0-100; sharp photographs ~0-20,
blurred or heavily compressed ones 40-80). We use the ``brisque`` wheel
(PyPI ``brisque`` 0.2.0, Apache-2.0): it bundles its SVR and normalisation
files, so it runs offline. It is an optional dependency (extra ``nr``);
:func:`brisque_available` says whether it is installed.

Its 0.2.0 release fails on NumPy >= 2 (``float()`` of a length-1 array);
:func:`brisque_scores` flattens the features before the package's own
scaling and SVR, which is the only change. Images: RGB ``(H, W, 3)`` or
``(N, H, W, 3)``, uint8 (0-255), at least 32 x 32 pixels. The score depends on
the size, so compare images of the same size only.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

__all__ = ["BrisqueUnavailable", "brisque_available", "brisque_scores"]

MIN_SIDE = 32


class BrisqueUnavailable(ImportError):
    """The optional ``brisque`` package is not installed."""


def brisque_available() -> bool:
    try:
        _model()
    except BrisqueUnavailable:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _model():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its scipy.ndimage.filters import is deprecated
            from brisque import BRISQUE
    except ImportError as e:
        raise BrisqueUnavailable(
            f"BRISQUE needs the optional package brisque ({e}); install it with "
            "pip install brisque") from None

    class _Brisque(BRISQUE):
        def scale_features(self, features):  # NumPy >= 2: features hold length-1 arrays
            flat = np.array([np.ravel(np.asarray(f, dtype=np.float64))[0] for f in features])
            return super().scale_features(flat)

    return _Brisque(url=False)


def brisque_scores(images) -> np.ndarray:
    """BRISQUE of each uint8 RGB image: (N,) float64, lower is better."""
    x = np.asarray(images)
    x = x[None] if x.ndim == 3 else x
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8 or min(x.shape[1:3]) < MIN_SIDE:
        raise ValueError(f"expected uint8 RGB images (H, W, 3) or (N, H, W, 3) of at least "
                         f"{MIN_SIDE} x {MIN_SIDE} pixels, got {x.dtype} {x.shape}.")
    model = _model()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.array([float(model.score(im)) for im in x])
