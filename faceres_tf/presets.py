"""Named presets: ``faceres_tf.presets.get(name)``.

* ``paper_512``: the appendix's network (Tables 4 and 5), batch 32, Adam
  2.5e-3 / 0.0 / 0.99, alpha = 1, 4 skips, VGG19 perceptual loss. Needs a GPU.
* ``paper_256``: the same widths rule at 256 px (one stage fewer each side).
* ``tiny``: a CPU-sized RDFR at 64 px with small widths, used by ``make train``.
  The perceptual loss is off because the VGG19 ImageNet weights cannot be
  downloaded on an offline machine (turn it on with ``--set=loss.perceptual=vgg19``
  once the weights are in the Keras cache,
  or `--perceptual=vgg19`).
* ``cpu_128``: RDFR at 128 px sized for a 2-core CPU, the bundled default
  model. See ``docs/method.md`` for the scaling of each choice.
* ``cpu_256``: the 256 px model grown from the trained ``cpu_128`` weights,
  trained on degradations as real photos have them, with a fidelity knob.
* ``test``: 32 px, minimal widths, for the unit tests (float32 compute, so
  they do not depend on the CPU's bfloat16 support).

Every preset but ``test`` computes in ``train.precision = "auto"`` (bf16 where
the CPU has native bfloat16 and it measures faster; fp32 otherwise).
"""

from __future__ import annotations

import dataclasses

from faceres_tf.config import (
    Config,
    DataConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
    validate,
)
from faceres_tf.errors import UnknownPresetError


