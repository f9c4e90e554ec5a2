"""Starting or resuming a training run safely [ours].

What :func:`faceres_tf.training.train` (:mod:`~faceres_tf.training.train_lib`)
does around the loop of :class:`Trainer`, with the helpers of this module:

* :func:`chief_session`: the chief locks the run directory (:class:`RunLock`;
  a second training gets :class:`RunLockedError`), compares the config with
  the run's saved one (:func:`run_dir.check_resume_config`), logs to
  ``log.txt``, and when a *new* run fails with a user error before its first
  checkpoint, removes what it created, so a corrected command starts clean.
* ``Trainer.restore_checkpoint``: the newest usable checkpoint, then
  :func:`checkpoint.tidy_after_restore` repairs what a killed session left.
* :func:`record_trainer_session`: ``config.json`` / ``run_info.json`` (with the config
  history) for the session.

See also the README section "What happens when things go wrong".
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from faceres_tf.config import Config
from faceres_tf.errors import RunDirError, UserError
from faceres_tf.training import checkpoint as ckpt_lib
from faceres_tf.training import run_dir as rd
from faceres_tf.training.run_lock import RunLock
from faceres_tf.training.strategy import strategy_name

logger = logging.getLogger("faceres_tf.train")


def checked_config_changes(workdir: Path, cfg: Config, allow_config_change: bool) -> dict:
    """:func:`run_dir.check_resume_config` against the checkpoints on disk:
    the changes, or :class:`ConfigChangedError` when a resume is refused."""
    has_checkpoints = bool(ckpt_lib.list_checkpoints(workdir / "checkpoints"))
    return rd.check_resume_config(workdir, cfg, allow_config_change, has_checkpoints)


@dataclasses.dataclass
class Session:
    """What :func:`chief_session` yields: the accepted config changes; set
    ``trainer`` once it exists (it tells whether a checkpoint was written)."""

    changes: dict
    trainer: object = None


@contextlib.contextmanager
def chief_session(workdir: Path, cfg: Config, allow_config_change: bool):
    """The chief's hold on ``workdir`` for one session (see the module docstring).

    Yields a :class:`Session`; the lock and the log file are released however
    the block ends.
    """
    was_new, existed = rd.is_new_run_dir(workdir), workdir.exists()
    lock = lock_run_dir(workdir)
    handler, session, discard = None, None, False
    try:
        session = Session(checked_config_changes(workdir, cfg, allow_config_change))
        handler = rd.add_file_logging(workdir, logger)
        yield session
    except UserError:
        trainer = session.trainer if session is not None else None
        discard = was_new and (trainer is None or not trainer.has_checkpoint)
        raise
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
        lock.release()
        if discard:
            discard_new_run(workdir, existed)


def lock_run_dir(workdir: Path) -> RunLock:
    """Creates the run directory's layout and takes its lock."""
    try:
        rd.ensure_layout(workdir)
        return RunLock(workdir).acquire()
    except PermissionError as e:
        raise RunDirError(f"cannot write to --workdir {workdir}: {e.strerror} ({e.filename}); "
                          "choose a writable folder") from None


def record_trainer_session(trainer, step: int, changes: dict, steps: int | None, init: dict | None = None) -> None:
    """config.json / run_info.json for a session of ``trainer`` resumed at
    ``step`` (with ``init``, what ``train.init_from`` copied); logs the config changes."""
    cfg, strategy = trainer.cfg, trainer.strategy
    saved = cfg.to_dict()
    saved["resolved"] = {"perceptual_weights": str(trainer.perceptual_source),
                         "precision": trainer.precision}  # train.precision "auto" resolved
    rd.record_session(trainer.run_dir, saved, step, changes, {
        "strategy": strategy_name(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "precision": trainer.precision,
        "precision_reason": trainer.precision_reason,
        "target_steps": int(steps if steps is not None else cfg.train.steps),
        **({"initialised_from": init} if init else {}),
    })
    for key, (old, new) in changes.items():
        level = logging.INFO if key in rd.RESUME_FREE_FIELDS else logging.WARNING
        logger.log(level, "Config change from step %d on: %s %r -> %r", step, key, old, new)


def discard_new_run(workdir: Path, existed: bool) -> None:
    """Removes what a new run created before failing on a user error (it had
    no checkpoint yet), so a corrected command starts from a clean slate."""
    if existed:  # an empty folder the user made: empty it again, keep it
        for p in workdir.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    else:
        shutil.rmtree(workdir, ignore_errors=True)
