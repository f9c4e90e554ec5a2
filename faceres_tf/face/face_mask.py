"""A paste-back mask that follows the face: dlib's 68 landmarks. [ours]

GFPGAN and CodeFormer paste the restored face back through a face-parsing
mask, so hair, ears and background inside the aligned square keep the
photo's pixels. Here the mask comes from dlib's 68-point shape predictor
(``shape_predictor_68_face_landmarks.dat``, shipped in the
``face-recognition-models`` wheel, offline): the convex hull of the jaw line
(points 0-16) and of the eyebrows (17-26) raised towards the hairline by
``FOREHEAD`` x (chin - brow line), eroded and Gaussian-feathered (both
``FEATHER`` x R), times the square mask of :mod:`faceres_tf.face.paste_back`
(never beyond the crop). Built in the aligned frame, per face.

Fallback, with a reason: the square feathered mask when dlib or the model
file is missing (``pip install "faceres_tf[eval]"`` installs both), or when
the landmarks are implausible (the hull covers too little or too much of the
crop, or its eyes are far from the template's: heavily degraded faces).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np

from faceres_tf.face import alignment, paste_back

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
FOREHEAD = 0.35  # brows raised by this fraction of the brow-to-chin height
FEATHER = 1.0 / 40.0  # erosion and blur sigma, fraction of R
# Plausible hull area, fraction of the R x R crop (measured range on aligned
# faces is ~0.35-0.6; outside these bounds the landmarks are wrong).
MIN_AREA, MAX_AREA = 0.15, 0.85
MAX_EYE_ERROR = 0.08  # eye centre vs template, fraction of R


def predictor_path() -> Path | None:
    """The 68-point model file of ``face-recognition-models``, or None."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE
    return path if path.is_file() else None


@functools.lru_cache(maxsize=1)
def _predictor():
    """``(dlib shape predictor, "")`` or ``(None, why not)``; loaded once."""
    try:
        import dlib
    except ImportError:
        return None, "dlib is not installed"
    path = predictor_path()
    if path is None:
        return None, f"{PREDICTOR_FILE} not found (pip install face-recognition-models)"
    return dlib.shape_predictor(str(path)), ""


def unavailable_reason() -> str:
    """"" when landmark masks can be made, else why not (one phrase)."""
    return _predictor()[1]


def landmarks68(rgb: np.ndarray, box) -> np.ndarray | None:
    """The 68 dlib landmarks (68, 2) float64 of the face in ``box`` (x0, y0,
    x1, y1) of the uint8 RGB photo, or None without dlib."""
    import dlib

    predictor = _predictor()[0]
    if predictor is None:
        return None
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    shape = predictor(np.ascontiguousarray(rgb), dlib.rectangle(x0, y0, x1, y1))
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


def mask_from_landmarks(points: np.ndarray, resolution: int) -> np.ndarray | None:
    """Soft face mask float32 (R, R) in [0, 1] from 68 landmarks in the aligned
    frame, or None when they are implausible (see the module doc)."""
    r = resolution
    jaw, brows = points[:17], points[17:27]
    chin_y = points[8, 1]
    lift = FOREHEAD * max(chin_y - brows[:, 1].mean(), 0.0)
    raised = brows - np.array([0.0, lift])
    hull = cv2.convexHull(np.concatenate([jaw, raised]).astype(np.float32))
    area = cv2.contourArea(hull) / float(r * r)
    eyes = np.stack([points[36:42].mean(0), points[42:48].mean(0)])
    template_eyes = alignment.template(r)[:2]  # five-point template: left eye, right eye first
    if not MIN_AREA <= area <= MAX_AREA:
        return None
    if np.abs(eyes[np.argsort(eyes[:, 0])] - template_eyes[np.argsort(template_eyes[:, 0])]).max() > MAX_EYE_ERROR * r:
        return None
    scale = 8  # sub-pixel polygon edges
    hard = np.zeros((r, r), np.uint8)
    cv2.fillConvexPoly(hard, np.round(hull.reshape(-1, 2) * scale).astype(np.int32), 255, cv2.LINE_AA, 3)
    sigma = max(0.5, FEATHER * r)
    k = 2 * int(np.ceil(sigma)) + 1
    hard = cv2.erode(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    k = 2 * int(np.ceil(3.0 * sigma)) + 1
    soft = cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
    return soft * paste_back.feather_mask(r)


def face_mask(rgb: np.ndarray, box, matrix: np.ndarray, resolution: int) -> tuple:
    """``(mask, "")`` from landmarks, or ``(square mask, why)`` as the fallback."""
    reason = unavailable_reason()
    if not reason:
        points = landmarks68(rgb, box)
        mask = mask_from_landmarks(alignment.transform_points(points, matrix), resolution)
        if mask is not None:
            return mask, ""
        reason = "implausible landmarks"
    return paste_back.feather_mask(resolution), reason
