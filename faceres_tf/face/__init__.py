"""Whole-photo face restoration: detection, alignment, paste-back, colour.

Modules: :mod:`image_io` (robust reading/writing), :mod:`detection` (MTCNN,
five landmarks), :mod:`alignment` (similarity onto the FFHQ template),
:mod:`paste_back` (feathered inverse warp), :mod:`color` (colour correction),
:mod:`generator_runner` (batched model calls), :mod:`pipeline` (all together).
Importing this package does not import TensorFlow or MTCNN.
"""

from faceres_tf.face.alignment import FFHQ_TEMPLATE_512, alignment_matrix, estimate_similarity, template, warp_face
from faceres_tf.face.image_io import ImageReadError, read_image, write_image
from faceres_tf.face.paste_back import feather_mask, paste_face

__all__ = [
    "FFHQ_TEMPLATE_512",
    "ImageReadError",
    "alignment_matrix",
    "estimate_similarity",
    "feather_mask",
    "paste_face",
    "read_image",
    "template",
    "warp_face",
    "write_image",
]
