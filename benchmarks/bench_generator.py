"""Generator forward time and FLOPs per face (issue: networks).

    python benchmarks/bench_generator.py [--preset paper_512] [--repeats 7] [--batch 1]

Reports the median wall time of a compiled (tf.function) forward pass of the
RDFR generator after warm-up, and the FLOPs per image counted by TensorFlow's
profiler on the traced graph, then writes benchmarks/results/generator.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

import faceres_tf


def count_flops(fn, spec) -> float:
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )
    from tensorflow.python.profiler import model_analyzer, option_builder

    concrete = fn.get_concrete_function(*spec)
    frozen = convert_variables_to_constants_v2(concrete)
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = model_analyzer.profile(graph=frozen.graph, options=opts)
    return float(info.total_float_ops)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="paper_512")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "generator.md"))
    args = ap.parse_args()

    cfg = faceres_tf.presets.get(args.preset)
    r = cfg.model.resolution
    G = faceres_tf.build_generator(cfg)

    @tf.function(reduce_retracing=True)
    def forward(image, seed):
        return G({"image": image, "noise_seed": seed}, training=False)

    spec = (tf.TensorSpec([args.batch, r, r, 3], tf.float32), tf.TensorSpec([args.batch], tf.int32))
    flops = count_flops(forward, spec) / args.batch
    x = tf.random.uniform([args.batch, r, r, 3], -1, 1)
    s = tf.zeros([args.batch], tf.int32)
    for _ in range(2):
        forward(x, s).numpy()
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        forward(x, s).numpy()
        times.append((time.perf_counter() - t) / args.batch)
    med = statistics.median(times)
    machine = f"{cpu_name()}, {os.cpu_count()} cores, TF {tf.__version__}"
    lines = [
        f"# Generator forward ({args.preset}, {r}x{r}, batch {args.batch})",
        "",
        f"- machine: {machine}",
        f"- parameters: {G.count_params():,}",
        f"- FLOPs per image (TF profiler, multiply-add = 2): {flops / 1e9:.1f} GFLOP",
        f"- forward time per image: median {med:.3f} s over {args.repeats} runs "
        f"(min {min(times):.3f}, max {max(times):.3f}) after 2 warm-up runs",
        f"- achieved: {flops / med / 1e9:.0f} GFLOP/s",
        "",
        "Command: `python benchmarks/bench_generator.py --preset "
        f"{args.preset} --batch {args.batch} --repeats {args.repeats}`",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
