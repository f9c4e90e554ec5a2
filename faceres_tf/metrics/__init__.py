"""Evaluation metrics: PSNR, SSIM, LPIPS, FID, precision/recall, iPrecision/iRecall.

One scorer for sets of restored faces: :mod:`faceres_tf.metrics.scorer`.

Pure functions on numpy arrays; feature networks are injected or loaded from
explicit weight files (see README.md in this folder for the conventions).
Heavy modules (TensorFlow / Keras / dlib) are imported lazily.
"""

from faceres_tf.metrics.algorithm1 import algorithm1
from faceres_tf.metrics.fid import (
    feature_statistics,
    fid_from_features,
    frechet_distance,
    load_statistics,
    save_statistics,
)
from faceres_tf.metrics.precision_recall import identity_precision_recall, identity_precision_recall_curve, knn_radii
from faceres_tf.metrics.psnr_ssim import PSNR_MAX_DB, psnr, psnr_tf, ssim
from faceres_tf.metrics.scorer import (
    ALL_METRICS,
    MetricUnavailable,
    Networks,
    SetScore,
    SetScorer,
    score_set,
)

__all__ = [
    "psnr", "ssim", "psnr_tf", "frechet_distance", "feature_statistics", "fid_from_features",
    "save_statistics", "load_statistics", "knn_radii", "identity_precision_recall",
    "identity_precision_recall_curve", "algorithm1", "PSNR_MAX_DB", "ALL_METRICS",
    "MetricUnavailable", "Networks", "SetScore", "SetScorer", "score_set",
]
