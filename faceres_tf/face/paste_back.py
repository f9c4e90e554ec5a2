"""Paste a restored, aligned face back into the photo with a feathered mask.

[ours; the field's standard pipeline]. The restored R x R face is warped back
with the inverse of the alignment similarity and alpha-blended through a soft
mask. The mask is built once per resolution in the *aligned* frame (ones,
inset from the border by 3 sigma, Gaussian-blurred with sigma = ``feather`` x
R; equivalent to an erosion followed by a blur), so its softness scales with the
face and no seam shows at any face size. The blend is done only inside the
bounding box of the warped square (a region of interest), so pasting into a
huge photo costs O(face area), not O(photo area), and memory stays bounded.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from faceres_tf.face import alignment


@functools.lru_cache(maxsize=8)
def feather_mask(resolution: int, feather: float = 1.0 / 48.0) -> np.ndarray:
    """Soft blending mask in the aligned frame: float32 (R, R) in [0, 1].

    1 in the centre, ~0 (< 0.002) on the border. ``feather`` is the Gaussian
    sigma as a fraction of R ([ours] 1/48: about 11 px at 512).
    """
    sigma = max(0.5, feather * resolution)
    inset = int(np.ceil(3.0 * sigma))
    mask = np.zeros((resolution, resolution), np.float32)
    if inset * 2 >= resolution:
        inset = resolution // 4
    mask[inset:resolution - inset, inset:resolution - inset] = 1.0
    k = 2 * int(np.ceil(3.0 * sigma)) + 1
    mask = cv2.GaussianBlur(mask, (k, k), sigma, borderType=cv2.BORDER_CONSTANT)
    mask.setflags(write=False)
    return mask


def rescale_matrix(matrix: np.ndarray, factor: float) -> np.ndarray:
    """Photo -> aligned matrix for the photo resized by ``factor``.

    A pixel centre u of the resized photo sits at photo coordinate
    (u + 0.5) / factor - 0.5 (the ``cv2.resize`` convention).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if factor == 1:
        return matrix.copy()
    a = matrix[:, :2]
    t = a @ np.full(2, 0.5 / factor - 0.5) + matrix[:, 2]
    return np.concatenate([a / factor, t[:, None]], axis=1)


def paste_face(canvas: np.ndarray, face: np.ndarray, matrix: np.ndarray, mask: np.ndarray | None = None) -> None:
    """Blend ``face`` into ``canvas`` in place.

    Args:
        canvas: uint8 (H, W, 3) photo (already upscaled, if any); modified.
        face: uint8 (R, R, 3) restored aligned face.
        matrix: 2x3 canvas -> aligned-frame similarity (the alignment matrix,
            passed through :func:`rescale_matrix` when the canvas was resized).
        mask: (R, R) float32 blending mask; default :func:`feather_mask`.
    """
    r = face.shape[0]
    if mask is None:
        mask = feather_mask(r)
    inv = alignment.invert(matrix)  # aligned -> canvas
    h, w = canvas.shape[:2]
    corners = alignment.transform_points(
        np.array([[-0.5, -0.5], [r - 0.5, -0.5], [-0.5, r - 0.5], [r - 0.5, r - 0.5]]), inv
    )
    x0 = max(0, int(np.floor(corners[:, 0].min())) - 1)
    y0 = max(0, int(np.floor(corners[:, 1].min())) - 1)
    x1 = min(w, int(np.ceil(corners[:, 0].max())) + 2)
    y1 = min(h, int(np.ceil(corners[:, 1].max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return  # the face lies entirely outside the canvas
    inv_roi = inv.copy()
    inv_roi[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    upscaling = alignment.scale_of(inv_roi) > 1.0
    interp = cv2.INTER_CUBIC if upscaling else cv2.INTER_LINEAR
    # uint8 warps and cv2.blendLinear: saturating, and several times faster than
    # float32 numpy blending on large faces.
    warped = alignment.warp_affine(np.ascontiguousarray(face), inv_roi, size, interp, cv2.BORDER_REPLICATE)
    alpha = alignment.warp_affine(mask, inv_roi, size, cv2.INTER_LINEAR, cv2.BORDER_CONSTANT, 0)
    alpha = np.clip(alpha, 0.0, 1.0, out=alpha)
    roi = np.ascontiguousarray(canvas[y0:y1, x0:x1])
    canvas[y0:y1, x0:x1] = cv2.blendLinear(warped, roi, alpha, 1.0 - alpha)
