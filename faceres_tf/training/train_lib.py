"""The library entry point of training: :func:`train` starts or resumes one run.

``faceres-train`` (:mod:`faceres_tf.train`) parses a command line into a
:class:`~faceres_tf.config.Config` (:mod:`faceres_tf.run_config`) and calls
:func:`train`; the table drivers in ``experiments/`` call it once per variant.
The safety around the loop (lock, resume check, records) is in
:mod:`faceres_tf.training.resume`; the loop itself in
:class:`~faceres_tf.training.trainer.Trainer`.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from faceres_tf import data as fdata
from faceres_tf.config import Config
from faceres_tf.config_ranges import validate
from faceres_tf.training.grow import init_generator
from faceres_tf.training.resume import checked_config_changes, chief_session, record_trainer_session
from faceres_tf.training.strategy import is_chief, make_strategy
from faceres_tf.training.trainer import Trainer, TrainResult

__all__ = ["train"]


def train(cfg: Config, workdir, strategy: tf.distribute.Strategy | None = None,
          steps: int | None = None, progress: bool = True, perceptual_extractor=None,
          stop_after: int | None = None, allow_config_change: bool = False) -> TrainResult:
    """Library entry point: prepares ``workdir``, trains (or resumes) to ``steps``.

    Before anything is created: the config is validated and the training data
    checked (a :class:`faceres_tf.errors.UserError` otherwise). The chief then
    locks ``workdir`` (:class:`RunLock`; a second training on it gets
    :class:`RunLockedError`), compares the config with the run's saved one
    (:func:`run_dir.check_resume_config`; changed training fields need
    ``allow_config_change``, and are recorded with their step), restores the
    newest usable checkpoint and trains. When a new run fails with a user
    error before its first checkpoint, what it created is removed again
    (:func:`chief_session`).

    ``faceres-train`` (:mod:`faceres_tf.train`) and the table drivers in ``experiments/``
    call this after parsing their flags; it reads no flags.
    """
    validate(cfg)
    fdata.check_data_source(cfg.data.train_dir, what="data.train_dir (--data_dir)")
    strategy = strategy or make_strategy()
    workdir = Path(workdir)
    if not is_chief(strategy):  # workers write only to their scratch checkpoint dir
        workdir.mkdir(parents=True, exist_ok=True)
        # the chief's check, read-only: a refused resume stops every worker
        checked_config_changes(workdir, cfg, allow_config_change)
        trainer = Trainer(cfg, workdir, strategy, perceptual_extractor=perceptual_extractor)
        return trainer.fit(steps=steps, progress=progress, stop_after=stop_after)

    with chief_session(workdir, cfg, allow_config_change) as session:
        trainer = Trainer(cfg, workdir, strategy, perceptual_extractor=perceptual_extractor)
        session.trainer = trainer
        step = trainer.restore_checkpoint()
        init = None
        if step == 0 and not trainer.has_checkpoint and cfg.train.init_from:
            init = init_generator([trainer.G, trainer.G_ema], cfg.train.init_from)
        record_trainer_session(trainer, step, session.changes, steps, init)
        return trainer.fit(steps=steps, progress=progress, stop_after=stop_after)
