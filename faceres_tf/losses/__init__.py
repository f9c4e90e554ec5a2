"""Losses of paper Eq. 10: L = L_REC + alpha * L_ADV.

Every loss is a pure function returning one float32 value per example, shape
(B,); a ``tf.distribute`` trainer sums and divides by the global batch.

- :mod:`.pixel`: L1 pixel loss.
- :mod:`.perceptual`: feature (Eq. 14) and style (Eq. 15, 16) losses, VGG19 features.
- :mod:`.perceptual_normalized`: their LPIPS-style form on unit-normalised
  features [ours] (``loss.perceptual_norm = "lpips"``).
- :mod:`.adversarial`: non-saturating logistic GAN loss + R1 [ours, StyleGAN2].
"""

from __future__ import annotations

from keras import ops

from faceres_tf.config_ranges import PERCEPTUAL_NETWORKS, check_choice
from faceres_tf.losses.adversarial import (
    discriminator_logistic_loss,
    generator_nonsaturating_loss,
    lazy_r1_weight,
    r1_penalty,
)
from faceres_tf.losses.perceptual import (
    CaffePreprocess,
    build_hed_vgg16_features,
    build_perceptual_extractor,
    build_vgg19_features,
    extract_features,
    feature_loss,
    gram_matrix,
    perceptual_layers,
    perceptual_losses,
    style_loss,
)
from faceres_tf.losses.perceptual_normalized import (
    normalized_feature_loss,
    normalized_gram,
    normalized_style_loss,
    unit_normalize,
)
from faceres_tf.losses.pixel import l1_loss

__all__ = [
    "CaffePreprocess",
    "build_hed_vgg16_features",
    "build_perceptual_extractor",
    "build_vgg19_features",
    "discriminator_logistic_loss",
    "extract_features",
    "feature_loss",
    "generator_nonsaturating_loss",
    "gram_matrix",
    "l1_loss",
    "lazy_r1_weight",
    "normalized_feature_loss",
    "normalized_gram",
    "normalized_style_loss",
    "perceptual_layers",
    "perceptual_losses",
    "r1_penalty",
    "reconstruction_loss",
    "style_loss",
    "unit_normalize",
]


def reconstruction_loss(pred, target, loss_cfg, extractor=None):
    """L_REC = lambda_pix * L1 + lambda_feature * L_feature + lambda_style * L_style.

    [paper Eq. 10, 14, 15; weights ours, ``LossConfig``]. With
    ``loss_cfg.perceptual_norm == "lpips"`` the feature and style terms are
    computed on unit-normalised features [ours]; ``perceptual_layer_weights``
    weight the layers and ``perceptual_resolution`` downscales first. With
    ``lambda_style == 0`` the Gram matrices are not computed ("style" is 0).

    Args:
        pred: (B, H, W, 3) restored images in [-1, 1].
        target: (B, H, W, 3) ground truth in [-1, 1].
        loss_cfg: a :class:`faceres_tf.config.LossConfig`.
        extractor: the feature network, one output per layer of
            :func:`perceptual_layers` (build it with
            :func:`build_perceptual_extractor`); required unless
            ``loss_cfg.perceptual == "off"`` (then ignored).

    Returns:
        dict of (B,) float32 tensors: "pixel", "feature", "style" (unweighted;
        zeros when perceptual is off) and "total" (weighted sum).
    """
    pixel = l1_loss(pred, target)
    if loss_cfg.perceptual == "off":
        feat = ops.zeros_like(pixel)
        style = ops.zeros_like(pixel)
    else:
        check_choice("loss.perceptual", loss_cfg.perceptual, PERCEPTUAL_NETWORKS)
        if extractor is None:
            raise ValueError(
                f"reconstruction_loss: loss.perceptual={loss_cfg.perceptual!r} needs a feature "
                "extractor; "
                "build one with faceres_tf.losses.build_perceptual_extractor(loss_cfg) "
                "and pass it as extractor=, or set loss.perceptual='off'."
            )
        weights = [w for _, w in perceptual_layers(loss_cfg)]
        feat, style = perceptual_losses(extractor, pred, target, norm=loss_cfg.perceptual_norm,
                                        layer_weights=weights,
                                        resolution=loss_cfg.perceptual_resolution,
                                        with_style=loss_cfg.lambda_style > 0)
    total = (
        loss_cfg.lambda_pix * pixel
        + loss_cfg.lambda_feature * feat
        + loss_cfg.lambda_style * style
    )
    return {"pixel": pixel, "feature": feat, "style": style, "total": total}
