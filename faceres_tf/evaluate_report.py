"""The reports of :mod:`faceres_tf.evaluate`: the paper's table, strict JSON
(non-finite numbers as ``null``, listed under ``non_finite``) and CSV files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

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
        table += (f"\n{', '.join(infinite)}: not finite (inf = identical images); written as null "
                  "in the JSON file")
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
            "non-finite values (e.g. the PSNR of identical images, inf) are written as null; "
            "see non_finite")
    return out


def write_outputs(report: dict, out: Path) -> list[Path]:
    """Writes JSON, a one-row summary CSV and a per-image CSV next to it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(json_safe_report(report), f, indent=2, allow_nan=False)
    summary = out.with_suffix(".csv")
    keys = [k for k, _ in TABLE_COLUMNS] + ["precision", "recall"]
    with open(summary, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["n_pairs"] + keys + ["errors"])
        w.writerow([report.get("n_pairs", 0)]
                   + [report["metrics"].get(k, "") for k in keys]
                   + ["; ".join(f"{k}: {v}" for k, v in report["errors"].items())])
    per_image = out.with_name(out.stem + "_per_image.csv")
    rows = report.get("per_image", [])
    fields = ["name"] + [c for c in ("psnr", "ssim", "lpips") if any(c in r for r in rows)]
    with open(per_image, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return [out, summary, per_image]
