"""Helpers for the tests that run the project's commands in subprocesses
(test_cli_convention.py, test_readme.py): how to start a console script of
pyproject.toml, a ``python -m`` module or an experiments driver from this
checkout, and how to run many of them in parallel."""

from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
ENV.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the commands must silence TensorFlow themselves
ENV.pop("FACERES_TF_VERBOSE", None)
# What TensorFlow's C++ start-up log looks like (absl log lines, oneDNN, CUDA probing).
TF_NOISE = re.compile(r"cuInit|cuda|CUDA|oneDNN|absl::InitializeLog|TensorFlow binary is optimized"
                      r"|^[IWEF]\d{4} \d\d:\d\d", re.M)


def console_scripts() -> dict:
    """``[project.scripts]`` of pyproject.toml: command name -> "module:function"."""
    text = (REPO / "pyproject.toml").read_text()
    section = re.search(r"^\[project\.scripts\]\n(.*?)(?=^\[)", text, re.M | re.S).group(1)
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.:]+)"', section, re.M))


def argv_of(command: str) -> list:
    """The argv that starts ``command`` from this checkout: a console-script
    name (``faceres-restore``) or a module (``faceres_tf.restore``,
    ``experiments.skip_ablation``), which ``python -m`` runs."""
    scripts = console_scripts()
    if command in scripts:
        module, function = scripts[command].split(":")
        return [sys.executable, "-c", f"import sys; from {module} import {function}; sys.exit({function}())"]
    return [sys.executable, "-m", command]


def run(argv: list, timeout: float = 300, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def run_all(argvs: dict, workers: int = 4, timeout: float = 300) -> dict:
    """Runs every ``{key: argv}`` (a few at a time); returns ``{key: CompletedProcess}``."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {key: pool.submit(run, argv, timeout) for key, argv in argvs.items()}
        return {key: f.result() for key, f in futures.items()}


def experiment_drivers() -> list:
    """The modules of experiments/ that are commands (``if __name__ == "__main__"``)."""
    return sorted(f"experiments.{p.stem}" for p in (REPO / "experiments").glob("*.py")
                  if p.stem != "cli" and 'if __name__ == "__main__"' in p.read_text())
