"""LPIPS (Zhang et al. 2018), VGG variant, in Keras.

``LPIPS(x, y) = sum_l mean_hw( w_l . (f_l(x)/|f_l(x)| - f_l(y)/|f_l(y)|)^2 )``
with ``f_l`` the VGG16 ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3, each unit-normalised over channels (eps 1e-10), and ``w_l`` the
non-negative 1x1 "linear" layers of LPIPS v0.1. As in the official
``lpips.LPIPS(net="vgg")``: inputs are RGB in [-1, 1] and first go through its
scaling layer, ``(x - shift) / scale`` with shift (-0.030, -0.088, -0.188) and
scale (0.458, 0.448, 0.450); the backbone is torchvision's VGG16 (not Keras'
Caffe-style VGG16, whose weights and preprocessing differ).

Weights: ONE ``.npz`` file holding the converted torchvision VGG16 conv
weights (``conv{b}_{i}/kernel`` in HWIO layout, ``conv{b}_{i}/bias``) and the
LPIPS linear weights (``lin0`` .. ``lin4``, shape ``(C,)``). Make it from the
PyTorch files with ``python -m faceres_tf.metrics.convert_lpips_weights``.
Nothing is downloaded; a missing file raises ``MissingWeightsError``.
Output: ``(N,)`` distances, 0 for identical images, lower is better.
"""

from __future__ import annotations

import os

import numpy as np

from faceres_tf.image_io import uint8_to_float

# (block, convs per block) of VGG16; LPIPS taps the last ReLU of each block.
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
LPIPS_CHANNELS = tuple(c for _, _, c in VGG16_BLOCKS)
SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
SCALE = np.array([0.458, 0.448, 0.450], np.float32)

LPIPS_HELP = (
    "LPIPS (VGG): weights file not found. Create it once from the PyTorch files with\n"
    "  python -m faceres_tf.metrics.convert_lpips_weights --lin vgg.pth "
    "--vgg vgg16-397923af.pth --output lpips_vgg.npz\n"
    "(vgg.pth: lpips/weights/v0.1/vgg.pth from the 'lpips' package; vgg16-397923af.pth: "
    "torchvision's ImageNet VGG16), then pass --lpips_weights lpips_vgg.npz. "
    "This machine does not download weights."
)


def conv_names() -> list[str]:
    return [f"conv{b}_{i}" for b, n, _ in VGG16_BLOCKS for i in range(1, n + 1)]


def build_vgg16_taps():
    """Keras VGG16 trunk (torchvision layout) returning the 5 LPIPS ReLU taps."""
    import keras
    from keras import layers

    inp = keras.Input((None, None, 3), name="scaled_rgb")
    x, taps = inp, []
    for b, n, c in VGG16_BLOCKS:
        if b > 1:
            x = layers.MaxPooling2D(2, strides=2, name=f"pool{b - 1}")(x)
        for i in range(1, n + 1):
            x = layers.Conv2D(c, 3, padding="same", activation="relu", name=f"conv{b}_{i}")(x)
        taps.append(x)
    return keras.Model(inp, taps, name="lpips_vgg16")


class LPIPS:
    """LPIPS-VGG distance. ``weights_path=False`` gives random weights (tests only).

    Call with two ``(N, H, W, 3)`` float batches in [-1, 1]; returns ``(N,)``.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None, seed: int = 0):
        if weights_path is not False and (not weights_path or not os.path.isfile(weights_path)):
            from faceres_tf.weights import MissingWeightsError

            raise MissingWeightsError(
                LPIPS_HELP + (f"\n({weights_path} does not exist)" if weights_path else ""))
        self.backbone = build_vgg16_taps()
        if weights_path is False:
            rng = np.random.default_rng(seed)
            self.lin = [np.abs(rng.standard_normal(c)).astype(np.float32) / c
                        for c in LPIPS_CHANNELS]
        else:
            self.lin = self._load(weights_path)

    def _load(self, path):
        with np.load(path) as z:
            missing = [k for k in [f"{n}/kernel" for n in conv_names()] + [f"lin{i}" for i in range(5)]
                       if k not in z]
            if missing:
                raise ValueError(f"{path}: not an LPIPS weights file (missing {missing[:3]}...).")
            for name in conv_names():
                self.backbone.get_layer(name).set_weights([z[f"{name}/kernel"], z[f"{name}/bias"]])
            return [np.asarray(z[f"lin{i}"], np.float32).reshape(-1) for i in range(5)]

    def __call__(self, x, y):
        import keras
        from keras import ops

        n = ops.shape(x)[0]
        both = ops.concatenate([ops.convert_to_tensor(x, "float32"),
                                ops.convert_to_tensor(y, "float32")], axis=0)
        both = (both - SHIFT) / SCALE
        total = 0.0
        for feat, w in zip(self.backbone(both, training=False), self.lin):
            feat = feat / (ops.sqrt(ops.sum(feat * feat, axis=-1, keepdims=True)) + 1e-10)
            diff = ops.square(feat[:n] - feat[n:])
            total = total + ops.mean(ops.sum(diff * w, axis=-1), axis=(1, 2))
        return keras.ops.convert_to_numpy(total).astype(np.float64)

    def distance_uint8(self, a, b) -> np.ndarray:
        """LPIPS between uint8 RGB images / batches (0-255), ``(N,)``."""
        a = np.asarray(a, np.float32)
        b = np.asarray(b, np.float32)
        if a.ndim == 3:
            a, b = a[None], b[None]
        return self(uint8_to_float(a), uint8_to_float(b))
