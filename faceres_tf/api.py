"""One-call restoration for Python code: ``faceres_tf.restore_image`` and
``faceres_tf.restore_faces``.

::

    import faceres_tf
    restored, faces = faceres_tf.restore_image(rgb)        # uint8 (H, W, 3) RGB, any size
    out = faceres_tf.restore_faces(crops)                  # uint8 (N, S, S, 3) aligned faces

Both take and give uint8 RGB and do the resizing, scaling to [-1, 1] and
clipping themselves; the model (default: the bundled
:data:`faceres_tf.pretrained.DEFAULT_MODEL`) and the face detector are loaded
on the first call and kept. TensorFlow is imported quietly (no C++ start-up
lines; ``FACERES_TF_VERBOSE=1`` shows them). The pipeline is the one of
``faceres-restore`` (detection, FFHQ alignment, colour correction, paste-back
through the 68-landmark mask).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from faceres_tf import cli
from faceres_tf.face.detection import FaceDetector
from faceres_tf.face.pipeline import FaceJob, FacePipeline, PhotoJob
from faceres_tf.image_io import LoadedImage


@functools.lru_cache(maxsize=4)
def _runner(model: str | None, checkpoint: str | None):
    cli.import_tensorflow_quietly()  # before the first TensorFlow import: no C++ start-up lines
    from faceres_tf.face.generator_runner import GeneratorRunner

    if checkpoint:
        return GeneratorRunner.from_checkpoint(checkpoint)
    return GeneratorRunner.from_pretrained(model)


@functools.lru_cache(maxsize=1)
def _detector():
    return FaceDetector()


def _pipeline(model, checkpoint, fidelity, seed, aligned, **options):
    runner = _runner(model, checkpoint).set_fidelity(fidelity)
    return FacePipeline(runner, None if aligned else _detector(), aligned=aligned, seeds=(int(seed),),
                        **options)


def _as_uint8_rgb(image, what: str, ndim: int) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != ndim or image.shape[-1] != 3:
        shape = "(H, W, 3)" if ndim == 3 else "(N, S, S, 3)"
        raise ValueError(f"{what} must be uint8 RGB {shape}, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def restore_image(image, *, model: str | None = None, checkpoint: str | None = None, fidelity: float = 1.0,
                  seed: int = 0, upscale: float = 1.0, only_center_face: bool = False,
                  color_correction: bool = True, mask: str = "landmarks", min_face_size: float = 20.0,
                  min_confidence: float = 0.9) -> tuple:
    """Restores every face of a whole photo.

    Args:
        image: uint8 (H, W, 3) RGB (convert OpenCV's BGR with ``img[..., ::-1]``).
        model / checkpoint: a bundled model name or a training run directory
            (default: the bundled default model).
        fidelity: w in [0, 1] for a model with the fidelity knob (1 = the
            paper's model); other models accept only 1.
        seed: noise seed (>= 0), -1 for zero noise.
        upscale, only_center_face, color_correction, mask, min_face_size,
            min_confidence: as the ``faceres-restore`` flags of the same names.

    Returns:
        ``(restored, faces)``: the uint8 photo (``upscale`` times larger) and
        one dict per restored face: ``box`` (x0, y0, x1, y1 in input pixels),
        ``confidence``, ``landmarks`` (5, 2), ``crop`` (the aligned input face)
        and ``restored`` (the aligned restored face), both uint8 (R, R, 3).
    """
    rgb = _as_uint8_rgb(image, "image", 3)
    pipeline = _pipeline(model, checkpoint, fidelity, seed, False, upscale=upscale,
                         only_center_face=only_center_face, color_correction=color_correction, mask=mask,
                         min_face_size=min_face_size, min_confidence=min_confidence)
    job = pipeline.prepare(LoadedImage(rgb))
    pipeline.restore([job])
    faces = [dict(box=tuple(f.detection.box), confidence=f.detection.confidence,
                  landmarks=np.asarray(f.detection.landmarks), crop=f.crop, restored=f.restored[0])
             for f in job.faces]
    return pipeline.compose(job), faces


def restore_faces(faces, *, model: str | None = None, checkpoint: str | None = None, fidelity: float = 1.0,
                  seed: int = 0, color_correction: bool = True) -> np.ndarray:
    """Restores aligned face crops (FFHQ alignment, any square size).

    Args:
        faces: uint8 (N, S, S, 3) RGB; resized to the model's R and back.
        model, checkpoint, fidelity, seed, color_correction: see :func:`restore_image`.

    Returns:
        uint8 (N, S, S, 3) RGB.
    """
    batch = _as_uint8_rgb(faces, "faces", 4)
    pipeline = _pipeline(model, checkpoint, fidelity, seed, True, color_correction=color_correction)
    r, size = pipeline.resolution, batch.shape[1:3]
    if size[0] != size[1]:
        raise ValueError(f"faces must be square, got {size[1]}x{size[0]}")
    crops = [f if size == (r, r) else cv2.resize(f, (r, r), interpolation=cv2.INTER_AREA if size[0] > r
                                                   else cv2.INTER_CUBIC) for f in batch]
    jobs = [PhotoJob(image=None, faces=[FaceJob(crop=c)], skipped=[]) for c in crops]
    pipeline.restore(jobs)
    out = [j.faces[0].restored[0] for j in jobs]
    if size != (r, r):
        out = [cv2.resize(o, (size[1], size[0]), interpolation=cv2.INTER_CUBIC if size[0] > r
                          else cv2.INTER_AREA) for o in out]
    return np.stack(out) if out else np.zeros_like(batch)
