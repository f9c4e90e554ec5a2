"""Training throughput (images/s) of one RDFR training step, per precision.

    python -m benchmarks.bench_train --preset tiny --batch 8 --steps 30
    python -m benchmarks.bench_train --preset tiny --precision both --steps 30 --json
    python -m benchmarks.bench_train --preset cpu_128 --precision both --steps 10 --json
    python -m benchmarks.bench_train --preset paper_512 --batch 2 --steps 3 --perceptual random
    python -m benchmarks.bench_train --preset cpu_256 --steps 8 --json

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

FLOPs per image are counted by TensorFlow's profiler on the trainer's own
traced train and R1 steps (benchmarks/train_cost.py: forward and backward
convs, multiply-add = 2), R1 amortised: ``gflop_per_image`` = (train step +
R1 step / r1_interval) / batch, with the parts (G forward/backward, D
forward/backward on real and restored, losses, Adam, EMA, R1) in
``gflop_per_image_parts``. The fp32 conv peak is measured in the same run,
interleaved with the steps: 3x3 'same' convs of the generator's main shapes
at the training batch (bench_generator.peak_shapes); ``fraction_of_fp32_peak``
is the step's GFLOP/s over that peak (``_cpu``: per CPU-second).
``--set section.field=value`` overrides the preset (``cpu_256`` is built from
cpu_128's widths rule where the preset does not exist yet).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import tensorflow as tf  # noqa: E402

from benchmarks.bench_generator import peak_shapes  # noqa: E402
from benchmarks.machine import conv_cases, cpu_info, emit, interleaved_times, load_average  # noqa: E402
from benchmarks.train_cost import per_image_gflop, resolve_config, step_flops  # noqa: E402
from faceres_tf.config_ranges import PRECISIONS  # noqa: E402
from faceres_tf.training import Trainer, make_strategy  # noqa: E402

PAPER_IMAGES = 400 * 70_000


def _parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", help="model preset")
    ap.add_argument("--batch", type=int, default=None, help="global batch (default: the preset's)")
    ap.add_argument("--steps", type=int, default=20, help="timed train steps per precision")
    ap.add_argument("--precision", choices=(*PRECISIONS, "both"), default="fp32",
                    help="train.precision ('both': fp32 and bf16 interleaved in one run)")
    ap.add_argument("--perceptual", choices=["off", "random"], default="off",
                    help="VGG19 perceptual loss with random weights, or off")
    ap.add_argument("--jit_compile", action="store_true", help="XLA-compile the replica step")
    ap.add_argument("--inter_op", type=int, default=0,
                    help="TF inter-op threads (0: TensorFlow's default, one per core)")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="SECTION.FIELD=VALUE", help="override a config field (repeatable)")
    ap.add_argument("--json", action="store_true", help="print one JSON line per precision")
    return ap.parse_args()


def _trainer_cases(args, precisions, strategy, extractor, tmp_root: str) -> tuple[dict, dict, dict]:
    """One trainer per precision on one random batch: ``{(precision, "step" | "r1"): fn}``,
    ``{precision: config}`` and ``{precision: (trainer, distributed batch)}``; run
    directories under ``tmp_root``."""
    cases, cfgs, trainers = {}, {}, {}
    for p in precisions:
        updates = {"loss.perceptual": "vgg19" if extractor else "off", "train.jit_compile": args.jit_compile,
                   "train.precision": p}
        if args.batch:
            updates["train.batch_size"] = args.batch
        cfg = cfgs[p] = resolve_config(args.preset, args.overrides, updates)
        r, b = cfg.model.resolution, cfg.train.batch_size
        trainer = Trainer(cfg, os.path.join(tmp_root, p), strategy, perceptual_extractor=extractor)
        batch = (tf.random.uniform([b, r, r, 3], -1, 1, seed=1), tf.random.uniform([b, r, r, 3], -1, 1, seed=2))
        dist = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
        trainers[p] = (trainer, dist)
        cases[(p, "step")] = lambda t=trainer, d=dist: t.train_step(d)["g_loss"].numpy()
        cases[(p, "r1")] = lambda t=trainer, d=dist: t.r1_step(d)["r1"].numpy()
    return cases, cfgs, trainers


def _precision_result(cfg, times: dict, p: str, gflop: float, peaks: dict) -> dict:
    """Median step and R1 seconds, images/s (R1 amortised), GFLOP/s and its share of
    the fp32 conv peak, wall and CPU clock."""
    b, r1_every = cfg.train.batch_size, cfg.loss.r1_interval
    res = {}
    for kind, sfx in (("wall", ""), ("cpu", "_cpu")):
        step = statistics.median(times[(p, "step")][kind])
        r1 = statistics.median(times[(p, "r1")][kind])
        per_step = step + r1 / r1_every
        ips = b / per_step
        res.update({f"step_seconds{sfx}": round(step, 4), f"r1_seconds{sfx}": round(r1, 4),
                    f"images_per_s{sfx}": round(ips, 2), f"gflops{sfx}": round(gflop * ips, 1),
                    f"fraction_of_fp32_peak{sfx}": round(gflop * ips / peaks[kind][1], 3)})
    return res


def _conv_peak(times: dict, conv_flops: dict) -> dict:
    """{"wall" | "cpu": (best conv, its GFLOP/s)} of the timed fp32 peak convs."""
    out = {}
    for kind in ("wall", "cpu"):
        rates = {name: fl / statistics.median(times[name][kind]) / 1e9 for name, fl in conv_flops.items()}
        best = max(rates, key=rates.get)
        out[kind] = (best, rates[best])
    return out


def _timed(args, precisions, strategy, extractor) -> tuple:
    """Builds the trainers, counts FLOPs, times steps, R1 steps and the fp32 peak convs."""
    with tempfile.TemporaryDirectory() as tmp:
        cases, cfgs, trainers = _trainer_cases(args, precisions, strategy, extractor, tmp)
        cfg0 = cfgs[precisions[0]]
        peak = conv_cases(peak_shapes(cfg0), "float32", cfg0.train.batch_size)
        step_cases = {k: v for k, v in cases.items() if k[1] == "step"}
        step_cases.update({name: fn for name, (fn, _) in peak.items()})
        r1_cases = {k: v for k, v in cases.items() if k[1] == "r1"}
        times = interleaved_times(step_cases, args.steps, warmup=2)
        times.update(interleaved_times(r1_cases, max(2, args.steps // 8), warmup=2))
        trainer, dist = trainers[precisions[0]]
        flops = step_flops(trainer, dist)  # the graphs are traced: no extra step runs
    return cfgs, times, flops, _conv_peak(times, {name: fl for name, (_, fl) in peak.items()})


def main():
    args = _parse_args()
    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    load_before = load_average()
    precisions = list(PRECISIONS) if args.precision == "both" else [args.precision]
    strategy = make_strategy("auto")
    extractor = None
    if args.perceptual == "random":
        from faceres_tf.losses.perceptual import build_vgg19_features

        cfg = resolve_config(args.preset, args.overrides)
        extractor = build_vgg19_features(cfg.loss.vgg_layers, weights="random")
    cfgs, times, flops, peaks = _timed(args, precisions, strategy, extractor)
    load_after = load_average()

    machine = cpu_info()
    gflop = per_image_gflop(flops, cfgs[precisions[0]])
    results = []
    for p in precisions:
        cfg = cfgs[p]
        b, every = cfg.train.batch_size, cfg.loss.r1_interval
        parts = {k: round(v / b / 1e9 / (every if k == "R1" else 1), 3) for k, v in flops["parts"].items()}
        results.append({
            "benchmark": "train_step", "preset": args.preset, "overrides": args.overrides,
            "jit_compile": args.jit_compile, "inter_op": args.inter_op,
            "resolution": cfg.model.resolution, "batch": b, "precision": p,
            "perceptual": args.perceptual, "steps": args.steps, "gflop_per_image": round(gflop, 3),
            "gflop_per_image_parts": parts, **_precision_result(cfg, times, p, gflop, peaks),
            "peak_gflops_fp32": round(peaks["wall"][1], 1), "peak_conv": peaks["wall"][0],
            "peak_gflops_fp32_cpu": round(peaks["cpu"][1], 1), "peak_conv_cpu": peaks["cpu"][0],
            "r1_interval": every, **machine, "tensorflow": tf.__version__,
            "strategy": type(strategy).__name__, "load_before": load_before,
            "load_after": load_after, "date": time.strftime("%Y-%m-%d %H:%M")})
    if len(results) == 2:
        for sfx in ("", "_cpu"):
            ratio = results[1][f"images_per_s{sfx}"] / results[0][f"images_per_s{sfx}"]
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
        f"- perceptual loss: {args.perceptual}; XLA: {args.jit_compile}",
        "",
        f"- FLOPs (TF profiler on the traced train and R1 steps, R1 amortised): "
        f"{res0['gflop_per_image']:.2f} GFLOP per image; parts: "
        + ", ".join(f"{k} {v:.2f}" for k, v in res0["gflop_per_image_parts"].items()),
        f"- fp32 conv peak (same run, batch {res0['batch']}): {res0['peak_gflops_fp32']:.0f} GFLOP/s wall "
        f"({res0['peak_conv']}), {res0['peak_gflops_fp32_cpu']:.0f} per CPU-s",
        "",
        "| precision | train step (wall / cpu s) | R1 step (wall / cpu s) | images/s (wall) | "
        "images/s (per CPU-s) | GFLOP/s (wall) | share of fp32 conv peak (wall / cpu) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['precision']} | {r['step_seconds']:.3f} / {r['step_seconds_cpu']:.3f} | "
                     f"{r['r1_seconds']:.3f} / {r['r1_seconds_cpu']:.3f} every {r['r1_interval']} | "
                     f"**{r['images_per_s']:.3g}** | {r['images_per_s_cpu']:.3g} | {r['gflops']:.0f} | "
                     f"{100 * r['fraction_of_fp32_peak']:.0f}% / {100 * r['fraction_of_fp32_peak_cpu']:.0f}% |")
    lines.append("")
    for r in results:
        days = PAPER_IMAGES / r["images_per_s"] / 86400
        lines.append(f"- {r['precision']}: paper schedule (28M images) at this speed: {days:,.0f} days")
    if "bf16_speedup_vs_fp32" in res0:
        lines.append(f"- bf16 vs fp32: {res0['bf16_speedup_vs_fp32']:.2f}x (wall), "
                     f"{res0['bf16_speedup_vs_fp32_cpu']:.2f}x (CPU time)")
    lines += ["", f"Medians of {args.steps} interleaved steps. Command: `python -m benchmarks.bench_train "
                  f"--preset {args.preset} --batch {res0['batch']} --steps {args.steps} --precision "
                  f"{args.precision} --perceptual {args.perceptual}"
                  f"{''.join(' --set ' + o for o in args.overrides)}"
                  f"{' --jit_compile' if args.jit_compile else ''}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
