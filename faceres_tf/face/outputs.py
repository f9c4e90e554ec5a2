"""Where ``faceres-restore`` writes: names, folders, the lock and the checks
made before any restoration.

Layout of ``--output`` (GFPGAN's, plus ``cmp/`` and ``restored_videos/``;
sub-folders mirror the input's sub-folders):

* ``cropped_faces/NAME_II.EXT`` - each aligned input face (not with ``--aligned``);
* ``restored_faces/NAME_II.EXT`` - each restored face (``NAME.EXT`` with ``--aligned``);
* ``restored_imgs/NAME.EXT`` - the whole photo with the faces pasted back;
* ``cmp/NAME_II.EXT`` - input crop | restoration(s) side by side;
* ``restored_videos/NAME.mp4`` - a restored video (frames as restored_imgs).

``_seedS`` (several samples) and ``_SUFFIX`` (``--suffix``) are appended to
the restored files' names. [ours]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX (Windows): no output lock
    fcntl = None

from faceres_tf import image_io
from faceres_tf.errors import UserError

OUTPUT_SUBDIRS = ("cropped_faces", "restored_faces", "restored_imgs", "cmp", "restored_videos")
LOCK_NAME = ".faceres-restore.lock"
# Longest output base name in UTF-8 bytes: room for "_II_seedS_SUFFIX.ext" and a
# temporary's prefix within the usual 255-byte limit of a file name.
MAX_NAME_BYTES = 150
MAX_SUFFIX_CHARS = 32


def inside(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies below it (both resolved)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_paths(in_path: Path, out_root: Path) -> str:
    """"" when ``--input`` / ``--output`` may be used together, else the error.

    Refused: an output that is an existing file, and an input inside the
    output tree (it would be read as input and could be replaced by an output).
    """
    if out_root.exists() and not out_root.is_dir():
        return f"--output {out_root} is a file; give a folder (created if missing)"
    for sub in OUTPUT_SUBDIRS:
        if inside(in_path, out_root / sub):
            return (f"--input {in_path} lies inside the output tree of --output {out_root} "
                    f"({out_root / sub}); outputs could replace inputs. Choose another --output "
                    "or move the inputs.")
    return ""


def excluded_from_inputs(in_path: Path, out_root: Path) -> tuple:
    """Folders not to search for inputs: the output folder when it is below the
    input folder, else (same folder or above) its output sub-folders."""
    if inside(out_root, in_path) and out_root.resolve() != in_path.resolve():
        return (out_root,)
    return tuple(out_root / sub for sub in OUTPUT_SUBDIRS)


def short_name(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """``name`` when it fits in ``max_bytes`` UTF-8 bytes, else its start +
    ``~`` + 8 hex digits of its hash (distinct names stay distinct)."""
    if len(name.encode("utf-8")) <= max_bytes:
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    head = name.encode("utf-8")[: max_bytes - 9].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def output_names(inputs: list, root: Path | None) -> dict:
    """Input path -> output base name (relative, without extension), unique;
    over-long file names are shortened (:func:`short_name`)."""
    names = {}
    for p in inputs:
        rel = p.relative_to(root) if root is not None else Path(p.name)
        rel = rel.with_suffix("")
        names[p] = (rel.parent / short_name(rel.name)).as_posix()
    counts: dict = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    for p, n in names.items():
        if counts[n] > 1:  # x.jpg and x.png in one folder
            names[p] = f"{n}_{p.suffix.lstrip('.').lower()}"
    return names


def output_ext(ext: str, source: Path) -> str:
    """The output format: ``ext``, or for "auto" the input's (jpg for JPEG
    inputs, png for everything else: lossless)."""
    if ext != "auto":
        return ext
    return "jpg" if source.suffix.lower() in (".jpg", ".jpeg") else "png"


def check_writable(out_root: Path) -> None:
    """Creates ``out_root`` and writes a probe file in it and in each existing
    output sub-folder; raises :class:`UserError` before any work when one
    cannot be written."""
    folders = [out_root] + [out_root / s for s in OUTPUT_SUBDIRS if (out_root / s).is_dir()]
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".faceres-write-test-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise UserError(f"--output {out_root}: cannot write into {folder} ({e.strerror or e}); "
                            "choose a writable folder") from e


class OutputLock:
    """An exclusive lock on ``OUT/.faceres-restore.lock`` for one run: a second
    restore into the same folder is refused (one line) instead of mixing its
    files with the first's. Released when the run ends or its process dies; the empty
    hidden file stays.
    Where ``fcntl`` does not exist (Windows) there is no lock."""

    def __init__(self, out_root: Path):
        self.path = out_root / LOCK_NAME
        self.file = None

    def __enter__(self):
        if fcntl is None:  # pragma: no cover - not POSIX
            return self
        self.file = open(self.path, "a+")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            self.file.seek(0)
            owner = self.file.read().strip() or "?"
            self.file.close()
            raise UserError(f"--output {self.path.parent} is in use by another faceres-restore "
                            f"(pid {owner}); wait for it to finish or choose another --output") from e
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()
        return self

    def __exit__(self, *exc):
        if self.file is not None:  # the file stays (unlinking it would race a waiting run)
            with contextlib.suppress(OSError):
                self.file.truncate(0)
            self.file.close()
        return False


class Outputs:
    """Naming and writing of the output files, counting kept files."""

    def __init__(self, root: Path, ext: str, overwrite: bool, say, inputs=(), suffix: str = ""):
        self.root, self.ext, self.overwrite, self.say = root, ext, overwrite, say
        self.suffix = f"_{suffix}" if suffix else ""
        self.written = 0
        self.kept = 0
        self.inputs = {Path(p).resolve() for p in inputs}

    def path(self, sub: str, name: str, ext: str) -> Path:
        return self.root / sub / f"{name}.{ext}"

    def write(self, sub: str, name: str, rgb: np.ndarray, source: Path | None = None) -> None:
        """Writes ``OUT/sub/name.EXT`` (EXT from ``--ext``, "auto" follows ``source``)."""
        path = self.path(sub, name, output_ext(self.ext, source or Path("x.png")))
        if path.resolve() in self.inputs:  # never replace an input, even with --overwrite
            raise OSError(f"{path} is one of the inputs; it is never overwritten")
        if image_io.write_image(path, rgb, overwrite=self.overwrite):
            self.written += 1
        else:
            self.kept += 1
            self.say(f"  kept existing {path} (use --overwrite to replace it)")
