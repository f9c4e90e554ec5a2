"""Throughput of the training input pipeline (images/s), bfr degradation.

    python benchmarks/bench_data.py [--seconds 20] [--batch 8]

Reads the bundled faces in data/train (256 x 256, so at R = 512 they are
upscaled once, then cached), repeats them, and times full
``make_dataset(cfg, "train")`` batches (decode-cache, shuffle, flip, bfr
degradation with the paper-scale ranges, batching) after a warm-up. Writes
benchmarks/results/data.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import tensorflow as tf  # noqa: E402

from faceres_tf import presets  # noqa: E402
from faceres_tf.data import make_dataset  # noqa: E402


def bench(resolution: int, degradation: str, batch: int, seconds: float, warmup: int = 5) -> dict:
    cfg = presets.get("paper_512")
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, resolution=resolution),
        data=dataclasses.replace(cfg.data, degradation=degradation),
    )
    ds = make_dataset(cfg, "train", batch_size=batch, seed=0, folder=REPO / "data" / "train")
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        d, _ = next(it)
        n += int(d.shape[0])
    dt = time.perf_counter() - t0
    return {"resolution": resolution, "degradation": degradation, "batch": batch,
            "images": n, "seconds": dt, "images_per_s": n / dt}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per setting")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    logging.getLogger("faceres_tf.data").setLevel(logging.ERROR)  # 256 px faces upscaled at 512

    load_before = os.getloadavg()[0]
    settings = [(512, "bfr"), (64, "bfr"), (512, "sr8")]
    rows = []
    for res, deg in settings:
        r = bench(res, deg, args.batch, args.seconds)
        rows.append(r)
        print(f"{deg:5s} R={res:4d} batch={r['batch']}: {r['images_per_s']:8.1f} images/s "
              f"({r['images']} images in {r['seconds']:.1f} s)")

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPU(s), "
               f"TensorFlow {tf.__version__}, Python {platform.python_version()}; "
               f"1-min load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after "
               "(other processes share the cores)")
    lines = [
        "# Input pipeline throughput (`benchmarks/bench_data.py`)",
        "",
        f"Machine: {machine}. Command: `python benchmarks/bench_data.py --seconds "
        f"{args.seconds:g} --batch {args.batch}`.",
        "",
        "Full `make_dataset(cfg, \"train\")` on the bundled 256 px faces (cached after the first",
        "decode; at R = 512 they are upscaled to 512 first), paper-scale degradation ranges",
        "(blur kernel 41, sigma 0.1-10, r 0.8-8, noise 0-20, JPEG 60-100), after 5 warm-up batches.",
        "",
        "| degradation | R | batch | images/s |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['degradation']} | {r['resolution']} | {r['batch']} | "
                     f"{r['images_per_s']:.1f} |")
    out = REPO / "benchmarks" / "results" / "data.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
