"""Data augmentation used inside training (not the degradation pipeline).

- :mod:`.adv_augment`: differentiable augmentation of discriminator inputs
  ("adversarial data augmentation", paper Table 7; form [ours], DiffAugment-style).
"""

from faceres_tf.augment.adv_augment import (
    POLICIES,
    adjust_color,
    adv_augment,
    cutout,
    parse_policy,
    translate,
)

__all__ = ["POLICIES", "adjust_color", "adv_augment", "cutout", "parse_policy", "translate"]
