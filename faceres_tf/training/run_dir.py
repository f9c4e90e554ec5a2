"""One directory per run: resolved config, git commit, logs, metrics, checkpoints.

Layout of ``RUN_DIR``::

    config.json        the resolved Config (plus what was actually used, e.g.
                       the VGG19 weights file or "off")
    run_info.json      git commit, TensorFlow/Keras versions, strategy, replicas
    log.txt            the training log
    metrics.jsonl      one JSON object per logged step / evaluation
    checkpoints/       tf.train.CheckpointManager checkpoints (G, G_ema, D,
                       both optimizers, step, data seed)
    samples/           image grids: degraded | restored (G_ema) | target
    tensorboard/       TensorBoard event files
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path

from faceres_tf.config import Config


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
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: {run_dir} is not a faceres_tf run directory "
            "(expected config.json and checkpoints/ written by experiments.train)"
        )
    return Config.from_json(path.read_text())


def prepare_run_dir(run_dir: os.PathLike, cfg: Config, extra_info: dict | None = None) -> Config:
    """Creates the run directory or checks that it belongs to the same model.

    A new run writes ``config.json``. An existing run keeps its model/data/loss
    settings (a mismatch in the model section is an error, since the checkpoint
    could not be restored); training bookkeeping (``train.steps`` and the
    intervals) may change between restarts. Returns the config to use.
    """
    run_dir = Path(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "samples").mkdir(exist_ok=True)
    path = run_dir / "config.json"
    if path.is_file():
        saved = Config.from_json(path.read_text())
        if saved.model != cfg.model:
            raise ValueError(
                f"{run_dir} holds a run with a different model config; use a new --workdir.\n"
                f"  saved: {saved.model}\n  asked: {cfg.model}"
            )
    write_json(path, cfg.to_dict())
    info = {"git_commit": git_commit(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    info.update(extra_info or {})
    runs = []
    info_path = run_dir / "run_info.json"
    if info_path.is_file():
        runs = json.loads(info_path.read_text()).get("sessions", [])
    runs.append(info)
    write_json(info_path, {"sessions": runs})
    return cfg


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
        return [json.loads(l) for l in self.path.read_text().splitlines() if l.strip()]
