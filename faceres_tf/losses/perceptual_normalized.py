"""LPIPS-style perceptual loss: unit-normalised features, per-layer weights [ours].

``loss.perceptual_norm = "lpips"`` replaces the raw feature differences of
Eq. 14-16 (:mod:`faceres_tf.losses.perceptual`) by differences of features
unit-normalised along channels, as LPIPS does (Zhang et al. 2018, without its
learned linear layers):

    n(phi)_{h,w,:} = phi_{h,w,:} / sqrt(||phi_{h,w,:}||_2^2 + eps^2)

(= phi / (||phi|| + eps) up to O(eps); the square root form has a finite
gradient where a feature vector is zero).

- feature term: ``sum_i w_i * mean_{h,w} sum_c (n(phi_i(x)) - n(phi_i(y)))^2``.
  At each position the inner sum is ``2 - 2 cos`` of the two feature vectors,
  so each layer contributes a value in [0, 4] whatever the network's feature
  scale or the image: a restored image far from its target cannot produce the
  exploding values that made the raw Eq. 14 loss diverge.
- style term: ``sum_i w_i * ||G_i(x) - G_i(y)||_F^2`` with the Gram matrix of
  the normalised features averaged over positions,
  ``G = 1/(H W) sum_{h,w} n(phi) n(phi)^T`` (C x C, trace <= 1), so each
  layer contributes a value in [0, 2].

Feature maps are channels-last (B, H_i, W_i, C_i); every loss returns (B,)
float32 and casts features to float32 before any reduction (bf16 safe).
"""

from __future__ import annotations

from keras import ops

# eps of the channel normalisation (LPIPS uses 1e-10 added to the norm).
NORMALIZE_EPS = 1e-10


def unit_normalize(features, eps: float = NORMALIZE_EPS):
    """Each position's channel vector scaled to unit L2 norm; (B, H, W, C) float32."""
    phi = ops.cast(features, "float32")
    sumsq = ops.sum(ops.square(phi), axis=-1, keepdims=True)  # (B, H, W, 1)
    return phi / ops.sqrt(sumsq + eps * eps)


def _weighted_pairs(feats_pred, feats_target, layer_weights):
    feats_pred, feats_target = list(feats_pred), list(feats_target)
    if layer_weights is None:
        layer_weights = (1.0,) * len(feats_pred)
    if not len(feats_pred) == len(feats_target) == len(layer_weights):
        raise ValueError(
            f"Feature lists and layer weights differ in length: {len(feats_pred)} predicted, "
            f"{len(feats_target)} target maps, {len(layer_weights)} weights")
    return zip(feats_pred, feats_target, layer_weights)


def normalized_feature_loss(feats_pred, feats_target, layer_weights=None):
    """sum_i w_i * mean_{h,w} ||n(phi_i(x)) - n(phi_i(y))||_2^2, per example.

    Args:
        feats_pred / feats_target: lists of (B, H_i, W_i, C_i) feature maps.
        layer_weights: one non-negative weight per layer (None: 1 each).

    Returns:
        (B,) float32; each layer's part lies in [0, 4 w_i].
    """
    total = 0.0
    for fp, ft, w in _weighted_pairs(feats_pred, feats_target, layer_weights):
        diff = unit_normalize(fp) - unit_normalize(ft)
        per_position = ops.sum(ops.square(diff), axis=-1)  # (B, H, W)
        total = total + float(w) * ops.mean(per_position, axis=(1, 2))
    return total


def normalized_gram(features):
    """1/(H W) sum_{h,w} n(phi) n(phi)^T of one map: (B, C, C) float32, trace <= 1."""
    phi = unit_normalize(features)
    shape = ops.shape(phi)
    flat = ops.reshape(phi, (shape[0], shape[1] * shape[2], shape[3]))  # (B, HW, C)
    gram = ops.einsum("bnc,bnd->bcd", flat, flat)  # (B, C, C)
    return gram / ops.cast(shape[1] * shape[2], "float32")


def normalized_style_loss(feats_pred, feats_target, layer_weights=None):
    """sum_i w_i * ||G_i(x) - G_i(y)||_F^2 with :func:`normalized_gram`, per example.

    Returns:
        (B,) float32; each layer's part lies in [0, 2 w_i].
    """
    total = 0.0
    for fp, ft, w in _weighted_pairs(feats_pred, feats_target, layer_weights):
        diff = normalized_gram(fp) - normalized_gram(ft)  # (B, C, C)
        total = total + float(w) * ops.sum(ops.square(diff), axis=(1, 2))
    return total


def downscale(images, resolution: int):
    """Area-downscales (B, R, R, C) images to ``resolution`` (0 or >= R: unchanged).

    The factor R / resolution must be an integer; the result is the mean of
    each factor x factor block (exact area resampling, differentiable).
    """
    side = int(images.shape[1]) if images.shape[1] is not None else None
    if not resolution or side is None or resolution >= side:
        return images
    if side % resolution:
        raise ValueError(f"loss.perceptual_resolution={resolution} must divide the image side "
                         f"{side} (use a power-of-two fraction of model.resolution)")
    factor = side // resolution
    return ops.average_pool(images, pool_size=factor, strides=factor, padding="valid")
