"""Generator forward time, FLOPs and the share of the conv peak, per precision.

    python -m benchmarks.bench_generator --preset paper_512 --precision fp32 --json
    python -m benchmarks.bench_generator --preset paper_512 --precision bf16 --json
    python -m benchmarks.bench_generator --preset paper_512 --precision both --json

In one process, interleaved round by round (so a varying background load hits
every case alike), it times:

* ``folded``: the generator as restore/export run it (the folded inference
  copy, :func:`faceres_tf.models.inference_generator`) in the precision;
* ``training``: the training graph in the same precision (Keras policy
  ``float32`` or ``mixed_bfloat16``);
* the conv peak of that precision: 3x3 'same' TensorFlow convs of the
  generator's own main shapes (``peak_shapes``, at the same batch); the peak
  is the best GFLOP/s among them.

FLOPs per image are counted by TensorFlow's profiler on the frozen fp32
training graph (multiply-add = 2). With ``--json`` it prints one JSON line
per precision: ``seconds_median`` (folded graph, per image), ``gflops``
(achieved GFLOP/s), ``peak_gflops`` and ``fraction_of_peak``, the training
graph's numbers, the CPU model and flags (AVX-512 BF16, AMX), and the load
average before and after. Otherwise it prints a markdown summary and writes
it to ``--out`` (default benchmarks/results/generator.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import tensorflow as tf  # noqa: E402

import faceres_tf  # noqa: E402
from benchmarks.machine import conv_cases, cpu_info, emit, interleaved_times, load_average  # noqa: E402
from faceres_tf.config_ranges import PRECISIONS  # noqa: E402


def count_flops(fn, spec) -> float:
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.profiler import model_analyzer, option_builder

    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(*spec))
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")  # the profiler's TF1 deprecation warning is not the benchmark's output
    try:
        return float(model_analyzer.profile(graph=frozen.graph, options=opts).total_float_ops)
    finally:
        logger.setLevel(level)


def peak_shapes(cfg):
    """The decoder's C -> C 3x3 convs at sides 32 .. R/2: (side, C, C) (for
    paper_512: 32x32x512, 64x64x256, 128x128x128, 256x256x64)."""
    from faceres_tf.models.channels import decoder_channels, decoder_resolutions

    sides = [r for r in decoder_resolutions(cfg.model) if 32 <= r < cfg.model.resolution]
    sides = sides or decoder_resolutions(cfg.model)[-2:]
    return [(r, decoder_channels(r, cfg.model), decoder_channels(r, cfg.model)) for r in sides]


def forward_fn(G, batch, r):
    fn = tf.function(lambda x, s: G({"image": x, "noise_seed": s}, training=False))
    x = tf.random.uniform([batch, r, r, 3], -1, 1, seed=1)
    s = tf.range(batch, dtype=tf.int32)  # seeded noise on, as restore's default
    return fn, (lambda: fn(x, s).numpy())


def _parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper_512", help="model preset")
    ap.add_argument("--precision", choices=(*PRECISIONS, "both"), default="fp32",
                    help="compute precision ('both': fp32 and bf16 in one interleaved run)")
    ap.add_argument("--batch", type=int, default=1, help="faces per call")
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds (after one warm-up)")
    ap.add_argument("--json", action="store_true", help="print one JSON line per precision")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "generator.md"),
                    help="write the markdown summary here (not with --json)")
    return ap.parse_args()


def _timed_cases(cfg, base, precisions, b: int, r: int) -> tuple[dict, dict]:
    """``{(precision, case): fn}`` for the folded and training graphs and the peak
    convs of each precision, and ``{(precision, conv): FLOPs}`` of the convs."""
    from faceres_tf.models import inference_generator

    cases, conv_flops = {}, {}
    for p in precisions:
        cases[(p, "folded")] = forward_fn(inference_generator(base, p), b, r)[1]
        cases[(p, "training")] = forward_fn(inference_generator(base, p, fold=False), b, r)[1]
        for name, (fn, fl) in conv_cases(peak_shapes(cfg), {"fp32": "float32", "bf16": "bfloat16"}[p], b).items():
            cases[(p, name)] = fn
            conv_flops[(p, name)] = fl
    return cases, conv_flops


def _precision_result(p: str, times: dict, flops: float, conv_flops: dict, b: int) -> dict:
    """Seconds, GFLOP/s and shares of the conv peak of precision ``p``, wall and CPU clock."""
    def med(name, kind):
        return statistics.median(times[name][kind])

    res = {}
    for kind, suffix in (("wall", ""), ("cpu", "_cpu")):
        convs = {name: fl / med((q, name), kind) / 1e9 for (q, name), fl in conv_flops.items() if q == p}
        peak_name = max(convs, key=convs.get)
        peak = convs[peak_name]
        sec = med((p, "folded"), kind) / b
        tsec = med((p, "training"), kind) / b
        res.update({
            f"seconds_median{suffix}": round(sec, 4),
            f"seconds_min{suffix}": round(min(times[(p, "folded")][kind]) / b, 4),
            f"gflops{suffix}": round(flops / sec / 1e9, 1),
            f"peak_gflops{suffix}": round(peak, 1), f"peak_conv{suffix}": peak_name,
            f"fraction_of_peak{suffix}": round(flops / sec / 1e9 / peak, 3),
            f"conv_gflops{suffix}": {k: round(v, 1) for k, v in convs.items()},
            f"training_graph_seconds_median{suffix}": round(tsec, 4),
            f"training_graph_fraction_of_peak{suffix}": round(flops / tsec / 1e9 / peak, 3),
            f"speedup_folded_vs_training{suffix}": round(tsec / sec, 3),
        })
    return res


def _add_bf16_ratios(results: list) -> None:
    """With fp32 and bf16 results: the bf16 speed-up and peak ratio, in both."""
    if len(results) != 2:
        return
    for suffix in ("", "_cpu"):
        ratio = results[0][f"seconds_median{suffix}"] / results[1][f"seconds_median{suffix}"]
        peak_ratio = results[1][f"peak_gflops{suffix}"] / results[0][f"peak_gflops{suffix}"]
        for res in results:
            res[f"bf16_speedup_vs_fp32{suffix}"] = round(ratio, 3)
            res[f"bf16_peak_ratio{suffix}"] = round(peak_ratio, 3)


def main():
    args = _parse_args()
    load_before = load_average()
    cfg = faceres_tf.presets.get(args.preset)
    r, b = cfg.model.resolution, args.batch
    precisions = list(PRECISIONS) if args.precision == "both" else [args.precision]
    base = faceres_tf.build_generator(cfg, precision="fp32")
    fwd32, _ = forward_fn(base, b, r)
    spec = (tf.TensorSpec([b, r, r, 3], tf.float32), tf.TensorSpec([b], tf.int32))
    flops = count_flops(fwd32, spec) / b
    cases, conv_flops = _timed_cases(cfg, base, precisions, b, r)
    times = interleaved_times(cases, args.repeats, warmup=2)
    load_after = load_average()

    machine = cpu_info()
    results = []
    for p in precisions:
        results.append({
            "benchmark": "generator_forward", "preset": args.preset, "resolution": r, "batch": b,
            "precision": p, "graph": "folded", "gflop_per_image": round(flops / 1e9, 2),
            **_precision_result(p, times, flops, conv_flops, b),
            "repeats": args.repeats, **machine, "tensorflow": tf.__version__,
            "load_before": load_before, "load_after": load_after,
            "date": time.strftime("%Y-%m-%d %H:%M")})
    _add_bf16_ratios(results)
    emit(results, "" if args.json else _markdown(results, args), args.out, args.json)


def _markdown(results, args) -> str:
    res0 = results[0]
    lines = [
        f"# Generator forward ({res0['preset']}, {res0['resolution']}x{res0['resolution']}, batch {res0['batch']})",
        "",
        f"- machine: {res0['cpu']}, {res0['cores']} cores, AVX-512 BF16: {res0['avx512_bf16']}, "
        f"AMX: {res0['amx_bf16']}; TF {res0['tensorflow']}; load average {res0['load_before']} "
        f"before, {res0['load_after']} after; {res0['date']}",
        f"- FLOPs per image (TF profiler, multiply-add = 2): {res0['gflop_per_image']} GFLOP",
        "- wall: seconds per face; cpu: CPU seconds per face (all threads; stable under load).",
        "",
        "| precision | clock | folded (restore/export) | training graph | folded GFLOP/s | conv peak GFLOP/s | "
        "folded / peak | training / peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for clock, sfx in (("wall", ""), ("cpu", "_cpu")):
            lines.append(
                f"| {r['precision']} | {clock} | {r['seconds_median' + sfx]:.3f} s | "
                f"{r['training_graph_seconds_median' + sfx]:.3f} s | {r['gflops' + sfx]:.0f} | "
                f"{r['peak_gflops' + sfx]:.0f} ({r['peak_conv' + sfx]}) | {100 * r['fraction_of_peak' + sfx]:.0f}% | "
                f"{100 * r['training_graph_fraction_of_peak' + sfx]:.0f}% |")
    if "bf16_speedup_vs_fp32" in res0:
        lines += ["", f"- bf16 vs fp32, folded graphs: {res0['bf16_speedup_vs_fp32']:.2f}x (wall), "
                      f"{res0['bf16_speedup_vs_fp32_cpu']:.2f}x (cpu); conv peak bf16 / fp32: "
                      f"{res0['bf16_peak_ratio']:.2f}x (wall), {res0['bf16_peak_ratio_cpu']:.2f}x (cpu)"]
    lines += ["", f"Medians of {args.repeats} interleaved rounds. Command: `python -m benchmarks.bench_generator "
                  f"--preset {args.preset} --precision {args.precision} --batch {args.batch} "
                  f"--repeats {args.repeats}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
