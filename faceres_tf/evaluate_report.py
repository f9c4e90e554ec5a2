"""The reports of :mod:`faceres_tf.evaluate`: the paper's table, strict JSON
(non-finite numbers as ``null``, listed under ``non_finite``) and CSV files.

Outputs are checked before any scoring (:func:`check_outputs`: not a folder,
not a device, not an input, writable, not there unless ``--overwrite``) and
written atomically (:func:`write_outputs`: each file to a temporary name in
its folder, then renamed), so a full disk leaves the old files or none, never
an empty or truncated result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from faceres_tf import image_io
from faceres_tf.errors import UnsafePathError, UserError

# Paper's table layout (Tables 6-8): name in results -> column header.
TABLE_COLUMNS = (("psnr", "PSNR↑"), ("ssim", "SSIM↑"), ("lpips", "LPIPS↓"), ("fid", "FID↓"),
                 ("iprecision", "iPrecision↑"), ("irecall", "iRecall↑"))


def format_table(report: dict) -> str:
    """The paper's layout: PSNR↑ SSIM↑ LPIPS↓ FID↓ iPrecision↑ iRecall↑ (then P / R)."""
    cols = list(TABLE_COLUMNS) + [("precision", "Precision↑"), ("recall", "Recall↑")]
    m = report.get("metrics", {})
    vals = ["-" if m.get(key) is None else f"{m[key]:.4f}" for key, _ in cols]
    infinite = [h for (key, h), v in zip(cols, vals) if v in ("inf", "-inf", "nan")]
    widths = [max(len(h), len(v)) for (_, h), v in zip(cols, vals)]
    head = " | ".join(h.ljust(w) for (_, h), w in zip(cols, widths))
    row = " | ".join(v.rjust(w) for v, w in zip(vals, widths))
    rule = "|".join("-" * (w + 2) for w in widths)
    table = f"| {head} |\n|{rule}|\n| {row} |"
    if infinite:
        table += f"\n{', '.join(infinite)}: not finite; written as null in the JSON file"
    return table


def output_paths(out: Path) -> list[Path]:
    """The JSON, summary CSV and per-image CSV that ``write_outputs`` writes."""
    return [out, out.with_suffix(".csv"), out.with_name(out.stem + "_per_image.csv")]


def _json_safe(value, path: str, non_finite: dict):
    """``value`` with every non-finite float replaced by None (recorded in
    ``non_finite`` under its dotted path)."""
    if isinstance(value, dict):
        return {k: _json_safe(v, f"{path}.{k}" if path else str(k), non_finite)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, f"{path}[{i}]", non_finite) for i, v in enumerate(value)]
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            non_finite[path] = "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
            return None
        return v
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist(), path, non_finite)
    return value


def json_safe_report(report: dict) -> dict:
    """The report as strict JSON data: non-finite numbers become ``null`` and
    are listed under ``non_finite`` (e.g. ``{"metrics.psnr": "inf"}``)."""
    non_finite: dict = {}
    out = _json_safe(report, "", non_finite)
    if non_finite:
        out["non_finite"] = non_finite
        out.setdefault("notes", []).append(
            "non-finite values are written as null; see non_finite")
    return out


def _summary_csv(report: dict) -> str:
    keys = [k for k, _ in TABLE_COLUMNS] + ["precision", "recall"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["n_pairs"] + keys + ["errors"])
    w.writerow([report.get("n_pairs", 0)] + [report["metrics"].get(k, "") for k in keys]
               + ["; ".join(f"{k}: {v}" for k, v in report["errors"].items())])
    return buf.getvalue()


def _per_image_csv(report: dict) -> str:
    rows = report.get("per_image", [])
    fields = ["name"] + [c for c in ("psnr", "ssim", "lpips") if any(c in r for r in rows)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _write_atomically(texts: dict) -> None:
    """Writes {path: text}: all to temporary files first, then renamed into place;
    on an error the temporary files are removed and a one-line UserError raised."""
    temps = {}
    try:
        for path, text in texts.items():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temps[path] = tmp
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except OSError as e:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise UserError(f"could not write the results to {e.filename or next(iter(texts))}: "
                        f"{e.strerror or e}; nothing was written (the table is printed above).") from None


def write_outputs(report: dict, out: Path) -> list[Path]:
    """Writes JSON, a one-row summary CSV and a per-image CSV next to it, atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = output_paths(out)
    texts = {paths[0]: json.dumps(json_safe_report(report), indent=2, allow_nan=False) + "\n",
             paths[1]: _summary_csv(report), paths[2]: _per_image_csv(report)}
    _write_atomically(texts)
    return paths


def _outputs_that_are_inputs(args) -> str:
    """The first output path that is an input file (an image of --restored /
    --gt, the --ids CSV or the --gt_fid_stats cache), or ""."""
    inputs = set()
    for folder in (args.restored, args.gt):
        if Path(folder).is_dir():
            inputs |= {p.resolve() for p in Path(folder).iterdir()
                       if p.suffix.lower() in image_io.IMAGE_EXTENSIONS}
    for f in (args.ids, args.gt_fid_stats):
        if f:
            inputs.add(Path(f).resolve())
    for p in output_paths(Path(args.output)):
        if p.resolve() in inputs:
            return str(p)
    return ""


def _writable_folder(out: Path) -> None:
    """Raises UserError unless ``out``'s folder exists (or can be made) and is writable."""
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"--output {out}: {folder} is not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--output {out}: cannot write in {folder} (permission denied); choose "
                        "another --output.")


def check_outputs(args) -> None:
    """Raises :class:`UserError`, before any scoring, when ``--output`` is a
    folder or a device, would replace an input, cannot be written, or exists
    without ``--overwrite``. An existing empty file (left by an interrupted
    run) is not a result: it is replaced."""
    out = Path(args.output)
    for p in output_paths(out):
        if p.is_dir():
            raise UserError(f"--output {args.output}: {p} is a folder; give a file name such as "
                            f"{p / 'results.json'}.")
        if p.exists() and not p.is_file():
            raise UserError(f"--output {args.output}: {p} is not a regular file (a device?); give "
                            "a file name for the JSON results.")
    clash = _outputs_that_are_inputs(args)
    if clash:
        raise UnsafePathError(f"--output would write {clash}, which is one of the inputs; choose "
                              "another --output.")
    _writable_folder(out)
    existing = [str(p) for p in output_paths(out) if p.is_file() and p.stat().st_size > 0]
    if existing and not args.overwrite:
        raise UserError(f"{', '.join(existing)} already exist(s); choose another --output or pass "
                        "--overwrite.")
