"""What the SavedModel and the TFLite export share: the generator's input
facts (:func:`resolution_of`, :func:`has_fidelity_input`) and the rules of
what an export may overwrite. [ours]

An export folder is recognised by its :data:`EXPORT_MARKER` file (written
last, so a folder holding it is a complete export) or, for exports written
before the marker existed, by an ``export_info.json`` with the keys
:func:`faceres_tf.export.export_run` writes. Only such a folder, holding
nothing but export outputs, is ever replaced; a SavedModel folder or a
``.tflite`` file only when it is one. A new export is written into a sibling
staging folder and moved into place once complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from faceres_tf.errors import UnsafePathError

__all__ = ["EXPORT_ENTRIES", "EXPORT_MARKER", "check_export_target", "commit_export", "has_fidelity_input",
           "is_saved_model_dir", "is_tflite_file", "prepare_out", "resolution_of", "saved_model_dir",
           "staging_dir"]


def resolution_of(generator) -> int:
    """R, the side of the square faces ``generator`` takes."""
    inputs = generator.inputs
    if isinstance(inputs, dict):
        shape = inputs["image"].shape
    else:
        shape = [t for t in inputs if len(t.shape) == 4][0].shape
    return int(shape[1])


def has_fidelity_input(generator) -> bool:
    """``generator`` takes the optional ``fidelity`` input (``model.fidelity_input``)."""
    cfg = getattr(generator, "model_config", None)
    if cfg is not None:
        return bool(getattr(cfg, "fidelity_input", False))
    return isinstance(generator.inputs, dict) and "fidelity" in generator.inputs


EXPORT_MARKER = "FACERES_EXPORT"
EXPORT_ENTRIES = {EXPORT_MARKER, "export_info.json", "saved_model", "model.tflite"}


def is_saved_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def saved_model_dir(path: str | os.PathLike) -> Path:
    """The SavedModel folder for ``path``: ``path`` itself, or ``path/saved_model``
    when ``path`` is an export folder written by :func:`export_run` (so
    ``--saved_model EXPORT_DIR`` works as well as ``EXPORT_DIR/saved_model``)."""
    path = Path(path)
    if not is_saved_model_dir(path) and is_saved_model_dir(path / "saved_model"):
        return path / "saved_model"
    return path


def is_export_dir(path: Path) -> bool:
    if not path.is_dir():
        return False
    if (path / EXPORT_MARKER).is_file():
        return True
    try:
        info = json.loads((path / "export_info.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and {"run_dir", "resolution", "generator"} <= set(info)


def _refuse_overwrite(path: Path, what: str) -> None:
    kind = "a file" if path.is_file() else "a folder"
    raise UnsafePathError(
        f"{path} exists and is {kind} that is not {what}; refusing to replace it even with "
        "--overwrite. Choose another output path.")


def prepare_out(path: Path, overwrite: bool, is_ours=None,
                 what: str = "an earlier export") -> None:
    """Clears ``path`` for a new output: only with ``overwrite`` and only when
    ``is_ours(path)`` recognises it as an earlier output of the same kind."""
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
        if is_ours is None or path.is_symlink() or not is_ours(path):
            _refuse_overwrite(path, what)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)


def check_export_target(out_dir: Path, overwrite: bool) -> None:
    """Refuses ``out_dir`` unless it is new, an empty folder or (with
    ``overwrite``) an earlier export holding only export outputs."""
    if not (out_dir.exists() or out_dir.is_symlink()):
        return
    if out_dir.is_dir() and not out_dir.is_symlink() and not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out_dir} exists; pass --overwrite to replace it")
    if out_dir.is_symlink() or not is_export_dir(out_dir):
        _refuse_overwrite(out_dir, "an earlier export (no FACERES_EXPORT marker)")
    extra = sorted(p.name for p in out_dir.iterdir() if p.name not in EXPORT_ENTRIES)
    if extra:
        raise UnsafePathError(
            f"{out_dir} is an earlier export but also holds {extra[:5]}; refusing to delete them "
            "even with --overwrite. Move them away or choose another --output.")


def staging_dir(out_dir: Path) -> Path:
    """A fresh sibling folder the export is written into before it replaces ``out_dir``."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp makes it private (0700)
    return staging


def commit_export(staging: Path, out_dir: Path) -> None:
    """Marks ``staging`` complete and moves it to ``out_dir``; an earlier export
    there is removed only after the new one is complete."""
    (staging / EXPORT_MARKER).write_text(
        "Written by faceres_tf.export; `faceres-export --overwrite` may replace this folder.\n")
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    os.replace(staging, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def is_tflite_file(path: Path) -> bool:
    """``path`` is a ``.tflite`` flatbuffer (what ``--overwrite`` may replace)."""
    if not path.is_file() or path.suffix.lower() != ".tflite":
        return False
    with open(path, "rb") as f:
        return f.read(8)[4:8] == b"TFL3"  # the flatbuffer's file identifier
