"""Writing the experiments' reports: markdown tables, CSV, figures.

Conventions [ours]: our numbers and the paper's are in separate tables, the
paper's labelled **paper (quoted)**; a metric this machine cannot compute is
``n/a`` with the reason in a footnote, never estimated.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from faceres_tf.image_io import float_to_uint8, write_image

PAPER_NOTE = ("paper (quoted): numbers copied from the paper's appendix (RDFR, CVPR 2022), "
              "measured by the authors with their 512 px models on their test set; not "
              "produced by this code and not directly comparable to a small-scale run.")
HEADERS = {"psnr": "PSNR↑", "ssim": "SSIM↑", "lpips": "LPIPS↓", "fid": "FID↓",
           "iprecision": "iPrecision↑", "irecall": "iRecall↑", "precision": "precision↑",
           "recall": "recall↑"}
DIGITS = {"psnr": 2, "ssim": 4, "lpips": 4, "fid": 2, "iprecision": 3, "irecall": 3,
          "precision": 3, "recall": 3}


# ----------------------------------------------------------------------------- numbers
def fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def fmt_pm(mean, std, digits: int = 2) -> str:
    """``mean ± std`` (just the mean when std is None); a small std keeps two
    significant digits (0.0043, not 0.00)."""
    if mean is None:
        return "n/a"
    if std is None:
        return fmt(mean, digits)
    return f"{fmt(mean, digits)} ± {fmt_std(std, digits)}"


def fmt_std(std, digits: int = 2) -> str:
    """A spread with ``digits`` decimals, more (up to 4 more) when it is small."""
    if std is None:
        return "n/a"
    sd = digits
    while 0 < std < 10 ** (1 - sd) and sd < digits + 4:
        sd += 1
    return f"{std:.{sd}f}"


def fmt_metric(key: str, mean, std=None) -> str:
    return fmt_pm(mean, std, DIGITS.get(key, 4))


def short_reason(text: str) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= 300 else one[:297] + "..."


# ----------------------------------------------------------------------------- markdown / csv
def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path, rows: Sequence[dict], fields: Sequence[str] | None = None) -> Path:
    """One row per dict; ``fields`` (default: every key, in order of appearance)."""
    path = Path(path)
    fields = list(dict.fromkeys(fields or [k for r in rows for k in r]))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return path


def write_text(path, lines: Sequence[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def header_lines(title: str, cfg, opts, evalset=None, extra: Iterable[str] = (),
                 protocol: str | None = None) -> list:
    """Title and the facts a reader needs to reproduce the table. ``protocol``
    replaces :func:`protocol_line` for tables with other columns."""
    from faceres_tf.training.run_dir import git_commit  # loads TensorFlow: only once the flags are parsed

    lines = [f"# {title}", "",
             f"- preset: `{cfg.name}` ({cfg.model.resolution} px, batch {cfg.train.batch_size}, "
             f"perceptual loss {cfg.loss.perceptual}, alpha {cfg.loss.alpha:g})",
             f"- steps per variant: {cfg.train.steps}; training seeds per variant: "
             f"{opts.num_seeds}",
             f"- training data: `{cfg.data.train_dir}`"]
    if evalset is not None:
        lines.append(f"- evaluation set: {evalset.description}")
        lines.append("- " + (protocol or protocol_line(opts, evalset.num_degradations)))
    if opts.command:
        lines.append(f"- command: `{opts.command}`")
    if opts.overrides:
        lines.append(f"- overrides: {', '.join(f'`{o}`' for o in opts.overrides)}")
    lines += [f"- {e}" for e in extra]
    lines += [f"- code commit: `{git_commit()}`",
              f"- written: {time.strftime('%Y-%m-%d %H:%M:%S')}", ""]
    return lines


def protocol_line(opts, num_degradations: int) -> str:
    """How the numbers were obtained (docs/method.md §7), in one line."""
    s = int(opts.num_noise_seeds)
    gen = "EMA generator" if getattr(opts, "ema", True) else "raw (non-EMA) generator (`--noema`)"
    noise = (f"restoration: {gen}, S = {s} noise draws (fresh N(0, 1) noise per input "
             "and draw, as in training); value = mean over the draws, ± = std over the draws of "
             "the set's mean score (shrinks with the set size; not the paper's Table 6 ±, which "
             "the paper does not define: docs/method.md §7); *zero noise* = the same model with "
             "its noise inputs at 0"
             if s else f"restoration: {gen} with zero noise (`--num_noise_seeds=0`)")
    ident = ("iPrecision off (`--id_net=none`)" if opts.id_net == "none" else
             f"iPrecision / iRecall with the `{opts.id_net}` identity net, k = {opts.k}: each of "
             f"the D = {num_degradations} restored sets scored against the N distinct "
             "ground-truth faces (N vs N), mean over the D sets")
    return f"{noise}; {ident}"


def na_footnotes(reasons: dict) -> list:
    """'n/a' explanations: {metric: reason} -> markdown lines."""
    if not reasons:
        return []
    out = ["", "**n/a** means the metric was not computed on this machine:"]
    out += [f"- {k}: {short_reason(v)}" for k, v in sorted(reasons.items())]
    return out


def collect_na(scores: Iterable, keys: Sequence[str], na: dict | None = None) -> dict:
    """{metric: reason} for every key some :class:`~experiments.scoring.Score` lacks."""
    out = {}
    for sc in scores:
        for key in keys:
            if sc.value(key) is None and key not in out:
                src = "ipr" if key in ("iprecision", "irecall", "precision", "recall") else key
                out[key] = sc.errors.get(src) or (na or {}).get(key) or "not computed"
    return out


# ----------------------------------------------------------------------------- figures
def _label_strip(width: int, text: str, height: int = 14) -> np.ndarray:
    im = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(im).text((2, 1), text, fill=(0, 0, 0))
    return np.asarray(im)


def save_labeled_grid(path, rows: Sequence[Sequence[np.ndarray]], col_labels: Sequence[str],
                      row_labels: Sequence[str] | None = None) -> Path:
    """A grid of equal-size images ([-1, 1] float or uint8 HxWx3) with column
    headers (and optional row labels above each row)."""
    cells = [[im if im.dtype == np.uint8 else float_to_uint8(im) for im in row] for row in rows]
    h, w = cells[0][0].shape[:2]
    cw = max(w, 64)  # room for a label

    def pad(im):
        if im.shape[1] == cw:
            return im
        out = np.full((h, cw, 3), 255, np.uint8)
        out[:, (cw - w) // 2:(cw - w) // 2 + w] = im
        return out

    body = [np.concatenate([_label_strip(cw, lab) for lab in col_labels], axis=1)]
    for i, row in enumerate(cells):
        line = np.concatenate([pad(im) for im in row], axis=1)
        if row_labels:
            body.append(_label_strip(line.shape[1], row_labels[i]))
        body.append(line)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.concatenate(body, axis=0), overwrite=True)
    return path


def plot_right_axis(ax, rows: Sequence[dict], x_key: str, y_key: str, label: str, ylabel: str,
                    ylim: tuple | None = None) -> None:
    """``y_key`` against ``x_key`` on a right-hand axis (red triangles), from the
    rows that have a ``y_key`` value; nothing when none has."""
    points = [(r[x_key], r[y_key]) for r in rows if r.get(y_key) is not None]
    if not points:
        return
    ax2 = ax.twinx()
    ax2.plot([x for x, _ in points], [y for _, y in points], "^-", color="tab:red", label=label)
    ax2.set_ylabel(ylabel, color="tab:red")
    if ylim is not None:
        ax2.set_ylim(*ylim)


def plot(path, draw: Callable) -> Path:
    """Runs ``draw(fig, ax)`` on a matplotlib Agg figure and saves it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    draw(fig, ax)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
