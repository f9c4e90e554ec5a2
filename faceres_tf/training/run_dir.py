"""One directory per run: resolved config, git commit, logs, metrics, checkpoints.

Layout of ``RUN_DIR``::

    config.json        the resolved Config in force (plus what was actually used,
                       e.g. the VGG19 weights file or "off")
    run_info.json      one entry per session (git commit, TensorFlow/Keras
                       versions, strategy, replicas, step resumed from) and the
                       config_history (each accepted config change and its step)
    train.lock         held (flock) while a training runs; see run_lock.py
    log.txt            the training log
    metrics.jsonl      one JSON object per logged step / evaluation (each step
                       once: records past the step a killed run resumed from
                       are moved to metrics_superseded.jsonl)
    checkpoints/       tf.train.CheckpointManager checkpoints (G, G_ema, D,
                       both optimizers, step, data seed)
    samples/           image grids: degraded | restored (G_ema) | target
    tensorboard/       TensorBoard event files
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

from faceres_tf.config import Config
from faceres_tf.errors import ConfigChangedError, ConfigError, NotFoundError, RunDirError


def git_commit(path: os.PathLike | None = None) -> str:
    """The commit of the source tree (with '-dirty' when modified), or 'unknown'."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def write_json(path: os.PathLike, obj) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def load_config(run_dir: os.PathLike) -> Config:
    """The run's ``config.json`` as a :class:`Config` (:class:`NotFoundError` /
    :class:`ConfigError` naming the file when it is missing or unreadable)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise NotFoundError(
            f"{path} not found: {run_dir} is not a faceres_tf run directory "
            "(expected config.json and checkpoints/ written by faceres-train)"
        )
    try:
        return Config.from_json(path.read_text())
    except (ConfigError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None


def is_new_run_dir(run_dir: os.PathLike) -> bool:
    """True when ``run_dir`` does not exist or is an empty folder."""
    run_dir = Path(run_dir)
    return not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir()))


def ensure_layout(run_dir: os.PathLike) -> None:
    """Creates ``run_dir``, ``checkpoints/`` and ``samples/`` if missing."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--workdir {run_dir} is a file, not a folder; choose another --workdir")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "samples").mkdir(exist_ok=True)


# ---- config changes between sessions of one run --------------------------
# Which fields may differ when a run is resumed [ours]:
# * model.*: never; the checkpoint could not be restored into another network.
# * RESUME_FREE_FIELDS: bookkeeping that does not change what is trained
#   (total steps, intervals, how many checkpoints are kept, evaluation set,
#   XLA on/off, the compute precision, the path of the same VGG19 file, the
#   preset's label). Allowed; each change is still recorded in run_info.json
#   "config_history". (Weights and optimiser state are float32 in every
#   precision, so checkpoints move between them, and "auto", the default,
#   may resolve differently on another CPU.)
# * everything else (data, degradation, losses, optimiser, batch, seed):
#   refused unless explicitly allowed (``--allow_config_change``); an allowed
#   change is recorded with the step it took effect at.
RESUME_FREE_FIELDS = frozenset({
    "name", "train.steps", "train.log_every", "train.ckpt_every", "train.eval_every",
    "train.sample_every", "train.keep_checkpoints", "train.num_val", "train.jit_compile", "train.precision",
    "data.val_dir", "loss.vgg_weights",
})
PATH_FIELDS = ("data.train_dir", "data.val_dir")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = tuple(v) if isinstance(v, list) else v
    return out


def _same_path(a: str, b: str, base_a: str) -> bool:
    """Paths spelled differently but naming the same folder count as equal."""
    if a == b:
        return True
    ra = os.path.realpath(os.path.join(base_a, os.path.expanduser(a)))
    rb = os.path.realpath(os.path.expanduser(b))
    return ra == rb


def config_changes(saved: Config, new: Config, saved_cwd: str | None = None) -> dict:
    """``{dotted key: (saved value, new value)}`` for every field that differs.

    Relative data paths of the saved config are resolved against ``saved_cwd``
    (the working directory of the session that wrote it, when recorded).
    """
    old_flat, new_flat = _flatten(saved.to_dict()), _flatten(new.to_dict())
    changes = {}
    for key in sorted(set(old_flat) | set(new_flat)):
        a, b = old_flat.get(key), new_flat.get(key)
        if key in PATH_FIELDS and isinstance(a, str) and isinstance(b, str):
            if _same_path(a, b, saved_cwd or os.getcwd()):
                continue
        if a != b:
            changes[key] = (a, b)
    return changes


def _fmt_changes(changes: dict) -> str:
    return ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())


