"""Locating pretrained weight files offline (never downloading at run time).

Pretrained ImageNet networks (VGG19 for the perceptual loss and LPIPS, Inception
V3 for FID) are looked up in this order:

1. an explicit path given by the user (a flag or config field);
2. the Keras cache, ``$KERAS_HOME/models`` or ``~/.keras/models``, under the
   official Keras file name.

If neither exists, :class:`MissingWeightsError` says exactly which file is
missing, its md5, where it can be obtained and where to put it. Nothing falls
back to random weights silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from faceres_tf.errors import UserError


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """An official pretrained weights file."""

    purpose: str
    filename: str
    md5: str
    url: str


VGG19_NOTOP = WeightsFile(
    purpose="VGG19 ImageNet features (perceptual loss, LPIPS backbone)",
    filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5="253f8cb515780f3b799900260a226db6",
    url=(
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
)

INCEPTION_V3_NOTOP = WeightsFile(
    purpose="Inception V3 ImageNet pool features (FID, Fig. 8 identity features)",
    filename="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5="bcbd6486424b2319ff4ef7d526e38f63",
    url=(
        "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
)


class MissingWeightsError(UserError, FileNotFoundError):
    """A required pretrained weights file is not on this machine."""


def keras_cache_dir() -> Path:
    """The folder where Keras keeps downloaded application weights."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "models"


def md5sum(path: os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def find_weights(spec: WeightsFile, explicit_path: str | os.PathLike | None = None,
                 check_md5: bool = True) -> Path:
    """Returns the path of ``spec``'s file or raises :class:`MissingWeightsError`.

    Args:
        spec: which official file is needed.
        explicit_path: a user-supplied path; when given it must exist (the
            cache is not consulted, so a typo is not hidden).
        check_md5: verify the cached file's md5 (an explicit path is trusted,
            so converted or fine-tuned weights can be used).
    """
    if explicit_path:
        p = Path(explicit_path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(
                f"{spec.purpose}: the weights file given explicitly, {p}, does not exist."
            )
        return p
    cached = keras_cache_dir() / spec.filename
    if cached.is_file():
        if check_md5:
            got = md5sum(cached)
            if got != spec.md5:
                raise MissingWeightsError(
                    f"{spec.purpose}: {cached} has md5 {got}, expected {spec.md5}. "
                    "The file is corrupt or a different file; replace it."
                )
        return cached
    raise MissingWeightsError(missing_message(spec))


def missing_message(spec: WeightsFile) -> str:
    return (
        f"{spec.purpose}: pretrained weights not found.\n"
        f"  expected file: {spec.filename}\n"
        f"  md5:           {spec.md5}\n"
        f"  put it in:     {keras_cache_dir()}/ (the Keras cache), or pass its path explicitly\n"
        f"  official URL:  {spec.url}\n"
        "This machine does not download weights at run time; copy the file from a "
        "machine that has it."
    )
