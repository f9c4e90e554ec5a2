"""The inputs of :mod:`faceres_tf.evaluate`, checked before any scoring.

* Pairing by file-name stem, compared in Unicode normal form NFC (a name
  typed on macOS, NFD, matches the same name written on Linux, NFC). A stem
  held by two files on one side (``a.jpg`` and ``a.png``) is ambiguous: the
  pair is left out and listed under ``ambiguous`` in the report, never
  guessed.
* The ``--ids`` CSV (``name,id``; header and ``#`` comments optional; a UTF-8
  byte-order mark is ignored) is read and validated at the start: a missing
  file, a malformed row or one name given two different ids is a
  :class:`EvaluateInputError` naming the file and line.
* Images are read pair by pair (:func:`read_pair`), so only a batch is held
  in memory.
"""

from __future__ import annotations

import csv
import logging
import unicodedata
from pathlib import Path

import numpy as np

from faceres_tf import image_io
from faceres_tf.errors import UserError

logger = logging.getLogger("faceres_tf.evaluate")

ID_HEADER_NAMES = ("name", "file", "filename", "stem")


class EvaluateInputError(UserError, ValueError):
    """A bad input of the evaluation (folder, ``--ids`` CSV, metric list)."""


def stem_key(name: str) -> str:
    """The matching key of a file stem: Unicode NFC."""
    return unicodedata.normalize("NFC", name)


def scan_folder(folder: Path) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """``({stem: path}, {ambiguous stem: [file names]})`` for the images directly
    in ``folder`` (not recursive); ambiguous stems are not in the first dict."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluateInputError(f"{folder}: not a folder.")
    groups: dict[str, list[Path]] = {}
    for p in image_io.list_images(folder, recursive=False).images:
        groups.setdefault(stem_key(p.stem), []).append(p)
    unique = {s: ps[0] for s, ps in groups.items() if len(ps) == 1}
    ambiguous = {s: sorted(p.name for p in ps) for s, ps in groups.items() if len(ps) > 1}
    return unique, ambiguous


def images_by_stem(folder: Path) -> dict[str, Path]:
    """stem -> path for the image files directly in ``folder``; stems held by
    several files are left out with a warning (see :func:`scan_folder`)."""
    unique, ambiguous = scan_folder(folder)
    for stem, names in ambiguous.items():
        logger.warning("%s: %s share the stem %r; left out (rename one)", folder, " and ".join(names), stem)
    return unique


def _open_ids(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise EvaluateInputError(f"--ids {path}: no such file.") from None
    except UnicodeDecodeError as e:
        raise EvaluateInputError(f"--ids {path}: not UTF-8 text ({e.reason} at byte {e.start}).") from None
    except OSError as e:
        raise EvaluateInputError(f"--ids {path}: cannot read it ({e.strerror}).") from None


def read_ids_csv(path) -> dict[str, str]:
    """``name,id`` rows -> {stem (NFC): id}; raises :class:`EvaluateInputError`
    for a missing file, a malformed row or a name given two different ids."""
    path = Path(path)
    ids: dict[str, tuple[str, int]] = {}
    for line_no, row in enumerate(csv.reader(_open_ids(path)), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise EvaluateInputError(f"--ids {path}:{line_no}: expected 'name,id', got {','.join(row)!r}.")
        if not ids and row[0].strip().lower() in ID_HEADER_NAMES:
            continue
        name, person = stem_key(Path(row[0].strip()).stem), row[1].strip()
        if name in ids and ids[name][0] != person:
            raise EvaluateInputError(
                f"--ids {path}:{line_no}: {name!r} has id {person!r} here and {ids[name][0]!r} on "
                f"line {ids[name][1]}; keep one.")
        ids.setdefault(name, (person, line_no))
    if not ids:
        raise EvaluateInputError(f"--ids {path}: no 'name,id' rows.")
    return {name: person for name, (person, _) in ids.items()}


def pair_files(restored_dir, gt_dir, report: dict) -> list[tuple[str, Path, Path]]:
    """``[(stem, restored path, gt path)]`` sorted by stem; fills ``report``'s
    ``unmatched_restored``, ``unmatched_gt`` and ``ambiguous`` lists."""
    rest, rest_amb = scan_folder(Path(restored_dir))
    gt, gt_amb = scan_folder(Path(gt_dir))
    report["ambiguous"] = [{"side": side, "name": stem, "files": names}
                           for side, amb in (("restored", rest_amb), ("gt", gt_amb))
                           for stem, names in sorted(amb.items())]
    for a in report["ambiguous"]:
        logger.warning("%s: %s share the stem %r; the pair is left out (rename one)", a["side"],
                       " and ".join(a["files"]), a["name"])
    blocked = set(rest_amb) | set(gt_amb)
    report["unmatched_restored"] = sorted(set(rest) - set(gt) - blocked)
    report["unmatched_gt"] = sorted(set(gt) - set(rest) - blocked)
    for side, names in (("restored", report["unmatched_restored"]), ("gt", report["unmatched_gt"])):
        if names:
            logger.warning("%d %s file(s) have no partner and are left out, e.g. %s",
                           len(names), side, ", ".join(names[:5]))
    return [(s, rest[s], gt[s]) for s in sorted(set(rest) & set(gt))]


def read_pair(stem: str, restored_path: Path, gt_path: Path, report: dict):
    """``(restored, gt)`` uint8 RGB, the restored one resized (bicubic) to the
    ground truth's size; None (listed under ``skipped``) when one is unreadable."""
    from PIL import Image

    try:
        r, g = image_io.read_rgb(restored_path), image_io.read_rgb(gt_path)
    except image_io.ImageReadError as e:
        report["skipped"].append({"name": stem, "reason": str(e)})
        logger.warning("skipped: %s", e)
        return None
    if r.shape != g.shape:
        report["resized"].append({"name": stem, "restored": list(r.shape[:2]), "gt": list(g.shape[:2])})
        logger.warning("%s: restored %s resized to ground truth %s", stem, r.shape[:2], g.shape[:2])
        r = np.asarray(Image.fromarray(r).resize((g.shape[1], g.shape[0]), Image.BICUBIC))
    return r, g


def load_pairs(restored_dir, gt_dir, report: dict):
    """All readable pairs in memory: ``(stems, restored, truth)`` (small sets and
    tests; the command streams with :func:`pair_files` / :func:`read_pair`)."""
    report.setdefault("skipped", [])
    report.setdefault("resized", [])
    names, restored, truth = [], [], []
    for stem, rp, gp in pair_files(restored_dir, gt_dir, report):
        pair = read_pair(stem, rp, gp, report)
        if pair is not None:
            names.append(stem)
            restored.append(pair[0])
            truth.append(pair[1])
    return names, restored, truth
