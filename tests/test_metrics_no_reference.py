"""BRISQUE wrapper: runs offline and ranks degraded faces below sharp ones."""

from pathlib import Path

import numpy as np
import pytest

from faceres_tf.metrics import no_reference

VAL = Path(__file__).resolve().parents[1] / "data" / "val"

needs_brisque = pytest.mark.skipif(not no_reference.brisque_available(),
                                   reason="optional package brisque not installed "
                                          "(pip install brisque)")


def _faces(n=3):
    from faceres_tf.data.faces import load_face

    return np.stack([load_face(p, 128) for p in sorted(VAL.glob("*.jpg"))[:n]])


@needs_brisque
def test_degraded_faces_score_worse_than_sharp_ones():
    import cv2

    faces = _faces()
    rng = np.random.default_rng(0)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in faces])
    noisy = np.clip(faces + rng.normal(0, 15, faces.shape), 0, 255).astype(np.uint8)
    small = np.stack([cv2.resize(cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA), (128, 128),
                                 interpolation=cv2.INTER_CUBIC) for f in faces])
    sharp = no_reference.brisque_scores(faces)
    assert sharp.shape == (3,) and sharp.dtype == np.float64 and np.isfinite(sharp).all()
    for worse in (blurred, noisy, small):
        assert no_reference.brisque_scores(worse).mean() > sharp.mean() + 10
    # the same image alone or in a batch gives the same score (to solver tolerance)
    assert no_reference.brisque_scores(faces[0])[0] == pytest.approx(sharp[0], rel=1e-6)


@needs_brisque
def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="uint8 RGB"):
        no_reference.brisque_scores(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        no_reference.brisque_scores(np.zeros((64, 64, 3), np.float32))


def test_missing_package_is_reported(monkeypatch):
    import sys

    no_reference._model.cache_clear()
    monkeypatch.setitem(sys.modules, "brisque", None)  # import brisque -> ImportError
    try:
        assert not no_reference.brisque_available()
        with pytest.raises(no_reference.BrisqueUnavailable, match="pip install brisque"):
            no_reference.brisque_scores(np.zeros((64, 64, 3), np.uint8))
    finally:
        no_reference._model.cache_clear()
