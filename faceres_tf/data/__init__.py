"""Training data for faceres_tf: degradations (TF ops) and the tf.data pipeline.

Pairs are ``(degraded, target)`` float32 NHWC in [-1, 1]; see
:mod:`faceres_tf.data.pipeline` and :mod:`faceres_tf.data.degradations`.

The names that need TensorFlow are loaded on first use, so that
``faceres-prepare --help`` (this package's command) starts without importing
TensorFlow (:mod:`faceres_tf.cli`).
"""

import importlib

from faceres_tf.data.faces import DataError, list_faces, load_face, scan_images

# name -> submodule, imported on first access (they import TensorFlow).
_LAZY = {
    **dict.fromkeys(["DEGRADATIONS", "bfr", "degrade", "degrade_pair", "sr8", "sr16"], "degradations"),
    **dict.fromkeys(["check_data_source", "clean_dataset", "explain_data_error", "load_validation_pairs",
                     "make_dataset"], "pipeline"),
    **dict.fromkeys(["list_shards", "prepare_tfrecords"], "tfrecords"),
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"faceres_tf.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'faceres_tf.data' has no attribute {name!r}")


__all__ = [
    "DEGRADATIONS",
    "DataError",
    "bfr",
    "check_data_source",
    "clean_dataset",
    "degrade",
    "degrade_pair",
    "explain_data_error",
    "list_faces",
    "list_shards",
    "load_face",
    "load_validation_pairs",
    "make_dataset",
    "prepare_tfrecords",
    "scan_images",
    "sr8",
    "sr16",
]
