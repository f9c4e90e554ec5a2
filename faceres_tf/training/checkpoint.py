"""Finding, checking and loading the checkpoints of a run directory.

The trainer writes ``RUN_DIR/checkpoints/ckpt-<step>.index`` and
``ckpt-<step>.data-XXXXX-of-NNNNN`` with ``tf.train.CheckpointManager``, plus
the index file ``checkpoints/checkpoint`` naming the latest one.

Resuming never trusts the index file alone ([ours], like Orbit's and Keras
BackupAndRestore's "restore the latest usable state, never start over on top
of one"):

1. the checkpoints are found from the files themselves
   (:func:`list_checkpoints`), so a missing or garbled index file loses
   nothing;
2. the newest *complete* checkpoint whose every tensor reads back (each tensor
   is checked against its stored CRC32C) is used (:func:`find_restorable`);
   newer ones that are incomplete or unreadable are skipped with the reason,
   and moved to ``checkpoints/unusable/`` (:func:`tidy_after_restore`);
3. if checkpoint files exist but none can be read, training refuses to start
   (:class:`RunDirError` naming the folder) instead of starting from step 0;
4. the index file is rewritten to match (:func:`write_index`), and
   temporaries of a killed save (``ckpt-N_temp/``) are removed
   (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import time
from pathlib import Path

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.python.checkpoint import checkpoint_management

from faceres_tf.config import Config
from faceres_tf.config_ranges import validate
from faceres_tf.errors import NotFoundError, RunDirError
from faceres_tf.models import build_generator
from faceres_tf.training.run_dir import (
    SUPERSEDED_METRICS,
    load_config,
    remove_run_temporaries,
    supersede_metrics_after,
)

logger = logging.getLogger("faceres_tf.train")

CHECKPOINT_NAME = "ckpt"
INDEX_FILE = "checkpoint"
UNUSABLE_DIR = "unusable"
_INDEX_RE = re.compile(r"^ckpt-(\d+)\.index$")
_DATA_RE = re.compile(r"^ckpt-(\d+)\.data-(\d+)-of-(\d+)$")
_TEMP_RE = re.compile(r"^ckpt-\d+_temp")


@dataclasses.dataclass
class CheckpointFiles:
    """One ``ckpt-<step>`` found on disk."""

    step: int
    prefix: str  # absolute path without extension, what tf.train.Checkpoint.restore takes
    files: list
    problem: str = ""  # why it is incomplete ("" when all files are there)

    @property
    def name(self) -> str:
        return os.path.basename(self.prefix)


def list_checkpoints(ckpt_dir: os.PathLike) -> list:
    """Every ``ckpt-<step>`` in ``ckpt_dir`` (newest first), complete or not.

    Complete = the ``.index`` file is non-empty and all ``NNNNN`` data shards
    exist; otherwise ``problem`` says what is missing. The index file
    ``checkpoint`` is not read.
    """
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    index, shards = {}, {}
    for p in ckpt_dir.iterdir():
        if not p.is_file():
            continue
        m = _INDEX_RE.match(p.name)
        if m:
            index[int(m.group(1))] = p
            continue
        m = _DATA_RE.match(p.name)
        if m:
            shards.setdefault(int(m.group(1)), []).append((int(m.group(2)), int(m.group(3)), p))
    out = []
    for step in sorted(set(index) | set(shards), reverse=True):
        data = sorted(shards.get(step, []))
        files = ([index[step]] if step in index else []) + [p for _, _, p in data]
        problem = ""
        if step not in index:
            problem = "its .index file is missing"
        elif index[step].stat().st_size == 0:
            problem = "its .index file is empty"
        elif not data:
            problem = "its .data file is missing"
        else:
            total = data[0][1]
            have = {i for i, n, _ in data if n == total}
            if have != set(range(total)):
                missing = sorted(set(range(total)) - have)
                problem = f"data shard(s) {missing} of {total} are missing"
        out.append(CheckpointFiles(step, str(ckpt_dir.resolve() / f"{CHECKPOINT_NAME}-{step}"),
                                   [str(f) for f in files], problem))
    return out


def read_problem(prefix: str) -> str:
    """Reads every tensor of the checkpoint ``prefix``; returns "" if all read
    back (TensorFlow checks each tensor's CRC32C), else the reason."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_dtype_map():
            reader.get_tensor(key)
    except Exception as e:  # noqa: BLE001 - any failure means the files are unusable
        text = " ".join(str(e).split()) or type(e).__name__
        return f"{type(e).__name__}: {text[:300]}"
    return ""


@dataclasses.dataclass
class RestorePlan:
    """The checkpoint to restore (None: none on disk) and the newer ones skipped."""

    chosen: CheckpointFiles | None
    skipped: list  # [(CheckpointFiles, reason)]
    older: list  # complete checkpoints older than ``chosen`` (oldest first)


def find_restorable(ckpt_dir: os.PathLike) -> RestorePlan:
    """The newest checkpoint of ``ckpt_dir`` whose files are complete and read back.

    Raises:
        RunDirError: checkpoint files exist but none can be read (the run is
            never silently started over on top of them).
    """
    found = list_checkpoints(ckpt_dir)
    skipped = []
    for i, ck in enumerate(found):
        reason = ck.problem or read_problem(ck.prefix)
        if not reason:
            older = [c for c in reversed(found[i + 1:]) if not c.problem]
            return RestorePlan(ck, skipped, older)
        skipped.append((ck, reason))
    if skipped:
        details = "; ".join(f"{c.name}: {r}" for c, r in skipped)
        raise RunDirError(
            f"{ckpt_dir} holds {len(skipped)} checkpoint(s) but none can be read ({details}). "
            "Refusing to start over on top of them: restore the files, or move them away "
            "(or use another --workdir) to start a new run."
        )
    return RestorePlan(None, [], [])


def latest_checkpoint(ckpt_dir: os.PathLike) -> str | None:
    """Prefix of the newest usable checkpoint (None if there is none).

    Like ``tf.train.latest_checkpoint`` but from the files, so it survives a
    missing or garbled index file and skips unreadable newer checkpoints.
    """
    plan = find_restorable(ckpt_dir)
    return plan.chosen.prefix if plan.chosen else None


def checkpoint_step(prefix: str | None) -> int:
    """``.../ckpt-1234`` -> 1234 (0 for None)."""
    if not prefix:
        return 0
    m = re.search(r"ckpt-(\d+)$", str(prefix))
    return int(m.group(1)) if m else 0


def read_index(ckpt_dir: os.PathLike) -> tuple:
    """``(latest name or None, problem)`` of the index file ``checkpoint``;
    problem is "" when it is present and parses."""
    path = Path(ckpt_dir) / INDEX_FILE
    if not path.is_file():
        return None, "missing"
    try:
        state = text_format.Parse(path.read_text(), checkpoint_management.CheckpointState())
    except Exception as e:  # noqa: BLE001
        return None, f"unreadable ({type(e).__name__})"
    if not state.model_checkpoint_path:
        return None, "empty"
    return os.path.basename(state.model_checkpoint_path), ""


def set_index_aside(ckpt_dir: os.PathLike) -> Path | None:
    """Renames an unreadable index file to ``checkpoint.unreadable-<time>``
    (TensorFlow's CheckpointManager would fail or ignore it); it is rebuilt
    from the checkpoint files by :func:`write_index`. Returns the new name."""
    path = Path(ckpt_dir) / INDEX_FILE
    if not path.is_file():
        return None
    dest = path.with_name(f"{INDEX_FILE}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, dest)
    return dest


def write_index(ckpt_dir: os.PathLike, chosen: CheckpointFiles, older: list) -> None:
    """Rewrites the index file so ``chosen`` is the latest and ``older`` (oldest
    first) the others, as ``tf.train.CheckpointManager`` writes it."""
    ckpt_dir = Path(ckpt_dir)
    entries = list(older) + [chosen]
    stamps = [os.path.getmtime(c.prefix + ".index") for c in entries]
    lines = [f'model_checkpoint_path: "{chosen.name}"']
    lines += [f'all_model_checkpoint_paths: "{c.name}"' for c in entries]
    lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in stamps]
    # Older than every entry, so CheckpointManager may delete all of them
    # (an entry at or before it would count as "preserved" forever).
    lines.append(f"last_preserved_timestamp: {min(stamps) - 1.0!r}")
    tmp = ckpt_dir / (INDEX_FILE + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, ckpt_dir / INDEX_FILE)


def set_aside(ckpt_dir: os.PathLike, ck: CheckpointFiles) -> Path:
    """Moves an unusable checkpoint's files to ``checkpoints/unusable/`` (kept
    for inspection, out of the way of the next save); returns that folder."""
    dest = Path(ckpt_dir) / UNUSABLE_DIR
    dest.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for f in ck.files:
        target = dest / f"{Path(f).name}.{stamp}"
        os.replace(f, target)
    return dest


def remove_stale_temporaries(ckpt_dir: os.PathLike) -> list:
    """Deletes ``ckpt-N_temp*`` folders/files (a save killed half-way; TensorFlow
    merges them into ``ckpt-N.*`` only when the save completes) and the index
    file's own temporary. Returns the removed names."""
    ckpt_dir = Path(ckpt_dir)
    removed = []
    if not ckpt_dir.is_dir():
        return removed
    for p in sorted(ckpt_dir.iterdir()):
        if _TEMP_RE.match(p.name) or p.name == INDEX_FILE + ".tmp":
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p.name)
    return removed


