"""Face-identity embedders: the feature networks behind iPrecision / iRecall.

One interface, :class:`IdentityEmbedder`: ``embed(list of uint8 RGB HxWx3
images) -> (N, dim) float64``, plus ``name`` and ``dim``. Implementations:

``dlib`` (default, offline, no extra downloads) [ours]
    dlib's 128-d ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``,
    LFW accuracy 99.38%), with the 5-point shape predictor. Model files come
    from the ``face-recognition-models`` wheel, located with
    ``importlib.util.find_spec`` (the package itself is not imported: its
    ``__init__`` needs ``pkg_resources``). Faces are found with dlib's HOG
    frontal detector (the largest detection is used). With ``aligned=True``
    (inputs are FFHQ-aligned crops, the default) a failed detection, common on
    heavily degraded faces, falls back to the face box of an aligned crop:
    ``FFHQ_FACE_BOX`` = (0.205, 0.29, 0.795, 0.88) of the crop side
    (left, top, right, bottom), the mean dlib detection measured on 22
    aligned high-quality faces (FFHQ and CelebA-HQ), std <= 0.04. With
    ``aligned=False`` an image without a detected face gets a NaN row and a
    warning. Descriptor distances: same person usually < 0.6.
``facenet`` [paper: the paper uses FaceNet]
    Inception-ResNet-v1 (see :mod:`faceres_tf.metrics.facenet_model`),
    160x160 input, per-image standardisation, 512-d L2-normalised embedding.
    Needs user-supplied weights.
``inception_v3`` [paper Fig. 8]
    Keras Inception V3 ImageNet pool features (2048-d), weights via
    :func:`faceres_tf.weights.find_weights`.
"""

from __future__ import annotations

import abc
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

# (left, top, right, bottom) of the face in an FFHQ-aligned crop, fraction of the side.
FFHQ_FACE_BOX = (0.205, 0.29, 0.795, 0.88)

DLIB_DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"


class IdentityEmbedder(abc.ABC):
    """Maps face images to identity feature vectors."""

    name: str = ""
    dim: int = 0

    @abc.abstractmethod
    def embed(self, images: Sequence[np.ndarray], progress: bool = False) -> np.ndarray:
        """``images``: uint8 RGB ``(H, W, 3)`` arrays (sizes may differ) -> ``(N, dim)`` float64."""

    def __call__(self, images, progress: bool = False) -> np.ndarray:
        return self.embed(images, progress=progress)


def _progress(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, unit="img")


