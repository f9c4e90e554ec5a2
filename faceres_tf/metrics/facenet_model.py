"""FaceNet Inception-ResNet-v1 in Keras (identity features for iPrecision / iRecall).

Architecture of Szegedy et al. 2016 as used by FaceNet (Schroff et al. 2015)
in the widely used ``davidsandberg/facenet`` models: stem, 5 x Block35
(scale 0.17), Reduction-A, 10 x Block17 (0.10), Reduction-B, 5 x Block8
(0.20) + a final linear Block8, global average pool, dropout, a 512-unit
bottleneck (no bias) with batch norm, then L2 normalisation. Convolutions
have no bias and are followed by batch norm (``scale=False``, eps 1e-3) and
ReLU, as in the original checkpoint.

Input: ``(N, 160, 160, 3)`` float32 RGB, standardised per image (FaceNet's
``prewhiten``: ``(x - mean) / max(std, 1 / sqrt(#pixels))``, see
:func:`preprocess_facenet`). Output: ``(N, 512)`` unit-norm embeddings.

Weights (not shipped; never downloaded): the public checkpoint is
davidsandberg/facenet ``20180402-114759`` (VGGFace2, LFW 99.65%). Its Keras
conversion by nyoki-mtl/keras-facenet (``facenet_keras.h5`` /
``facenet_keras_weights.h5``, 128-d for the older 20170512 model) is what most
Keras users have. Layer names and the order of the weighted layers here follow
that Keras port, so ``model.load_weights("facenet_keras_weights.h5")`` is the
intended path, and a 512-d checkpoint converted the same way (tf.train
checkpoint -> per-layer arrays in this order) loads the same way. [ours] The
loading of a real checkpoint could not be verified in this environment (no
weights available); random-weight tests cover shapes and normalisation only.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

FACENET_SIZE = 160
FACENET_DIM = 512

FACENET_HELP = (
    "FaceNet identity network: weights not found. Pass --facenet_weights / weights=PATH to a "
    "Keras weights file for the Inception-ResNet-v1 in faceres_tf/metrics/facenet_model.py, "
    "e.g. the keras-facenet conversion of davidsandberg/facenet 20180402-114759 (VGGFace2). "
    "This machine does not download weights; or use the offline default --id_net=dlib."
)


def _conv(x, filters, kernel, strides=1, padding="same", name="", activation=True):
    from keras import layers

    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                      name=name)(x)
    x = layers.BatchNormalization(axis=-1, momentum=0.995, epsilon=1e-3, scale=False,
                                  name=name + "_BatchNorm")(x)
    if activation:
        x = layers.Activation("relu", name=name + "_Activation")(x)
    return x


def _residual(x, branches, scale, name, activation=True):
    from keras import layers

    mixed = layers.Concatenate(axis=-1, name=name + "_Concatenate")(branches)
    up = layers.Conv2D(x.shape[-1], 1, use_bias=True, name=name + "_Conv2d_1x1")(mixed)
    up = layers.Rescaling(scale, name=name + "_Scale")(up)
    x = layers.Add(name=name + "_ScaleSum")([x, up])
    if activation:
        x = layers.Activation("relu", name=name + "_Activation")(x)
    return x


def _block35(x, i):
    n = f"Block35_{i}"
    b0 = _conv(x, 32, 1, name=n + "_Branch_0_Conv2d_1x1")
    b1 = _conv(x, 32, 1, name=n + "_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 32, 3, name=n + "_Branch_1_Conv2d_0b_3x3")
    b2 = _conv(x, 32, 1, name=n + "_Branch_2_Conv2d_0a_1x1")
    b2 = _conv(b2, 32, 3, name=n + "_Branch_2_Conv2d_0b_3x3")
    b2 = _conv(b2, 32, 3, name=n + "_Branch_2_Conv2d_0c_3x3")
    return _residual(x, [b0, b1, b2], 0.17, n)


def _block17(x, i):
    n = f"Block17_{i}"
    b0 = _conv(x, 128, 1, name=n + "_Branch_0_Conv2d_1x1")
    b1 = _conv(x, 128, 1, name=n + "_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 128, (1, 7), name=n + "_Branch_1_Conv2d_0b_1x7")
    b1 = _conv(b1, 128, (7, 1), name=n + "_Branch_1_Conv2d_0c_7x1")
    return _residual(x, [b0, b1], 0.10, n)


def _block8(x, i, scale=0.20, activation=True):
    n = f"Block8_{i}"
    b0 = _conv(x, 192, 1, name=n + "_Branch_0_Conv2d_1x1")
    b1 = _conv(x, 192, 1, name=n + "_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 192, (1, 3), name=n + "_Branch_1_Conv2d_0b_1x3")
    b1 = _conv(b1, 192, (3, 1), name=n + "_Branch_1_Conv2d_0c_3x1")
    return _residual(x, [b0, b1], scale, n, activation)


def build_facenet(input_size: int = FACENET_SIZE, dim: int = FACENET_DIM, dropout: float = 0.2):
    """Inception-ResNet-v1 FaceNet: ``(N, s, s, 3)`` standardised RGB -> ``(N, dim)`` unit norm."""
    import keras
    from keras import layers

    inp = keras.Input((input_size, input_size, 3), name="input")
    x = _conv(inp, 32, 3, strides=2, padding="valid", name="Conv2d_1a_3x3")  # 79
    x = _conv(x, 32, 3, padding="valid", name="Conv2d_2a_3x3")  # 77
    x = _conv(x, 64, 3, name="Conv2d_2b_3x3")  # 77
    x = layers.MaxPooling2D(3, strides=2, name="MaxPool_3a_3x3")(x)  # 38
    x = _conv(x, 80, 1, padding="valid", name="Conv2d_3b_1x1")
    x = _conv(x, 192, 3, padding="valid", name="Conv2d_4a_3x3")  # 36
    x = _conv(x, 256, 3, strides=2, padding="valid", name="Conv2d_4b_3x3")  # 17
    for i in range(1, 6):
        x = _block35(x, i)
    # Reduction-A -> 8x8x896
    b0 = _conv(x, 384, 3, strides=2, padding="valid", name="Mixed_6a_Branch_0_Conv2d_1a_3x3")
    b1 = _conv(x, 192, 1, name="Mixed_6a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 192, 3, name="Mixed_6a_Branch_1_Conv2d_0b_3x3")
    b1 = _conv(b1, 256, 3, strides=2, padding="valid", name="Mixed_6a_Branch_1_Conv2d_1a_3x3")
    b2 = layers.MaxPooling2D(3, strides=2, name="Mixed_6a_Branch_2_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(name="Mixed_6a")([b0, b1, b2])
    for i in range(1, 11):
        x = _block17(x, i)
    # Reduction-B -> 3x3x1792
    b0 = _conv(x, 256, 1, name="Mixed_7a_Branch_0_Conv2d_0a_1x1")
    b0 = _conv(b0, 384, 3, strides=2, padding="valid", name="Mixed_7a_Branch_0_Conv2d_1a_3x3")
    b1 = _conv(x, 256, 1, name="Mixed_7a_Branch_1_Conv2d_0a_1x1")
    b1 = _conv(b1, 256, 3, strides=2, padding="valid", name="Mixed_7a_Branch_1_Conv2d_1a_3x3")
    b2 = _conv(x, 256, 1, name="Mixed_7a_Branch_2_Conv2d_0a_1x1")
    b2 = _conv(b2, 256, 3, name="Mixed_7a_Branch_2_Conv2d_0b_3x3")
    b2 = _conv(b2, 256, 3, strides=2, padding="valid", name="Mixed_7a_Branch_2_Conv2d_1a_3x3")
    b3 = layers.MaxPooling2D(3, strides=2, name="Mixed_7a_Branch_3_MaxPool_1a_3x3")(x)
    x = layers.Concatenate(name="Mixed_7a")([b0, b1, b2, b3])
    for i in range(1, 6):
        x = _block8(x, i)
    x = _block8(x, 6, scale=1.0, activation=False)
    x = layers.GlobalAveragePooling2D(name="AvgPool")(x)
    x = layers.Dropout(dropout, name="Dropout")(x)
    x = layers.Dense(dim, use_bias=False, name="Bottleneck")(x)
    x = layers.BatchNormalization(momentum=0.995, epsilon=1e-3, scale=False,
                                  name="Bottleneck_BatchNorm")(x)
    x = layers.UnitNormalization(axis=-1, name="L2Normalize")(x)
    return keras.Model(inp, x, name="inception_resnet_v1_facenet")


def check_facenet_weights(weights_path: str | os.PathLike | None) -> None:
    """Raises MissingWeightsError with instructions unless ``weights_path`` is a file."""
    from faceres_tf.weights import MissingWeightsError

    if not weights_path or not os.path.isfile(weights_path):
        where = f" ({weights_path} does not exist)" if weights_path else ""
        raise MissingWeightsError(FACENET_HELP + where)


def load_facenet_weights(model, weights_path: str | os.PathLike | None) -> None:
    """Loads user-supplied FaceNet weights, or raises MissingWeightsError with instructions."""
    check_facenet_weights(weights_path)
    model.load_weights(str(weights_path))


def preprocess_facenet(images: Sequence[np.ndarray], size: int = FACENET_SIZE) -> np.ndarray:
    """uint8 RGB images -> ``(N, size, size, 3)`` float32, bilinear resize + per-image standardisation."""
    import cv2

    out = []
    for im in images:
        x = cv2.resize(np.asarray(im), (size, size), interpolation=cv2.INTER_LINEAR)
        x = x.astype(np.float64)
        std = max(x.std(), 1.0 / np.sqrt(x.size))
        out.append(((x - x.mean()) / std).astype(np.float32))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.float32)
