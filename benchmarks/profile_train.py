"""Where a training step's time goes: op time by kind and by part, FLOPs, GFLOP/s.

    python -m benchmarks.profile_train --preset cpu_128 --precision fp32
    python -m benchmarks.profile_train --preset cpu_256 --precision both --steps 3

For each precision: builds the trainer on one random batch (as bench_train.py),
warms up, times ``--steps`` train steps and R1 steps (wall and CPU seconds),
then traces as many of each with the TensorFlow profiler
(benchmarks/train_cost.py) and sums the op time by kind (conv forward, conv
backward input / filter, matmul, element-wise, reductions, resampling, random
numbers, variable bookkeeping) and by part (G forward / backward, D forward /
backward on real and restored, losses, Adam, EMA, R1 amortised over
``loss.r1_interval``). FLOPs (TF profiler statistics) per kind give each
kind's GFLOP/s; "busy" is the time at least one op ran, so the traced steps' wall - busy is
host time (Python, dispatch, the step's non-graph work). Writes
benchmarks/results/train_profile_<preset>.md unless ``--json``.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import tempfile
import time
from pathlib import Path

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import tensorflow as tf  # noqa: E402

from benchmarks.machine import cpu_info, emit, interleaved_times, load_average  # noqa: E402
from benchmarks.train_cost import kind_of, part_of, resolve_config, step_flops, trace_op_times  # noqa: E402
from faceres_tf.config_ranges import PRECISIONS  # noqa: E402
from faceres_tf.training import Trainer, make_strategy  # noqa: E402


def _parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu_128", help="model preset")
    ap.add_argument("--precision", choices=(*PRECISIONS, "both"), default="fp32",
                    help="train.precision ('both': fp32 then bf16)")
    ap.add_argument("--steps", type=int, default=3, help="timed and traced steps of each kind")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="SECTION.FIELD=VALUE", help="override a config field (repeatable)")
    ap.add_argument("--json", action="store_true", help="print one JSON line per precision")
    return ap.parse_args()


def _build(args, precision, strategy, tmp):
    cfg = resolve_config(args.preset, args.overrides, {"train.precision": precision})
    r, b = cfg.model.resolution, cfg.train.batch_size
    trainer = Trainer(cfg, os.path.join(tmp, precision), strategy)
    batch = (tf.random.uniform([b, r, r, 3], -1, 1, seed=1), tf.random.uniform([b, r, r, 3], -1, 1, seed=2))
    dist = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
    return cfg, trainer, dist


def profile(args, precision, strategy) -> dict:
    """Timing, traced op time and FLOPs of one precision (see the module doc)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg, trainer, dist = _build(args, precision, strategy, tmp)
        cases = {"step": lambda: trainer.train_step(dist)["g_loss"].numpy(),
                 "r1": lambda: trainer.r1_step(dist)["r1"].numpy()}
        times = interleaved_times(cases, args.steps, warmup=2)
        step_ops, step_busy, step_wall = trace_op_times(cases["step"], args.steps)
        r1_ops, r1_busy, r1_wall = trace_op_times(cases["r1"], args.steps)
        flops = step_flops(trainer, dist)
    every = cfg.loss.r1_interval
    by_kind, by_part = collections.Counter(), collections.Counter()
    for ops, scale, in_r1 in ((step_ops, 1.0, False), (r1_ops, 1.0 / every, True)):
        for (name, typ), ms in ops.items():
            by_kind[kind_of(typ)] += ms * scale
            by_part[part_of(name, in_r1)] += ms * scale
    kind_flops = collections.Counter()
    for (label, kind), value in flops["kinds"].items():
        kind_flops[kind] += value / (every if label == "r1" else 1)
    med = {k: {c: statistics.median(v[c]) for c in ("wall", "cpu")} for k, v in times.items()}
    busy = step_busy + r1_busy / every
    traced_wall = step_wall + r1_wall / every  # the traced calls, for host = wall - busy
    op_total = sum(by_kind.values())
    return {
        "benchmark": "train_profile", "preset": args.preset, "overrides": args.overrides,
        "precision": precision, "resolution": cfg.model.resolution, "batch": cfg.train.batch_size,
        "r1_interval": every, "steps": args.steps,
        "step_seconds": round(med["step"]["wall"], 4), "step_seconds_cpu": round(med["step"]["cpu"], 4),
        "r1_seconds": round(med["r1"]["wall"], 4), "r1_seconds_cpu": round(med["r1"]["cpu"], 4),
        "traced_step_ms": round(traced_wall, 1), "busy_ms": round(busy, 1),
        "host_ms": round(traced_wall - busy, 1), "op_ms": round(op_total, 1),
        "op_ms_by_kind": {k: round(v, 1) for k, v in by_kind.most_common()},
        "op_ms_by_part": {k: round(v, 1) for k, v in by_part.most_common()},
        "gflop_by_kind": {k: round(v / 1e9, 2) for k, v in kind_flops.most_common()},
        "gflops_by_kind": {k: round(kind_flops[k] / 1e6 / by_kind[k], 1)
                           for k in kind_flops if by_kind.get(k)},
    }


