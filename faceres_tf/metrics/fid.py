"""Fréchet Inception Distance (FID).

``FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` between Gaussians fitted
to two sets of features (Heusel et al. 2017), computed in float64 with
``scipy.linalg.sqrtm``. As in the reference implementations, a singular
product gets ``eps * I`` added to both covariances, and an imaginary residue of
the square root is dropped when it is numerically negligible (else an error).

Feature network: Keras ``InceptionV3(include_top=False, pooling="avg")``
(2048-d pool features), inputs resized to 299x299 (bilinear) and scaled with
Inception preprocessing (``x / 127.5 - 1``). Weights: the official Keras
ImageNet file, found with :func:`faceres_tf.weights.find_weights` (never
downloaded). [ours] Keras' ImageNet Inception differs from the TF-slim
graph (``pt_inception-2015-12-05``) used by the original TTUR / pytorch-fid
code, so absolute values are comparable between runs of this code, not with
numbers printed in other papers.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
from scipy import linalg

INCEPTION_SIZE = 299
INCEPTION_DIM = 2048


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and covariance ``(d, d)`` (unbiased, float64) of ``(N, d)`` features."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need an (N >= 2, d) feature array, got shape {f.shape}.")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), float64."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}.")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.all(np.isfinite(covmean)):
        offset = np.eye(sigma1.shape[0]) * eps  # singular product: regularise
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(np.diagonal(covmean).imag))
        if imag > 1e-3:
            raise ValueError(f"sqrtm gave a significant imaginary component ({imag:.3g}).")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))


def fid_from_features(features1, features2) -> float:
    """FID between two ``(N, d)`` feature sets."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def save_statistics(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, **meta) -> None:
    """Saves ``mu``/``sigma`` (and string metadata, e.g. the network name) as ``.npz``."""
    np.savez(path, mu=mu, sigma=sigma, **{k: np.asarray(str(v)) for k, v in meta.items()})


def load_statistics(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Loads ``(mu, sigma)`` written by :func:`save_statistics`."""
    try:
        with np.load(path) as z:
            return z["mu"], z["sigma"]
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: not a statistics file written by save_statistics ({e}).") from e


def build_inception_v3(weights_path: str | os.PathLike | None = None):
    """Keras Inception V3 pool-feature model (``(N, 299, 299, 3)`` in [-1, 1] -> ``(N, 2048)``).

    ``weights_path=None`` looks in the Keras cache; a missing file raises
    :class:`faceres_tf.weights.MissingWeightsError`. Pass ``weights_path=False``
    for random weights (tests only).
    """
    import keras

    from faceres_tf.weights import INCEPTION_V3_NOTOP, find_weights

    path = None if weights_path is False else find_weights(INCEPTION_V3_NOTOP, weights_path)
    model = keras.applications.InceptionV3(
        weights=None, include_top=False, pooling="avg",
        input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
    if path is not None:
        model.load_weights(str(path))
    return model


class InceptionFeatures:
    """Callable: list of uint8 RGB images (any size) -> ``(N, 2048)`` float64 features."""

    name = "inception_v3"
    dim = INCEPTION_DIM

    def __init__(self, weights_path=None, batch_size: int = 16, model=None):
        self.model = model if model is not None else build_inception_v3(weights_path)
        self.batch_size = batch_size

    def preprocess(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import tensorflow as tf

        out = [tf.image.resize(tf.convert_to_tensor(np.asarray(im), tf.float32),
                               (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
               for im in images]
        return (tf.stack(out).numpy() / 127.5 - 1.0).astype(np.float32)

    def __call__(self, images: Iterable[np.ndarray]) -> np.ndarray:
        images = list(images)
        feats = []
        for s in range(0, len(images), self.batch_size):
            x = self.preprocess(images[s:s + self.batch_size])
            feats.append(np.asarray(self.model(x, training=False), dtype=np.float64))
        return np.concatenate(feats) if feats else np.zeros((0, self.dim))

    embed = __call__