def tidy_after_restore(run_dir: Path, plan: RestorePlan, step: int) -> bool:
    """On the chief, after the trainer restored ``plan.chosen`` at ``step``:
    moves unusable checkpoints to ``checkpoints/unusable/``, removes
    temporaries of a killed save, rewrites a wrong index file and moves metrics
    records past ``step`` to ``metrics_superseded.jsonl``. Returns True when
    the index was rewritten (the CheckpointManager must then be made again)."""
    ckpt_dir = run_dir / "checkpoints"
    for ck, _ in plan.skipped:
        dest = set_aside(ckpt_dir, ck)
        logger.warning("Moved the unusable %s to %s", ck.name, dest)
    removed = remove_stale_temporaries(ckpt_dir) + remove_run_temporaries(run_dir)
    if removed:
        logger.info("Removed temporaries of an interrupted write: %s", ", ".join(removed))
    rewritten = False
    if plan.chosen is not None:
        name, problem = read_index(ckpt_dir)
        if problem or name != plan.chosen.name:
            logger.warning("Checkpoint index %s was %s; rewritten to name %s.",
                           ckpt_dir / INDEX_FILE, problem or f"pointing at {name}",
                           plan.chosen.name)
            write_index(ckpt_dir, plan.chosen, plan.older)
            rewritten = True
    moved = supersede_metrics_after(run_dir, step)
    if moved:
        logger.warning("%d metrics record(s) of steps after %d (lost with the interrupted "
                       "session) moved to %s.", moved, step, SUPERSEDED_METRICS)
    return rewritten


def load_generator(run_dir: os.PathLike, use_ema: bool = True, checkpoint: str | None = None):
    """Returns ``(generator, config)`` restored from ``run_dir``'s latest checkpoint.

    Args:
        run_dir: a directory written by ``faceres-train``.
        use_ema: the EMA generator (what evaluation and export use) or the raw one.
        checkpoint: a specific checkpoint prefix (default: the newest usable one,
            found as described in the module docstring).
    """
    run_dir = Path(run_dir)
    cfg: Config = load_config(run_dir)
    validate(cfg)
    path = checkpoint
    if not path:
        plan = find_restorable(run_dir / "checkpoints")
        for ck, reason in plan.skipped:
            logger.warning("Skipping checkpoint %s: %s", ck.prefix, reason)
        path = plan.chosen.prefix if plan.chosen else None
    if not path:
        raise NotFoundError(
            f"No checkpoint in {run_dir / 'checkpoints'}; train first "
            f"(faceres-train --workdir {run_dir} ...)"
        )
    generator = build_generator(cfg)
    key = "generator_ema" if use_ema else "generator"
    ckpt = tf.train.Checkpoint(**{key: generator})
    ckpt.restore(path).expect_partial().assert_existing_objects_matched()
    return generator, cfg