def _paper_512() -> Config:
    return Config(
        name="paper_512",
        model=ModelConfig(resolution=512, enc_ch_base=8192, dec_ch_base=16384, ch_max=512, num_skips=4),
        data=DataConfig(),
        loss=LossConfig(alpha=1.0, perceptual="vgg19"),
        train=TrainConfig(batch_size=32, lr=2.5e-3, beta1=0.0, beta2=0.99, steps=400 * 70_000 // 32),
    )


def _paper_256() -> Config:
    cfg = _paper_512()
    return dataclasses.replace(
        cfg, name="paper_256", model=dataclasses.replace(cfg.model, resolution=256)
    )


def _cpu_loss() -> LossConfig:
    """The loss of both CPU presets [ours]: alpha = 0.1 (the tiny-scale C.4
    sweep lost PSNR monotonically with alpha), no perceptual loss (the VGG19
    ImageNet weights cannot be downloaded offline), lazy R1 every 16 steps."""
    return LossConfig(alpha=0.1, perceptual="off", r1_interval=16)


def _cpu_train(**fields) -> TrainConfig:
    """Training of the CPU presets [ours]: batch 8 at the paper's Adam lr;
    ``fields`` set the length, EMA and bookkeeping intervals (and may change lr)."""
    return TrainConfig(**{"batch_size": 8, "lr": 2.5e-3, **fields})


def _tiny() -> Config:
    return Config(
        name="tiny",
        model=ModelConfig(resolution=64, enc_ch_base=1024, dec_ch_base=2048, ch_max=64, num_skips=3),
        # Blur sigma is in pixels, so the 512 px range (0.1-10) is scaled down for
        # 64 px faces; downsampling is capped at 4x (16 px faces). [ours]
        data=DataConfig(shuffle_buffer=256, blur_kernel_size=13, blur_sigma=(0.1, 2.0),
                        downsample_range=(0.8, 4.0), noise_range=(0.0, 15.0)),
        loss=_cpu_loss(),
        train=_cpu_train(steps=2500, ema_half_life_images=500.0, log_every=25, ckpt_every=250,
                         eval_every=500, sample_every=500, num_val=9),
    )


def _cpu_128() -> Config:
    # Widths: the paper's rule ch(r) = min(ch_max, base / r) with both bases
    # divided by 4 and ch_max 512 -> 256, so the 128 px network has the
    # 512 px network's channel profile one stage down (G 6.9M parameters;
    # 12.5 img/s fp32 and 17.5 img/s bf16 at batch 8 on a 2-core AMD EPYC). [ours]
    return Config(
        name="cpu_128",
        model=ModelConfig(resolution=128, enc_ch_base=2048, dec_ch_base=4096, ch_max=256,
                          num_skips=4),
        # The GFPGAN BFR chain scaled to 128 px: blur sigma and kernel are in
        # pixels, so 0.1-10 / 41 at 512 px become 0.1-2.5 / 13 (x 128/512, kernel
        # kept at ~2.4 sigma); downsampling is capped at 4x so the smallest input
        # face is 32 px; noise (0-20 grey levels) and JPEG (60-100) are per pixel
        # and unchanged. [ours]
        # Train with --data_dir=../shared/data/faces_train --val_dir=../shared/data/faces_val.
        data=DataConfig(blur_kernel_size=13, blur_sigma=(0.1, 2.5), downsample_range=(0.8, 4.0),
                        shuffle_buffer=2000),
        loss=_cpu_loss(),
        train=_cpu_train(steps=16_000, ema_half_life_images=5_000.0, log_every=50,
                         ckpt_every=1000, keep_checkpoints=20, eval_every=1000, sample_every=1000,
                         num_val=48),
    )


def _cpu_256() -> Config:
    # The cpu_128 width rule at 256 px: every level cpu_128 has keeps its shape
    # (the new 256 px levels get 16 channels), so the trained 128 px weights
    # initialise it (train.init_from, progressive growing; the skip-ToRGB at
    # 128 px makes the grown model start as rdfr_cpu128 upsampled). [ours]
    return Config(
        name="cpu_256",
        model=ModelConfig(resolution=256, enc_ch_base=2048, dec_ch_base=4096, ch_max=256,
                          num_skips=4, lowres_rgb=128),
        # The GFPGAN ranges scaled to 256 px (blur sigma 0.1-10 / kernel 41 at
        # 512 px -> 0.1-5 / 25; downsampling up to 8x, so the smallest face is
        # 32 px as in cpu_128), widened as real photos are degraded: five
        # resize kernels down (half antialiased) and four up, grey and Poisson
        # noise, and a second blur-noise-JPEG pass in 20% of the samples. [ours,
        # after Real-ESRGAN; method.md section 5]
        data=DataConfig(blur_kernel_size=25, blur_sigma=(0.1, 5.0), downsample_range=(0.8, 8.0),
                        resize_down_methods=("area", "bilinear", "bicubic", "lanczos3", "nearest"),
                        resize_up_methods=("bilinear", "bicubic", "lanczos3", "area"),
                        resize_antialias_prob=0.5, gray_noise_prob=0.4, poisson_prob=0.3,
                        poisson_scale=(0.05, 1.5), second_order_prob=0.2, second_blur_sigma=(0.1, 1.0),
                        shuffle_buffer=2000),
        # The recipe that trained rdfr_cpu256 (docs/models.md), chosen by the
        # equal-budget A/Bs at 128 px (experiments/results/ab_128): no fidelity
        # knob (it cost 0.3 dB at w = 1), no perceptual loss (it cost PSNR and
        # identity on the independent chain), alpha 0.02 at the start; lr 2.5e-3
        # and an EMA half-life of 1,000 images as in those A/Bs. The bundled
        # model then went on with alpha = 0 from step 859 and lr 5e-4 from
        # step 2,562 (--set; the adversarial term lowered the in-run PSNR at
        # 256 px in both runs). [ours]
        loss=dataclasses.replace(_cpu_loss(), alpha=0.02),
        train=_cpu_train(steps=12_000, lr=2.5e-3, ema_half_life_images=1_000.0, log_every=50,
                         ckpt_every=500, keep_checkpoints=10, eval_every=250, sample_every=500,
                         num_val=48, init_from="rdfr_cpu128"),
    )


def _test() -> Config:
    return Config(
        name="test",
        model=ModelConfig(resolution=32, enc_ch_base=128, dec_ch_base=256, ch_max=16, num_skips=2,
                          noise_strength_init=0.1),
        data=DataConfig(shuffle_buffer=16),
        loss=LossConfig(perceptual="off", r1_interval=2),
        train=TrainConfig(batch_size=4, steps=2, ema_half_life_images=100.0, log_every=1,
                          ckpt_every=1, eval_every=2, sample_every=2, num_val=4, precision="fp32"),
    )


_PRESETS = {
    "paper_512": _paper_512,
    "paper_256": _paper_256,
    "tiny": _tiny,
    "cpu_128": _cpu_128,
    "cpu_256": _cpu_256,
    "test": _test,
}


def names() -> list:
    return sorted(_PRESETS)


def get(name: str) -> Config:
    """Returns the named preset; raises ``UnknownPresetError`` (a ``KeyError``)
    listing valid names."""
    if name not in _PRESETS:
        raise UnknownPresetError(f"Unknown preset {name!r}; available presets: {names()}")
    cfg = _PRESETS[name]()
    validate(cfg)
    return cfg
