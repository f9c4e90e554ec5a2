"""Throughput of the training input pipeline (images/s), bfr degradation.

    python -m benchmarks.bench_data [--seconds 20] [--batch 8]
    python -m benchmarks.bench_data --preset cpu_256 --data_dir ../shared/data/faces_train --json

Reads the bundled faces in data/train (256 x 256, so at R = 512 they are
upscaled once, then cached), repeats them, and times full
``make_dataset(cfg, "train")`` batches (decode-cache, shuffle, flip, bfr
degradation with the paper-scale ranges, batching) after a warm-up. Writes
benchmarks/results/data.md.

With ``--preset`` it times that preset's own data settings (resolution,
degradation ranges, batch) on ``--data_dir`` instead, and reports images/s
and the pipeline's CPU milliseconds per image (CPU time of this process over
all threads: what the pipeline takes from a training step on a shared CPU);
compare with ``bench_train.py --preset ... --json``'s ``images_per_s``.
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

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

REPO = Path(__file__).resolve().parents[1]

import tensorflow as tf  # noqa: E402

from benchmarks.machine import cpu_info, emit, load_average  # noqa: E402
from benchmarks.train_cost import resolve_config  # noqa: E402
from faceres_tf import presets  # noqa: E402
from faceres_tf.data import make_dataset  # noqa: E402


def bench(resolution: int, degradation: str, batch: int, seconds: float, warmup: int = 5) -> dict:
    cfg = presets.get("paper_512")
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, resolution=resolution),
        data=dataclasses.replace(cfg.data, degradation=degradation),
    )
    return time_dataset(cfg, batch, seconds, REPO / "data" / "train", warmup)


def time_dataset(cfg, batch: int, seconds: float, folder, warmup: int = 5) -> dict:
    """Images/s and CPU ms per image of ``make_dataset(cfg, "train")`` batches
    from ``folder``, after ``warmup`` batches."""
    ds = make_dataset(cfg, "train", batch_size=batch, seed=0, folder=folder)
    it = iter(ds)
    for _ in range(warmup):
        next(it)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        d, _ = next(it)
        n += int(d.shape[0])
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"resolution": cfg.model.resolution, "degradation": cfg.data.degradation, "batch": batch,
            "images": n, "seconds": dt, "images_per_s": n / dt, "cpu_ms_per_image": 1000 * cpu / n}


def bench_preset(args) -> None:
    """--preset: the preset's own data settings on --data_dir, one JSON line or a summary."""
    cfg = resolve_config(args.preset, args.overrides)
    before = load_average()
    res = time_dataset(cfg, args.batch or cfg.train.batch_size, args.seconds, args.data_dir)
    res = {"benchmark": "input_pipeline", "preset": args.preset, "overrides": args.overrides,
           "data_dir": str(args.data_dir), **{k: round(v, 2) if isinstance(v, float) else v
                                              for k, v in res.items()},
           **cpu_info(), "tensorflow": tf.__version__, "load_before": before,
           "load_after": load_average(), "date": time.strftime("%Y-%m-%d %H:%M")}
    emit([res], f"{args.preset}: {res['images_per_s']:.1f} images/s, {res['cpu_ms_per_image']:.1f} CPU ms "
         f"per image ({res['images']} images in {res['seconds']:.1f} s, batch {res['batch']})", None, args.json)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per setting")
    parser.add_argument("--batch", type=int, default=None, help="batch (default 8, or the preset's)")
    parser.add_argument("--preset", default=None, help="time this preset's data settings only")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.FIELD=VALUE", help="override a config field (with --preset)")
    parser.add_argument("--data_dir", type=Path, default=REPO / "data" / "train",
                        help="faces to read (with --preset)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per result (nothing written)")
    args = parser.parse_args()
    if args.preset:
        bench_preset(args)
        return
    args.batch = args.batch or 8
    logging.getLogger("faceres_tf.data").setLevel(logging.ERROR)  # 256 px faces upscaled at 512

    load_before = os.getloadavg()[0]
    settings = [(512, "bfr"), (64, "bfr"), (512, "sr8")]
    rows = []
    for res, deg in settings:
        r = bench(res, deg, args.batch, args.seconds)
        rows.append(r)
        print(f"{deg:5s} R={res:4d} batch={r['batch']}: {r['images_per_s']:8.1f} images/s "
              f"({r['images']} images in {r['seconds']:.1f} s)", file=sys.stderr, flush=True)

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPU(s), "
               f"TensorFlow {tf.__version__}, Python {platform.python_version()}; "
               f"1-min load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after "
               "(other processes share the cores)")
    lines = [
        "# Input pipeline throughput (`benchmarks/bench_data.py`)",
        "",
        f"Machine: {machine}. Command: `python -m benchmarks.bench_data --seconds "
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
    rows = [{"benchmark": "input_pipeline", **r, **cpu_info(), "load_before": load_before} for r in rows]
    emit(rows, "\n".join(lines), REPO / "benchmarks" / "results" / "data.md", args.json)


if __name__ == "__main__":
    main()