def check_resume_config(run_dir: os.PathLike, cfg: Config, allow_config_change: bool = False,
                        has_checkpoints: bool = False) -> dict:
    """Compares ``cfg`` with the run's saved config before anything is written.

    Returns the changes (``{key: (old, new)}``; {} for a new run). Raises
    :class:`ConfigChangedError` listing the keys when the model differs (never
    allowed) or when a training field differs and not ``allow_config_change``.
    Without checkpoints nothing was trained yet, so any change is accepted
    (and recorded).
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        if has_checkpoints and not allow_config_change:
            raise ConfigChangedError(
                f"{run_dir} holds checkpoints but no config.json, so the config they were "
                "trained with is unknown; put config.json back, or pass --allow_config_change "
                "to continue them with this config (recorded in run_info.json).")
        return {}
    saved = load_config(run_dir)
    changes = config_changes(saved, cfg, _last_session_cwd(run_dir))
    if not has_checkpoints:  # nothing was trained with the saved config: a fresh start
        return changes
    model = {k: v for k, v in changes.items() if k.startswith("model.")}
    if model:
        raise ConfigChangedError(
            f"{run_dir} holds a run of a different model ({_fmt_changes(model)}); its checkpoints "
            "cannot be restored into this network. Use another --workdir.")
    tracked = {k: v for k, v in changes.items() if k not in RESUME_FREE_FIELDS}
    if tracked and not allow_config_change:
        raise ConfigChangedError(
            f"the config differs from the one {run_dir} was trained with "
            f"({_fmt_changes(tracked)}). Resume with the same settings, use another --workdir, "
            "or pass --allow_config_change to change them from the resumed step on (recorded "
            "in run_info.json).")
    return changes


def _read_run_info(run_dir: Path) -> dict:
    path = run_dir / "run_info.json"
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        # Keep the unreadable file for the record instead of overwriting it.
        backup = path.with_name(f"run_info.unreadable.{time.strftime('%Y%m%d-%H%M%S')}.json")
        os.replace(path, backup)
        logging.getLogger("faceres_tf.train").warning(
            "%s was not valid JSON; kept as %s and started a new one.", path, backup.name)
        return {}
    return info if isinstance(info, dict) else {}


def _last_session_cwd(run_dir: Path) -> str | None:
    sessions = _read_run_info(Path(run_dir)).get("sessions") or [{}]
    return sessions[-1].get("cwd") if isinstance(sessions[-1], dict) else None


def record_session(run_dir: os.PathLike, config_dict: dict, step: int, changes: dict,
                   extra_info: dict | None = None) -> None:
    """Writes the session's record once the run has been restored at ``step``.

    * ``run_info.json``: a new entry in ``sessions`` (commit, versions, cwd,
      step resumed from) and, when the config changed, an entry in
      ``config_history`` (step, time, each key's old and new value); earlier
      entries are never rewritten.
    * ``config.json``: the config in force from ``step`` on. When a training
      field changed, the previous file is kept as ``config_until_step_<step>.json``.
    """
    run_dir = Path(run_dir)
    info = _read_run_info(run_dir)
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    session = {"git_commit": git_commit(), "started": now, "cwd": os.getcwd(),
               "resumed_from_step": int(step)}
    session.update(extra_info or {})
    info.setdefault("sessions", []).append(session)
    if changes:
        tracked = sorted(k for k in changes if k not in RESUME_FREE_FIELDS)
        info.setdefault("config_history", []).append({
            "step": int(step), "time": now,
            "changes": {k: {"old": a, "new": b} for k, (a, b) in changes.items()},
            "training_fields_changed": tracked,
        })
        old = run_dir / "config.json"
        if tracked and old.is_file():
            keep = run_dir / f"config_until_step_{int(step)}.json"
            n = 1
            while keep.exists():
                n += 1
                keep = run_dir / f"config_until_step_{int(step)}_{n}.json"
            shutil.copy2(old, keep)  # config.json itself is replaced atomically below
    write_json(run_dir / "config.json", config_dict)
    write_json(run_dir / "run_info.json", info)


# ---- records of steps that a resume throws away --------------------------
SUPERSEDED_METRICS = "metrics_superseded.jsonl"


def supersede_metrics_after(run_dir: os.PathLike, step: int) -> int:
    """Moves ``metrics.jsonl`` records of steps > ``step`` (written after the
    checkpoint the run resumes from, then lost with the killed process) to
    ``metrics_superseded.jsonl``, so every step appears once in
    ``metrics.jsonl``. A line cut short by a kill is moved too. Returns the
    number of records moved."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    keep, moved = [], []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            late = int(rec.get("step", 0)) > step
        except (ValueError, TypeError, AttributeError):
            rec, late = {"unparsable_line": line}, True
        if late:
            moved.append(dict(rec, superseded_by_resume_from_step=int(step)))
        else:
            keep.append(line)
    if not moved:
        return 0
    with open(run_dir / SUPERSEDED_METRICS, "a") as f:
        for rec in moved:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)
    return len(moved)


def remove_run_temporaries(run_dir: os.PathLike) -> list:
    """Deletes the ``*.tmp`` files an interrupted atomic write leaves in the
    run directory and ``samples/``; returns their names."""
    run_dir = Path(run_dir)
    removed = []
    for folder in (run_dir, run_dir / "samples"):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and (p.name.endswith(".tmp") or p.name.endswith(".tmp.png")):
                    p.unlink()
                    removed.append(p.name)
    return removed


def add_file_logging(run_dir: os.PathLike, logger: logging.Logger) -> logging.Handler:
    handler = logging.FileHandler(Path(run_dir) / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return handler


class MetricsWriter:
    """Appends one JSON object per line to ``metrics.jsonl``."""

    def __init__(self, run_dir: os.PathLike):
        self.path = Path(run_dir) / "metrics.jsonl"

    def write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def read(self) -> list:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
