"""Where the generator's inference time goes: op time by kind and by op type.

    python -m benchmarks.profile_generator --preset paper_512 --precision fp32
    ONEDNN_MAX_CPU_ISA=AVX2 python -m benchmarks.profile_generator --preset paper_512

Builds the folded inference generator (as restore/export run it,
``faceres_tf.models.inference_generator``), warms it up, then traces
``--calls`` forward calls with the TensorFlow profiler
(benchmarks/train_cost.py's ``trace_op_times``) and sums the op time by kind
(conv, element-wise, resampling, random numbers, ...) and by op type. The
conv share of the summed op time is what bench_generator.py's share of the
conv peak can at most reach if every conv ran at the peak; the rest is what
a faster graph could remove. ``ONEDNN_MAX_CPU_ISA`` (e.g. ``AVX2``) caps the
instruction set oneDNN dispatches to and is recorded in the output.
Prints markdown (and writes it to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import collections
import os
import time

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import tensorflow as tf  # noqa: E402

import faceres_tf  # noqa: E402
from benchmarks.machine import cpu_info, emit, load_average  # noqa: E402
from benchmarks.train_cost import kind_of, trace_op_times  # noqa: E402
from faceres_tf.config_ranges import PRECISIONS  # noqa: E402


def _parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper_512", help="model preset (random weights)")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32", help="compute precision")
    ap.add_argument("--batch", type=int, default=1, help="faces per call")
    ap.add_argument("--calls", type=int, default=3, help="traced forward calls (after 2 warm-up calls)")
    ap.add_argument("--json", action="store_true", help="one JSON line instead of the markdown")
    ap.add_argument("--top", type=int, default=15, help="op types listed")
    ap.add_argument("--out", default=None, help="also write the markdown here")
    return ap.parse_args()


def main():
    args = _parse_args()
    from faceres_tf.models import inference_generator

    cfg = faceres_tf.presets.get(args.preset)
    r, b = cfg.model.resolution, args.batch
    G = inference_generator(faceres_tf.build_generator(cfg, precision="fp32"), args.precision)
    fn = tf.function(lambda x, s: G({"image": x, "noise_seed": s}, training=False))
    x = tf.random.uniform([b, r, r, 3], -1, 1, seed=1)
    s = tf.range(b, dtype=tf.int32)

    def call():
        return fn(x, s).numpy()

    load_before = load_average()
    for _ in range(2):
        call()
    start = time.perf_counter()
    call()
    untraced_ms = (time.perf_counter() - start) * 1000
    times, busy_ms, wall_ms = trace_op_times(call, args.calls)
    by_kind, by_type = collections.Counter(), collections.Counter()
    for (_, op_type), ms in times.items():
        by_kind[kind_of(op_type)] += ms
        by_type[op_type] += ms
    total = sum(times.values())
    m = cpu_info()
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "none (all the CPU has)")
    lines = [
        f"# Generator inference profile ({args.preset}, {args.precision}, folded, batch {b})",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, AVX-512 BF16: {m['avx512_bf16']}; "
        f"oneDNN ISA cap (ONEDNN_MAX_CPU_ISA): {isa}; TF {tf.__version__}; load average "
        f"{load_before} before, {load_average()} after; {time.strftime('%Y-%m-%d %H:%M')}",
        f"- one untraced call {untraced_ms:.0f} ms; traced: {wall_ms:.0f} ms wall per call, ops busy "
        f"{busy_ms:.0f} ms, summed op time {total:.0f} ms (mean of {args.calls} calls)",
        "",
        "| kind | ms per call | share |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:.1f} | {100 * v / total:.1f}% |" for k, v in by_kind.most_common()]
    lines += ["", "| op type | ms per call | share |", "|---|---|---|"]
    lines += [f"| {k} | {v:.1f} | {100 * v / total:.1f}% |" for k, v in by_type.most_common(args.top)]
    result = {"preset": args.preset, "precision": args.precision, "batch": b, "isa_cap": isa,
              "wall_ms_per_call": round(wall_ms, 1), "op_ms_by_kind": {k: round(v, 1) for k, v in by_kind.items()},
              **m}
    emit([result], "\n".join(lines), args.out, args.json)


if __name__ == "__main__":
    main()
