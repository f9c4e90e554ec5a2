"""Training data for faceres_tf: degradations (TF ops) and the tf.data pipeline.

Pairs are ``(degraded, target)`` float32 NHWC in [-1, 1]; see
:mod:`faceres_tf.data.pipeline` and :mod:`faceres_tf.data.degradations`.
"""

from faceres_tf.data.degradations import (
    DEGRADATIONS,
    bfr,
    degrade,
    degrade_pair,
    sr8,
    sr16,
)
from faceres_tf.data.image_io import (
    IMAGE_EXTENSIONS,
    DataError,
    ImageReadError,
    list_images,
    load_face,
    read_image_rgb,
    scan_images,
)
from faceres_tf.data.pipeline import (
    check_data_source,
    clean_dataset,
    explain_data_error,
    load_validation_pairs,
    make_dataset,
)
from faceres_tf.data.tfrecords import list_shards, prepare_tfrecords

__all__ = [
    "DEGRADATIONS",
    "IMAGE_EXTENSIONS",
    "DataError",
    "ImageReadError",
    "bfr",
    "check_data_source",
    "clean_dataset",
    "degrade",
    "degrade_pair",
    "explain_data_error",
    "list_images",
    "list_shards",
    "load_face",
    "load_validation_pairs",
    "make_dataset",
    "prepare_tfrecords",
    "read_image_rgb",
    "scan_images",
    "sr8",
    "sr16",
]
