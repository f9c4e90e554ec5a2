"""Generator speed under Keras 3's JAX backend (for GPU machines without TensorFlow).

    python -m benchmarks.bench_generator_jax                      # paper_512, batch 1 and 32, fp32 and bf16
    python -m benchmarks.bench_generator_jax --preset test        # CPU smoke run (32 px, seconds)

Times, for every (batch, precision, mode): ``forward`` (the generator's
inference call) and ``forward_backward`` (L1 loss of the output and its
gradient with respect to every trainable weight: the generator's share of a
training step), each one ``jax.jit``-compiled function, after a warm-up call
that compiles it (compile time reported separately). bf16 is Keras'
``mixed_bfloat16`` policy (bfloat16 compute, float32 weights), as in
training. Prints one JSON line per case: seconds per call (median, min),
images/s, XLA's FLOP count of the compiled function and the achieved
TFLOP/s, and the device, JAX and Keras versions. A case that fails (e.g. out
of memory) prints a JSON line with its ``error``.

Needs only ``jax`` (with CUDA for a GPU), ``keras`` and this repository on
``PYTHONPATH``: the model code is keras.ops only and TensorFlow is not imported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"  # before Keras is imported
from benchmarks.machine import emit  # noqa: E402 - imports no Keras


def _flops(compiled) -> float | None:
    try:
        cost = compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):
            cost = cost[0]
        return float(cost["flops"]) if cost and "flops" in cost else None
    except Exception:  # noqa: BLE001 - not every backend reports costs
        return None


def run_case(cfg, batch, precision, mode, repeats):
    import jax
    import jax.numpy as jnp
    import numpy as np

    import faceres_tf

    G = faceres_tf.build_generator(cfg, precision=precision)
    r = cfg.model.resolution
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-1, 1, (batch, r, r, 3)).astype("float32"))
    target = jnp.asarray(rng.uniform(-1, 1, (batch, r, r, 3)).astype("float32"))
    seeds = jnp.arange(batch, dtype="int32")
    tv = [v.value for v in G.trainable_variables]
    ntv = [v.value for v in G.non_trainable_variables]

    if mode == "forward":
        def fn(tv, ntv, x, s):
            y, _ = G.stateless_call(tv, ntv, {"image": x, "noise_seed": s}, training=False)
            return y
        args = (tv, ntv, x, seeds)
    else:
        def loss(tv, ntv, x, s, t):
            y, _ = G.stateless_call(tv, ntv, {"image": x, "noise_seed": s}, training=True)
            return jnp.mean(jnp.abs(y.astype("float32") - t))
        fn = jax.value_and_grad(loss)
        args = (tv, ntv, x, seeds, target)

    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t
    jax.block_until_ready(compiled(*args))  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    flops = _flops(compiled)
    return {
        "seconds_median": round(med, 5), "seconds_min": round(min(times), 5),
        "images_per_sec": round(batch / med, 2), "compile_seconds": round(compile_s, 2),
        "gflop_per_call": None if flops is None else round(flops / 1e9, 2),
        "tflops": None if flops is None else round(flops / med / 1e12, 3),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper_512", help="model preset ('test' = CPU smoke run)")
    ap.add_argument("--batches", default="1,32", help="comma-separated batch sizes")
    ap.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    ap.add_argument("--modes", default="forward,forward_backward", help="forward, forward_backward")
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per case (after one warm-up)")
    ap.add_argument("--out", default=None, help="also write the markdown table to this file")
    ap.add_argument("--json", action="store_true", help="print one JSON line per case (nothing written)")
    args = ap.parse_args()

    import jax
    import keras

    import faceres_tf

    assert keras.backend.backend() == "jax", keras.backend.backend()
    cfg = faceres_tf.presets.get(args.preset)
    dev = jax.devices()[0]
    common = {
        "benchmark": "generator_jax", "preset": args.preset, "resolution": cfg.model.resolution,
        "device": str(dev), "device_kind": getattr(dev, "device_kind", dev.platform),
        "platform": dev.platform, "jax": jax.__version__, "keras": keras.__version__,
        "tensorflow_loaded": "tensorflow" in sys.modules, "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    cases = []
    for batch in [int(b) for b in args.batches.split(",")]:
        for precision in args.precisions.split(","):
            for mode in args.modes.split(","):
                case = {**common, "batch": batch, "precision": precision, "mode": mode}
                try:
                    case.update(run_case(cfg, batch, precision, mode, args.repeats))
                except Exception as e:  # noqa: BLE001 - report and go on (OOM at batch 32, ...)
                    case["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                print(f"batch {batch} {precision} {mode}: {case.get('error') or 'done'}", file=sys.stderr,
                      flush=True)
                cases.append(case)
                jax.clear_caches()
    emit(cases, _markdown(cases), args.out, args.json)


def _markdown(cases: list) -> str:
    """One table row per case: its timing fields as they were measured."""
    skip = {"benchmark", "preset", "resolution", "device", "device_kind", "platform", "jax", "keras",
            "tensorflow_loaded", "date"}
    keys = sorted({k for c in cases for k in c} - skip - {"batch", "precision", "mode"})
    c0 = cases[0] if cases else {}
    lines = [f"# Generator under Keras' JAX backend ({c0.get('preset')}, {c0.get('device_kind')}, "
             f"{c0.get('date')})", "", "| batch | precision | mode | " + " | ".join(keys) + " |",
             "|---" * (3 + len(keys)) + "|"]
    lines += [f"| {c['batch']} | {c['precision']} | {c['mode']} | " + " | ".join(
        f"{c[k]:.4g}" if isinstance(c.get(k), float) else str(c.get(k, "")) for k in keys) + " |" for c in cases]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
