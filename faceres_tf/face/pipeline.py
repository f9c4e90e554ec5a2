"""Whole-photo restoration: detect -> align -> restore (batched) -> paste back.

[ours; the field's standard pipeline, method.md section 8]. The pipeline is
split in three steps so that the faces of *several* photos go through the
network together, one call per batch:

1. :meth:`FacePipeline.prepare` - detect faces (five landmarks), drop the ones
   below ``min_confidence`` or smaller than ``min_face_size`` (reported as
   skipped), align the rest onto the FFHQ template and cut R x R crops.
2. :meth:`FacePipeline.restore` - run the generator on every crop of a list of
   jobs, once per seed, in batches of the runner's ``batch_size``; optional
   colour correction (:mod:`faceres_tf.face.color`); crops of gray photos stay
   gray.
3. :meth:`FacePipeline.compose` - the whole photo, resized by ``upscale``,
   with the restored faces pasted back through feathered masks that follow
   the face (68 landmarks, :mod:`faceres_tf.face.face_mask`; the square
   feathered mask where landmarks are unavailable).

All images are RGB uint8 (H, W, 3).
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from faceres_tf.face import alignment, color, face_mask, paste_back
from faceres_tf.face.detection import DetectedFace, center_face
from faceres_tf.image_io import LoadedImage

# Upscaled outputs larger than this are produced at a smaller factor (memory).
MAX_OUTPUT_PIXELS = 2**27  # ~134 megapixels, ~400 MB as uint8 RGB
# A face spanning more than this many times the model's resolution in the
# photo is restored at the model's resolution and upscaled back: say so.
LARGE_FACE_FACTOR = 2.0


@dataclasses.dataclass
class FaceJob:
    """One face to restore.

    Attributes:
        crop: uint8 (R, R, 3) aligned input.
        matrix: 2x3 photo -> aligned similarity (None for pre-aligned input).
        detection: the detector's result (None for pre-aligned input).
        restored: one uint8 (R, R, 3) restoration per seed, after :meth:`restore`.
        mask: float32 (R, R) paste-back mask in the aligned frame (None: the
            square feathered one).
    """

    crop: np.ndarray
    matrix: np.ndarray | None = None
    detection: DetectedFace | None = None
    restored: list = dataclasses.field(default_factory=list)
    mask: np.ndarray | None = None


@dataclasses.dataclass
class PhotoJob:
    """One photo: its pixels, faces to restore, and faces left untouched."""

    image: LoadedImage
    faces: list
    skipped: list  # (DetectedFace, reason) pairs
    upscale: float = 1.0
    notes: list = dataclasses.field(default_factory=list)


def _face_side_in_photo(matrix: np.ndarray, resolution: int) -> float:
    """Side in photo pixels of the region warped to the R x R aligned crop."""
    scale = math.sqrt(abs(float(np.linalg.det(np.asarray(matrix)[:, :2]))))
    return resolution / max(scale, 1e-12)


def _large_face_note(side: float, resolution: int, aligned: bool = False) -> str:
    result = (f"restored and written at {resolution} px" if aligned
              else f"restored at {resolution} px and upscaled into the photo, so it will look softer than the photo")
    return (f"a face spans ~{side:.0f} px, more than {LARGE_FACE_FACTOR:g}x the model's "
            f"{resolution} px: it is {result}; use a higher-resolution model for large faces")


def _is_gray(rgb: np.ndarray, tol: int = 2) -> bool:
    a = rgb.astype(np.int16)
    return bool(np.abs(a[..., 0] - a[..., 1]).max() <= tol and np.abs(a[..., 1] - a[..., 2]).max() <= tol)


class FacePipeline:
    """Restores the faces of photos or of pre-aligned crops.

    Args:
        runner: a :class:`faceres_tf.face.generator_runner.GeneratorRunner`
            (uint8 faces + int32 seeds -> uint8 faces).
        detector: a :class:`faceres_tf.face.detection.FaceDetector`; not needed
            when ``aligned``.
        aligned: inputs are already aligned faces (resized to R x R).
        seeds: one restoration per seed (negative = zero noise).
        only_center_face: restore only the face closest to the photo centre.
        upscale: factor applied to the whole photo before pasting back.
        color_correction: match the restored face's colour statistics to the
            input crop ([ours], on by default).
        min_face_size: faces whose box's shorter side is below this (pixels of
            the input photo) are left untouched.
        min_confidence: faces with a lower detector score are left untouched.
        mask: paste-back mask, "landmarks" (dlib's 68 points,
            :mod:`faceres_tf.face.face_mask`; the square where they fail) or
            "square" (feathered square, :func:`paste_back.feather_mask`).
    """

    def __init__(self, runner, detector=None, *, aligned: bool = False, seeds=(0,),
                 only_center_face: bool = False, upscale: float = 1.0, color_correction: bool = True,
                 min_face_size: float = 20.0, min_confidence: float = 0.9, mask: str = "landmarks"):
        if not aligned and detector is None:
            raise ValueError("a detector is needed unless aligned=True")
        if upscale <= 0:
            raise ValueError(f"upscale must be > 0, got {upscale}")
        self.runner = runner
        self.detector = detector
        self.resolution = runner.resolution
        self.aligned = aligned
        self.seeds = [int(s) for s in seeds]
        self.only_center_face = only_center_face
        self.upscale = float(upscale)
        self.color_correction = color_correction
        self.min_face_size = float(min_face_size)
        self.min_confidence = float(min_confidence)
        if mask not in ("landmarks", "square"):
            raise ValueError(f"mask must be 'landmarks' or 'square', got {mask!r}")
        self.mask = mask if mask == "square" or not face_mask.unavailable_reason() else "square"

    # ---- 1. detect + align ----------------------------------------------------
    def prepare(self, image: LoadedImage) -> PhotoJob:
        r = self.resolution
        rgb = image.rgb
        if self.aligned:
            notes = []
            h, w = rgb.shape[:2]
            if h != w:
                notes.append(f"not square ({w}x{h}); stretched to {r}x{r}")
            if min(h, w) > LARGE_FACE_FACTOR * r:
                notes.append(_large_face_note(min(h, w), r, aligned=True))
            if (h, w) != (r, r):
                interp = cv2.INTER_AREA if min(h, w) > r else cv2.INTER_CUBIC
                crop = cv2.resize(rgb, (r, r), interpolation=interp)
            else:
                crop = rgb.copy()
            return PhotoJob(image=image, faces=[FaceJob(crop=crop)], skipped=[], notes=notes)

        detections = self.detector.detect(rgb)
        kept, skipped = [], []
        for det in detections:
            if det.confidence < self.min_confidence:
                skipped.append((det, f"low confidence {det.confidence:.2f} < {self.min_confidence:.2f}"))
            elif det.size < self.min_face_size:
                skipped.append((det, f"too small ({det.size:.1f} px < {self.min_face_size:g} px)"))
            else:
                kept.append(det)
        if self.only_center_face and len(kept) > 1:
            center = center_face(kept, rgb.shape)[0]
            skipped += [(d, "not the centre face (--only_center_face)") for d in kept if d is not center]
            kept = [center]
        faces = []
        for det in kept:
            try:
                m = alignment.alignment_matrix(det.landmarks, r)
            except ValueError as e:
                skipped.append((det, f"bad landmarks ({e})"))
                continue
            mask = face_mask.face_mask(rgb, det.box, m, r)[0] if self.mask == "landmarks" else None
            faces.append(FaceJob(crop=alignment.warp_face(rgb, m, r), matrix=m, detection=det, mask=mask))
        job = PhotoJob(image=image, faces=faces, skipped=skipped)
        largest = max((_face_side_in_photo(f.matrix, r) for f in faces), default=0.0)
        if largest > LARGE_FACE_FACTOR * r:
            job.notes.append(_large_face_note(largest, r))
        job.upscale = self._safe_upscale(rgb.shape, job.notes)
        return job

    def _safe_upscale(self, shape, notes) -> float:
        h, w = shape[:2]
        s = self.upscale
        if h * w * s * s > MAX_OUTPUT_PIXELS:
            s = max(1e-3, math.floor(math.sqrt(MAX_OUTPUT_PIXELS / (h * w)) * 100) / 100)
            notes.append(f"--upscale {self.upscale:g} would exceed {MAX_OUTPUT_PIXELS / 1e6:.0f} MP; used {s:g}")
        return s

    # ---- 2. restore (batched over all faces of all jobs) ---------------------
    def restore(self, jobs: list) -> None:
        faces = [f for job in jobs for f in job.faces]
        if not faces:
            return
        crops = np.stack([f.crop for f in faces])
        n = len(faces)
        all_crops = np.concatenate([crops] * len(self.seeds))
        all_seeds = np.repeat(np.asarray(self.seeds, np.int32), n)
        restored = self.runner(all_crops, all_seeds)
        for f in faces:
            f.restored = []
        for k in range(len(self.seeds)):
            for i, f in enumerate(faces):
                out = restored[k * n + i]
                if self.color_correction:
                    out = color.match_color(out, f.crop)
                if _is_gray(f.crop):
                    out = color.to_gray_rgb(out)
                f.restored.append(out)

    # ---- 3. paste back ----------------------------------------------------------
    def base_canvas(self, job: PhotoJob) -> np.ndarray:
        """The input photo resized by the job's upscale factor (no faces)."""
        rgb = job.image.rgb
        s = job.upscale
        if s == 1:
            return rgb.copy()
        h, w = rgb.shape[:2]
        size = (max(1, round(w * s)), max(1, round(h * s)))
        return cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)

    def compose(self, job: PhotoJob, sample: int = 0, canvas: np.ndarray | None = None,
                in_place: bool = False) -> np.ndarray:
        """Whole photo with the ``sample``-th restoration of every face pasted.

        ``canvas`` (from :meth:`base_canvas`) is copied first unless
        ``in_place`` (saves one photo-sized copy for the last sample).
        """
        if canvas is None:
            canvas = self.base_canvas(job)
        elif not in_place:
            canvas = canvas.copy()
        if not job.faces:
            return canvas
        h, w = job.image.rgb.shape[:2]
        # exact per-axis factor of the resized canvas (rounding of its size)
        fx, fy = canvas.shape[1] / w, canvas.shape[0] / h
        factor = (fx + fy) / 2.0
        square = paste_back.feather_mask(self.resolution)
        for f in job.faces:
            mask = square if f.mask is None else f.mask
            paste_back.paste_face(canvas, f.restored[sample], paste_back.rescale_matrix(f.matrix, factor), mask)
        return canvas


def comparison_grid(crop: np.ndarray, restored: list) -> np.ndarray:
    """Side by side: input crop | restoration(s), uint8 (R, R * (1 + K), 3)."""
    return np.concatenate([crop] + list(restored), axis=1)