def _as_rgb_uint8(im, i: int) -> np.ndarray:
    a = np.asarray(im)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f"image {i}: expected an (H, W, 3) RGB array, got shape {a.shape}.")
    if a.dtype != np.uint8:
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def dlib_model_dir() -> Path:
    """Folder holding dlib's model files, from the face-recognition-models wheel."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "dlib identity embedder: the 'face-recognition-models' package is not installed; "
            "pip install face-recognition-models (it holds the dlib model files).")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for name in (DLIB_DESCRIPTOR_FILE, DLIB_SHAPE_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"dlib identity embedder: {folder / name} is missing; "
                                    "reinstall face-recognition-models.")
    return folder


class DlibEmbedder(IdentityEmbedder):
    """dlib 128-d face descriptor (see module docstring).

    Args:
        aligned: inputs are FFHQ-aligned crops (enables the fixed-box fallback).
        upsample: detector upsampling passes (0 is fast; 1 finds smaller faces).
        max_side: images larger than this are downscaled for detection only.
        model_dir: folder with the two ``.dat`` files (default: the wheel's).
    """

    name = "dlib"
    dim = 128

    def __init__(self, aligned: bool = True, upsample: int = 0, max_side: int = 512,
                 model_dir: str | os.PathLike | None = None):
        import dlib

        folder = Path(model_dir) if model_dir else dlib_model_dir()
        self.aligned, self.upsample, self.max_side = aligned, upsample, max_side
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(folder / DLIB_SHAPE_FILE))
        self._net = dlib.face_recognition_model_v1(str(folder / DLIB_DESCRIPTOR_FILE))
        self._rect = dlib.rectangle
        self.fallbacks = 0  # how many images used the fixed aligned-crop box

    def face_box(self, img: np.ndarray):
        """The dlib rectangle used for ``img`` (detected, else the aligned-crop box), or None."""
        h, w = img.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = img
        if scale < 1.0:
            import cv2

            small = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        dets = self._detector(small, self.upsample)
        if len(dets):
            r = max(dets, key=lambda d: d.area())
            return self._rect(int(r.left() / scale), int(r.top() / scale),
                              int(r.right() / scale), int(r.bottom() / scale))
        if not self.aligned:
            return None
        self.fallbacks += 1
        left, top, right, bottom = FFHQ_FACE_BOX
        return self._rect(int(left * w), int(top * h), int(right * w), int(bottom * h))

    def embed(self, images, progress: bool = False) -> np.ndarray:
        out = np.full((len(images), self.dim), np.nan)
        for i in _progress(range(len(images)), progress, "dlib identity"):
            img = _as_rgb_uint8(images[i], i)
            box = self.face_box(img)
            if box is None:
                warnings.warn(f"dlib: no face found in image {i}; its embedding is NaN.", stacklevel=2)
                continue
            shape = self._shape(img, box)
            out[i] = np.asarray(self._net.compute_face_descriptor(img, shape), dtype=np.float64)
        return out


class FaceNetEmbedder(IdentityEmbedder):
    """FaceNet Inception-ResNet-v1, 512-d unit-norm embeddings (user weights)."""

    name = "facenet"
    dim = 512

    def __init__(self, weights_path=None, batch_size: int = 16, model=None):
        from faceres_tf.metrics.facenet_model import build_facenet, check_facenet_weights, load_facenet_weights

        if model is None:
            check_facenet_weights(weights_path)  # fail fast, before building the network
            model = build_facenet()
            load_facenet_weights(model, weights_path)
        self.model, self.batch_size = model, batch_size

    def embed(self, images, progress: bool = False) -> np.ndarray:
        from faceres_tf.metrics.facenet_model import preprocess_facenet

        images = [_as_rgb_uint8(im, i) for i, im in enumerate(images)]
        feats = []
        for s in _progress(range(0, len(images), self.batch_size), progress, "facenet batches"):
            x = preprocess_facenet(images[s:s + self.batch_size])
            feats.append(np.asarray(self.model(x, training=False), dtype=np.float64))
        return np.concatenate(feats) if feats else np.zeros((0, self.dim))


class InceptionV3Embedder(IdentityEmbedder):
    """Keras Inception V3 ImageNet pool features, 2048-d [paper Fig. 8]."""

    name = "inception_v3"
    dim = 2048

    def __init__(self, weights_path=None, batch_size: int = 16, model=None):
        from faceres_tf.metrics.fid import InceptionFeatures

        self._features = InceptionFeatures(weights_path, batch_size, model=model)

    def embed(self, images, progress: bool = False) -> np.ndarray:
        images = [_as_rgb_uint8(im, i) for i, im in enumerate(images)]
        bs = self._features.batch_size
        parts = [self._features(images[s:s + bs])
                 for s in _progress(range(0, len(images), bs), progress, "inception batches")]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim))


EMBEDDERS = {"dlib": DlibEmbedder, "facenet": FaceNetEmbedder, "inception_v3": InceptionV3Embedder}


def get_embedder(name: str = "dlib", weights: str | os.PathLike | None = None, **kw) -> IdentityEmbedder:
    """Builds an embedder by name: ``dlib`` (default), ``facenet`` or ``inception_v3``.

    ``weights`` is the weights file for ``facenet`` / ``inception_v3`` (ignored
    by ``dlib``, whose files come with its wheel); extra keywords go to the class.
    """
    if name not in EMBEDDERS:
        raise ValueError(f"unknown identity network {name!r}; choose one of {sorted(EMBEDDERS)}.")
    if name == "dlib":
        return DlibEmbedder(**kw)
    return EMBEDDERS[name](weights_path=weights, **kw)
