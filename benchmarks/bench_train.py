"""Training throughput (images/s) of one RDFR training step, per precision.

    python benchmarks/bench_train.py --preset tiny --batch 8 --steps 30
    python benchmarks/bench_train.py --preset tiny --precision both --steps 30 --json
    python benchmarks/bench_train.py --preset cpu_128 --precision both --steps 10 --json
    python benchmarks/bench_train.py --preset paper_512 --batch 2 --steps 3 --perceptual random

Times the compiled distributed train step (G forward/backward, D on real and
restored, EMA update) on in-memory random batches after warm-up, so the number
is the model's cost, not the input pipeline's (see bench_data.py for that). The
R1 step, run every r1_interval steps, is timed separately and amortised.
``--precision`` sets ``train.precision`` ("fp32", "bf16" = mixed_bfloat16, or
"both": one trainer each, steps interleaved so both see the same background
load). Times are wall-clock and CPU seconds of this process (see
benchmarks/machine.py; CPU time is the stable one on a shared machine).
``--perceptual random`` adds the VGG19 perceptual loss with random weights
(same cost as ImageNet weights, which are not on this machine). Also prints how
long the paper's schedule (400 epochs of FFHQ's 70k images = 28M images) would
take at the measured speed. Writes benchmarks/results/train_<preset>.md unless
``--json`` (one JSON line per precision instead).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tensorflow as tf  # noqa: E402
from machine import cpu_info, emit, interleaved_times, load_average  # noqa: E402

from faceres_tf import presets  # noqa: E402
from faceres_tf.config import override  # noqa: E402
from faceres_tf.training import Trainer, make_strategy  # noqa: E402

PAPER_IMAGES = 400 * 70_000


def _parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", help="model preset")
    ap.add_argument("--batch", type=int, default=None, help="global batch (default: the preset's)")
    ap.add_argument("--steps", type=int, default=20, help="timed train steps per precision")
    ap.add_argument("--precision", choices=("fp32", "bf16", "both"), default="fp32",
                    help="train.precision ('both': fp32 and bf16 interleaved in one run)")
    ap.add_argument("--perceptual", choices=["off", "random"], default="off",
                    help="VGG19 perceptual loss with random weights, or off")
    ap.add_argument("--jit_compile", action="store_true", help="XLA-compile the replica step")
    ap.add_argument("--mixed_precision", action="store_true", help="mixed_float16 (GPU)")
    ap.add_argument("--json", action="store_true", help="print one JSON line per precision")
    return ap.parse_args()


def _trainer_cases(args, precisions, strategy, extractor, tmp_root: str) -> tuple[dict, dict]:
    """One trainer per precision on one random batch: ``{(precision, "step" | "r1"): fn}``
    and ``{precision: config}``; run directories under ``tmp_root``."""
    cases, cfgs = {}, {}
    for p in precisions:
        cfg = presets.get(args.preset)
        updates = {"loss.perceptual": "vgg19" if extractor else "off", "train.jit_compile": args.jit_compile,
                   "train.mixed_precision": args.mixed_precision, "train.precision": p}
        if args.batch:
            updates["train.batch_size"] = args.batch
        cfg = cfgs[p] = override(cfg, updates)
        r, b = cfg.model.resolution, cfg.train.batch_size
        trainer = Trainer(cfg, os.path.join(tmp_root, p), strategy, perceptual_extractor=extractor)
        batch = (tf.random.uniform([b, r, r, 3], -1, 1, seed=1), tf.random.uniform([b, r, r, 3], -1, 1, seed=2))
        dist = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
        cases[(p, "step")] = lambda t=trainer, d=dist: t.train_step(d)["g_loss"].numpy()
        cases[(p, "r1")] = lambda t=trainer, d=dist: t.r1_step(d)["r1"].numpy()
    return cases, cfgs


def _precision_result(cfg, times: dict, p: str) -> dict:
    """Median step and R1 seconds and images/s (R1 amortised), wall and CPU clock."""
    b, r1_every = cfg.train.batch_size, cfg.loss.r1_interval
    res = {}
    for kind, sfx in (("wall", ""), ("cpu", "_cpu")):
        step = statistics.median(times[(p, "step")][kind])
        r1 = statistics.median(times[(p, "r1")][kind])
        per_step = step + r1 / r1_every
        res.update({f"step_seconds{sfx}": round(step, 4), f"r1_seconds{sfx}": round(r1, 4),
                    f"images_per_sec{sfx}": round(b / per_step, 2)})
    return res


def main():
    args = _parse_args()
    load_before = load_average()
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    strategy = make_strategy("auto")
    extractor = None
    if args.perceptual == "random":
        from faceres_tf.losses.perceptual import build_vgg19_features

        extractor = build_vgg19_features(presets.get(args.preset).loss.vgg_layers, weights="random")
    with tempfile.TemporaryDirectory() as tmp:
        cases, cfgs = _trainer_cases(args, precisions, strategy, extractor, tmp)
        step_cases = {k: v for k, v in cases.items() if k[1] == "step"}
        r1_cases = {k: v for k, v in cases.items() if k[1] == "r1"}
        times = interleaved_times(step_cases, args.steps, warmup=2)
        times.update(interleaved_times(r1_cases, max(2, args.steps // 8), warmup=2))
    load_after = load_average()

    machine = cpu_info()
    results = []
    for p in precisions:
        cfg = cfgs[p]
        results.append({
            "benchmark": "train_step", "preset": args.preset, "resolution": cfg.model.resolution,
            "batch": cfg.train.batch_size, "precision": p, "perceptual": args.perceptual,
            "steps": args.steps, **_precision_result(cfg, times, p),
            "r1_interval": cfg.loss.r1_interval, **machine, "tensorflow": tf.__version__,
            "strategy": type(strategy).__name__, "load_before": load_before,
            "load_after": load_after, "date": time.strftime("%Y-%m-%d %H:%M")})
    if len(results) == 2:
        for sfx in ("", "_cpu"):
            ratio = results[1][f"images_per_sec{sfx}"] / results[0][f"images_per_sec{sfx}"]
            for res in results:
                res[f"bf16_speedup_vs_fp32{sfx}"] = round(ratio, 3)
    emit(results, "" if args.json else _markdown(results, args),
         Path(__file__).parent / "results" / f"train_{args.preset}.md", args.json)


def _markdown(results, args) -> str:
    res0 = results[0]
    lines = [
        f"# Training throughput: {args.preset} ({res0['resolution']}x{res0['resolution']}), "
        f"global batch {res0['batch']}",
        "",
        f"- machine: {res0['cpu']}, {res0['cores']} cores, AVX-512 BF16: {res0['avx512_bf16']}, AMX: "
        f"{res0['amx_bf16']}; TF {res0['tensorflow']}; strategy {res0['strategy']}; load average "
        f"{res0['load_before']} before, {res0['load_after']} after; {res0['date']}",
        f"- perceptual loss: {args.perceptual}; XLA: {args.jit_compile}; mixed_float16: {args.mixed_precision}",
        "",
        "| precision | train step (wall / cpu s) | R1 step (wall / cpu s) | images/s (wall) | images/s (per CPU-s) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['precision']} | {r['step_seconds']:.3f} / {r['step_seconds_cpu']:.3f} | "
                     f"{r['r1_seconds']:.3f} / {r['r1_seconds_cpu']:.3f} every {r['r1_interval']} | "
                     f"**{r['images_per_sec']:.3g}** | {r['images_per_sec_cpu']:.3g} |")
    lines.append("")
    for r in results:
        days = PAPER_IMAGES / r["images_per_sec"] / 86400
        lines.append(f"- {r['precision']}: paper schedule (28M images) at this speed: {days:,.0f} days")
    if "bf16_speedup_vs_fp32" in res0:
        lines.append(f"- bf16 vs fp32: {res0['bf16_speedup_vs_fp32']:.2f}x (wall), "
                     f"{res0['bf16_speedup_vs_fp32_cpu']:.2f}x (CPU time)")
    lines += ["", f"Medians of {args.steps} interleaved steps. Command: `python benchmarks/bench_train.py "
                  f"--preset {args.preset} --batch {res0['batch']} --steps {args.steps} --precision "
                  f"{args.precision} --perceptual {args.perceptual}"
                  f"{' --jit_compile' if args.jit_compile else ''}"
                  f"{' --mixed_precision' if args.mixed_precision else ''}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
