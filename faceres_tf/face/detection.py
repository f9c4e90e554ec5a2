"""Face detection with five landmarks (MTCNN, the ``mtcnn`` PyPI package).

[ours] The paper restores aligned faces only; whole photos need a detector.
MTCNN (Zhang et al. 2016) ships its weights inside the wheel, so it works
offline. Speed: photos are downscaled (INTER_AREA) so that their longer side is
at most ``max_side`` pixels before detection, and the boxes / landmarks are
mapped back to the original pixel grid. This bounds detection time and memory
for huge photos (e.g. 8000 x 6000) at the cost of missing faces smaller than
about ``20 * long_side / max_side`` pixels.

Coordinates: (x, y) pixels of the *original* photo, pixel centres at integers.
Landmark order: eye on the image's left, eye on the image's right, nose, left
and right mouth corners (the order of ``alignment.FFHQ_TEMPLATE_512``).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class DetectedFace:
    """One detection.

    Attributes:
        box: (x0, y0, x1, y1) float, original-photo pixels.
        confidence: detector score in [0, 1].
        landmarks: (5, 2) float64 (x, y), order as in the module docstring.
    """

    box: tuple
    confidence: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        """Face size in pixels: the shorter side of the box."""
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @property
    def center(self) -> tuple:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)


@functools.lru_cache(maxsize=2)
def _mtcnn(device: str):
    """One MTCNN per device and process (building it costs seconds)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mtcnn import MTCNN  # imported lazily: it builds TF models at import time

    detector = MTCNN(device=device)
    # mtcnn 1.0 calls its three Keras networks eagerly; compiling each call as a
    # shape-generic tf.function makes detection ~25% faster. Internal
    # attributes: if a later mtcnn version renames them, this is skipped.
    import tensorflow as tf  # already loaded by mtcnn; this module stays TF-free until here

    for stage in getattr(detector, "_stages", []):
        model = getattr(stage, "_model", None)
        if model is not None and not isinstance(model, tf.types.experimental.PolymorphicFunction):
            stage._model = tf.function(model, reduce_retracing=True)
    return detector


class FaceDetector:
    """MTCNN wrapper: RGB uint8 photo -> list of :class:`DetectedFace`.

    Args:
        max_side: longer side (pixels) the photo is downscaled to before
            detection; 0 disables downscaling. [ours] 1024.
        threshold: MTCNN's final-stage (ONet) score threshold; detections
            below it are never returned. Keep it below the pipeline's
            ``min_confidence`` so that low-confidence faces can be reported.
        device: TF device string for MTCNN.
    """

    def __init__(self, max_side: int = 1024, threshold: float = 0.8, device: str = "CPU:0"):
        self.max_side = int(max_side)
        self.threshold = float(threshold)
        self._mtcnn = _mtcnn(device)

    def detect(self, rgb: np.ndarray) -> list[DetectedFace]:
        """Detect faces in an RGB uint8 (H, W, 3) photo; largest face first."""
        h, w = rgb.shape[:2]
        factor = 1.0
        if self.max_side and max(h, w) > self.max_side:
            factor = self.max_side / float(max(h, w))
            small = cv2.resize(
                rgb, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA
            )
        else:
            small = rgb
        if min(small.shape[:2]) < 12:  # smaller than MTCNN's 12 px receptive field
            return []
        sx, sy = small.shape[1] / w, small.shape[0] / h
        # numpy rows: [batch, x, y, w, h, conf, lx1..lx5, ly1..ly5] (float landmarks).
        out = self._mtcnn.detect_faces(
            np.ascontiguousarray(small), output_type="numpy", threshold_onet=min(self.threshold, 0.99)
        )
        out = np.asarray(out, dtype=np.float64).reshape(-1, 16) if len(out) else np.zeros((0, 16))
        faces = []
        for row in out:
            x, y, bw, bh, conf = row[1:6]
            # small-pixel centre u -> original (u + 0.5) / s - 0.5
            lm = np.stack([row[6:11], row[11:16]], axis=1)
            lm = (lm + 0.5) / np.array([sx, sy]) - 0.5
            box = ((x) / sx, (y) / sy, (x + bw) / sx, (y + bh) / sy)
            faces.append(DetectedFace(box=tuple(float(v) for v in box), confidence=float(conf), landmarks=lm))
        faces.sort(key=lambda f: -f.size)
        return faces


def center_face(faces: list[DetectedFace], image_shape) -> list[DetectedFace]:
    """The one face whose box centre is closest to the photo centre ([] if none)."""
    if not faces:
        return []
    h, w = image_shape[:2]
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    return [min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)]
