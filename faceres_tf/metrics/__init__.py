"""Evaluation metrics: PSNR, SSIM, LPIPS, FID, precision/recall, iPrecision/iRecall.

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
from faceres_tf.metrics.psnr_ssim import psnr, psnr_tf, ssim

__all__ = [
    "psnr", "ssim", "psnr_tf", "frechet_distance", "feature_statistics", "fid_from_features",
    "save_statistics", "load_statistics", "knn_radii", "identity_precision_recall",
    "identity_precision_recall_curve", "algorithm1",
]
