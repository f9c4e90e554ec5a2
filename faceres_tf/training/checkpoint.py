"""Loading a trained generator from a run directory (for restore / export /
experiments)."""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from faceres_tf.config import Config
from faceres_tf.models import build_generator
from faceres_tf.training.run_dir import load_config


def load_generator(run_dir: os.PathLike, use_ema: bool = True, checkpoint: str | None = None):
    """Returns ``(generator, config)`` restored from ``run_dir``'s latest checkpoint.

    Args:
        run_dir: a directory written by ``python -m experiments.train``.
        use_ema: the EMA generator (what evaluation and export use) or the raw one.
        checkpoint: a specific checkpoint prefix (default: the latest).
    """
    run_dir = Path(run_dir)
    cfg: Config = load_config(run_dir)
    path = checkpoint or tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if not path:
        raise FileNotFoundError(
            f"No checkpoint in {run_dir / 'checkpoints'}; train first "
            f"(python -m experiments.train --workdir {run_dir} ...)"
        )
    generator = build_generator(cfg)
    key = "generator_ema" if use_ema else "generator"
    ckpt = tf.train.Checkpoint(**{key: generator})
    ckpt.restore(path).expect_partial().assert_existing_objects_matched()
    return generator, cfg
