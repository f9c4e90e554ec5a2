"""Whole-photo face restoration: detection, alignment, paste-back, colour.

Modules: :mod:`detection` (MTCNN, five landmarks), :mod:`alignment`
(similarity onto the FFHQ template), :mod:`paste_back` (feathered inverse
warp), :mod:`color` (colour correction), :mod:`generator_runner` (batched
model calls), :mod:`pipeline` (all together).
Images are read and written by :mod:`faceres_tf.image_io` (``read_image``,
``write_image`` and ``ImageReadError`` are re-exported here). Importing this
package does not import TensorFlow or MTCNN.
"""

from faceres_tf.face.alignment import FFHQ_TEMPLATE_512, alignment_matrix, estimate_similarity, template, warp_face
from faceres_tf.face.paste_back import feather_mask, paste_face
from faceres_tf.image_io import ImageReadError, read_image, write_image

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
