"""Kept for existing imports: image reading and writing live in :mod:`faceres_tf.image_io`.

Restoration reads photos with exactly the rules of training and evaluation
(alpha composited over white, gray to RGB, 16-bit ``round(v / 257)``, EXIF
orientation applied); see that module.
"""

from faceres_tf.image_io import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    LoadedImage,
    list_images,
    read_image,
    write_image,
)

__all__ = ["IMAGE_EXTENSIONS", "ImageReadError", "LoadedImage", "list_images", "read_image",
           "write_image"]
