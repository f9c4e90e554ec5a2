"""Compare the loss curves of two training runs (e.g. fp32 vs bf16).

    python -m benchmarks.compare_runs RUN_FP32 RUN_BF16 [--spread RUN_FP32_OTHER_SEED] [--window 4]

Reads each run's ``metrics.jsonl`` (a run directory, or the file itself) and
reports, per loss: its mean over the run in both, and the largest relative
difference of window means (``--window`` logged points per window; the
logged value is the loss of that step's batch, so single points are noisy).
``--spread`` adds a third run (same precision as the first, another seed):
its differences from the first run are the run-to-run spread the precision
difference can be held against. Prints markdown (``--json``: one line per loss).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.machine import emit

KEYS = ("g_loss", "l1", "d_loss", "g_adv")


def load(path):
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if "g_loss" in r], [r["eval"] for r in rows if "eval" in r]


def windows(values, w):
    n = len(values) // w * w
    return np.asarray(values[:n], float).reshape(-1, w).mean(axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_a", help="reference run (e.g. fp32)")
    ap.add_argument("run_b", help="compared run (e.g. bf16, same seed)")
    ap.add_argument("--spread", default=None, help="reference precision, another seed")
    ap.add_argument("--window", type=int, default=4, help="logged points per window")
    ap.add_argument("--out", default=None, help="also write the markdown to this file")
    ap.add_argument("--json", action="store_true", help="one JSON line per loss (nothing written)")
    args = ap.parse_args()

    a, ea = load(args.run_a)
    b, eb = load(args.run_b)
    c, ec = load(args.spread) if args.spread else (None, None)
    n = min(len(a), len(b), len(c) if c else len(a))
    steps = [r["step"] for r in a[:n]]
    assert steps == [r["step"] for r in b[:n]], "the runs log different steps"
    head = "| loss | mean A | mean B (B - A) | max window rel. diff B vs A |"
    sep = "|---|---|---|---|"
    if c:
        head += " mean C (C - A) | max window rel. diff C vs A |"
        sep += "---|---|"
    lines = [f"Steps {steps[0]}..{steps[-1]} ({n} logged points), windows of {args.window} points.", "",
             head, sep]
    results = []
    for k in KEYS:
        xa, xb = [r[k] for r in a[:n]], [r[k] for r in b[:n]]
        wa, wb = windows(xa, args.window), windows(xb, args.window)
        ma, mb = float(np.mean(xa)), float(np.mean(xb))
        row = (f"| {k} | {ma:.4f} | {mb:.4f} ({100 * (mb - ma) / ma:+.1f}%) | "
               f"{100 * np.max(np.abs(wb - wa) / np.abs(wa)):.1f}% |")
        if c:
            xc = [r[k] for r in c[:n]]
            wc, mc = windows(xc, args.window), float(np.mean(xc))
            row += f" {mc:.4f} ({100 * (mc - ma) / ma:+.1f}%) | {100 * np.max(np.abs(wc - wa) / np.abs(wa)):.1f}% |"
        lines.append(row)
        results.append({"benchmark": "compare_runs", "loss": k, "mean_a": ma, "mean_b": mb,
                        "max_window_rel_diff_b": float(np.max(np.abs(wb - wa) / np.abs(wa))),
                        **({"mean_c": mc} if c else {})})
    lines.append("")
    for name, ev in (("A", ea), ("B", eb), ("C", ec)):
        if ev:
            lines.append(f"- last evaluation {name}: PSNR {ev[-1]['psnr_restored']:.2f} dB, "
                         f"SSIM {ev[-1]['ssim_restored']:.4f} (degraded input {ev[-1]['psnr_degraded']:.2f} dB)")
    emit(results, "\n".join(lines), args.out, args.json)


if __name__ == "__main__":
    main()