def main():
    args = _parse_args()
    load_before = load_average()
    strategy = make_strategy("auto")
    precisions = list(PRECISIONS) if args.precision == "both" else [args.precision]
    results = [profile(args, p, strategy) for p in precisions]
    extra = {**cpu_info(), "tensorflow": tf.__version__, "load_before": load_before,
             "load_after": load_average(), "date": time.strftime("%Y-%m-%d %H:%M")}
    results = [{**r, **extra} for r in results]
    emit(results, "" if args.json else _markdown(results, args),
         Path(__file__).parent / "results" / f"train_profile_{args.preset}.md", args.json)


def _table(title: str, ms: dict, total: float, gflop: dict | None = None, rate: dict | None = None) -> list:
    head = f"| {title} | ms per step | share of op time |" + (" GFLOP | GFLOP/s |" if gflop else "")
    lines = [head, "|---|---|---|" + ("---|---|" if gflop else "")]
    for k, v in ms.items():
        row = f"| {k} | {v:.1f} | {100 * v / total:.0f}% |"
        if gflop:
            row += f" {gflop.get(k, 0):.2f} | {rate.get(k, 0):.0f} |" if k in gflop else " - | - |"
        lines.append(row)
    return lines + [""]


def _markdown(results, args) -> str:
    r0 = results[0]
    lines = [f"# Where a training step's time goes: {args.preset} ({r0['resolution']} px, batch {r0['batch']})",
             "",
             f"- machine: {r0['cpu']}, {r0['cores']} cores, AVX-512 BF16: {r0['avx512_bf16']}, AMX: "
             f"{r0['amx_bf16']}; TF {r0['tensorflow']}; load average {r0['load_before']} before, "
             f"{r0['load_after']} after; {r0['date']}",
             "- op time: TF profiler trace, op events summed over both inter-op threads (so it can "
             "exceed wall time); R1 amortised over its interval. busy: time at least one op ran "
             "during the traced steps; host = their wall time - busy.", ""]
    for r in results:
        lines += [f"## {r['precision']}", "",
                  f"train step {r['step_seconds']:.3f} s wall / {r['step_seconds_cpu']:.3f} s CPU; R1 step "
                  f"{r['r1_seconds']:.3f} s / {r['r1_seconds_cpu']:.3f} s every {r['r1_interval']}; traced steps "
                  f"(R1 amortised) {r['traced_step_ms']:.0f} ms each, ops busy {r['busy_ms']:.0f} ms, host "
                  f"{r['host_ms']:.0f} ms; summed op time {r['op_ms']:.0f} ms.", ""]
        lines += _table("op kind", r["op_ms_by_kind"], r["op_ms"], r["gflop_by_kind"], r["gflops_by_kind"])
        lines += _table("part", r["op_ms_by_part"], r["op_ms"])
    lines += [f"Command: `python -m benchmarks.profile_train --preset {args.preset} --precision "
              f"{args.precision} --steps {args.steps}{''.join(' --set ' + o for o in args.overrides)}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
