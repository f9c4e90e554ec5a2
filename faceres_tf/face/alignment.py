"""Similarity alignment of a face onto the FFHQ five-point template.

[ours; the field's standard pipeline, method.md section 8]. Five landmarks
(eye on the image's left, eye on the image's right, nose tip, left and right
mouth corners, in that order, (x, y) pixels) are mapped by a similarity
transform (rotation + uniform scale + translation, no reflection, no shear)
onto :data:`FFHQ_TEMPLATE_512` scaled by R/512. The transform is the
least-squares (Umeyama 1991) fit, which is exact for a similarity-transformed
template and the maximum-likelihood fit for landmarks with isotropic noise; with
only five points an outlier-robust estimator (LMedS/RANSAC) would have almost
no redundancy to work with.

All matrices are 2x3 float64 affine matrices in OpenCV's convention: they map
*source* pixel coordinates (x, y) to *destination* coordinates, with pixel
centres at integer coordinates (as ``cv2.warpAffine`` assumes).
"""

from __future__ import annotations

import cv2
import numpy as np

# (x, y) at 512 x 512: left eye, right eye, nose tip, left / right mouth corner.
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.19360],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float64,
)


def template(resolution: int) -> np.ndarray:
    """The five-point template for an R x R face crop: (5, 2) float64."""
    return FFHQ_TEMPLATE_512 * (float(resolution) / 512.0)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform mapping ``src`` points onto ``dst``.

    Umeyama's closed form: rotation from the SVD of the cross-covariance (with
    the reflection case excluded), scale from the ratio of variances.

    Args:
        src, dst: (N, 2) point sets, N >= 2, corresponding rows.
    Returns:
        (2, 3) float64 matrix M with dst ~= M @ [x, y, 1].
    """
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or src.shape[0] < 2:
        raise ValueError(f"need two (N>=2, 2) point sets of equal shape, got {src.shape}, {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s <= 1e-12:
        raise ValueError("degenerate landmarks: all points coincide")
    cov = d0.T @ s0 / len(src)  # (2, 2)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # exclude reflections
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s
    t = mu_d - scale * rot @ mu_s
    return np.concatenate([scale * rot, t[:, None]], axis=1)


def alignment_matrix(landmarks: np.ndarray, resolution: int) -> np.ndarray:
    """Photo -> aligned-crop similarity matrix for one face's 5 landmarks."""
    return estimate_similarity(landmarks, template(resolution))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (float64)."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))


def scale_of(matrix: np.ndarray) -> float:
    """Uniform scale factor of a similarity matrix."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def warp_affine(src: np.ndarray, matrix: np.ndarray, dsize: tuple, interpolation=cv2.INTER_LINEAR,
                border_mode=cv2.BORDER_REFLECT101, border_value=0) -> np.ndarray:
    """``cv2.warpAffine`` with anti-aliasing when ``matrix`` shrinks by > 2x.

    ``warpAffine`` samples without a low-pass filter, so strong shrinking
    aliases. In that case the part of ``src`` that reaches the output is first
    resized with INTER_AREA to about twice the final scale, and the matrix is
    adjusted so that the result is geometrically the same.

    Args:
        src: (H, W) or (H, W, C) array.
        matrix: 2x3 src -> dst matrix (a similarity: uniform scale assumed).
        dsize: (width, height) of the output.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    scale = scale_of(matrix)
    if scale < 0.5:
        inv = invert(matrix)
        dw, dh = dsize
        corners = transform_points(np.array([[-1, -1], [dw, -1], [-1, dh], [dw, dh]], np.float64), inv)
        h, w = src.shape[:2]
        x0 = int(max(0, np.floor(corners[:, 0].min()) - 2))
        y0 = int(max(0, np.floor(corners[:, 1].min()) - 2))
        x1 = int(min(w, np.ceil(corners[:, 0].max()) + 3))
        y1 = int(min(h, np.ceil(corners[:, 1].max()) + 3))
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            f = 2.0 * scale  # after this pre-shrink the warp scales by ~0.5
            region = src[y0:y1, x0:x1]
            rw, rh = max(2, round((x1 - x0) * f)), max(2, round((y1 - y0) * f))
            small = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
            sx, sy = rw / (x1 - x0), rh / (y1 - y0)
            # small-pixel centre u sits at src coordinate (u + 0.5) / s - 0.5 + x0
            to_src = np.array([[1 / sx, 0, 0.5 / sx - 0.5 + x0], [0, 1 / sy, 0.5 / sy - 0.5 + y0]])
            m = matrix[:, :2] @ to_src[:, :2]
            t = matrix[:, :2] @ to_src[:, 2] + matrix[:, 2]
            src, matrix = small, np.concatenate([m, t[:, None]], 1)
    return cv2.warpAffine(src, matrix, tuple(int(v) for v in dsize), flags=interpolation,
                          borderMode=border_mode, borderValue=border_value)


def warp_face(image: np.ndarray, matrix: np.ndarray, resolution: int) -> np.ndarray:
    """Cut the aligned R x R face out of ``image`` (uint8 RGB) with ``matrix``.

    Bilinear sampling with anti-aliasing for faces larger than 2R (see
    :func:`warp_affine`). Pixels outside the photo are filled by reflection
    ([ours]; avoids hard black borders entering the network).
    """
    return warp_affine(image, matrix, (resolution, resolution), cv2.INTER_LINEAR, cv2.BORDER_REFLECT101)
