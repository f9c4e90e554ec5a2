"""Width schedules of the encoder and decoder [paper, Tables 4 and 5].

ch(r) = min(ch_max, ch_base / r) for a stage whose *output* side is r. With
enc_ch_base = 8192, dec_ch_base = 16384 and ch_max = 512 this reproduces the
appendix's tables exactly at R = 512.
"""

from __future__ import annotations

from faceres_tf.config import ModelConfig
from faceres_tf.config_ranges import skip_nodes


def encoder_channels(r: int, cfg: ModelConfig) -> int:
    return int(min(cfg.ch_max, cfg.enc_ch_base // r))


def decoder_channels(r: int, cfg: ModelConfig) -> int:
    return int(min(cfg.ch_max, cfg.dec_ch_base // r))


def encoder_resolutions(cfg: ModelConfig) -> list:
    """Output sides of the encoder's ResBlocks: R/2, R/4, ..., 4."""
    out, r = [], cfg.resolution // 2
    while r >= 4:
        out.append(r)
        r //= 2
    return out


def decoder_resolutions(cfg: ModelConfig) -> list:
    """Output sides of the decoder's StyleBlocks: 8, 16, ..., R."""
    out, r = [], 8
    while r <= cfg.resolution:
        out.append(r)
        r *= 2
    return out


def skip_resolutions(cfg: ModelConfig) -> list:
    """The sides of the model's skips: the first ``num_skips`` of its skip nodes."""
    return list(skip_nodes(cfg.resolution)[: cfg.num_skips])
