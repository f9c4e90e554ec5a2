"""Benchmark: iPrecision / iRecall speed and memory, and identity embeddings per second.

    python -m benchmarks.bench_ipr [--sizes 1000,10000,50000] [--dims 128,512] [--quick]

Each (N, d) case runs in a fresh subprocess so that peak memory is measured
cleanly, two ways: ``tracemalloc`` peak (numpy registers its buffers with it;
Python + numpy allocations made by the metric) and the max-RSS high-water
mark (``resource.getrusage``) minus the RSS right before the call (whole
process, includes BLAS buffers). Features are random Gaussians; restored =
an independent sample with a different scale, the worst case (no block can be
skipped early). Results go to benchmarks/results/ipr.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import emit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(n: int, d: int) -> dict:
    import importlib.util
    import tracemalloc

    import numpy as np

    # load the module file alone: importing the faceres_tf package pulls in TensorFlow
    spec = importlib.util.spec_from_file_location(
        "precision_recall", ROOT / "faceres_tf" / "metrics" / "precision_recall.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    identity_precision_recall = module.identity_precision_recall

    rng = np.random.default_rng(0)
    real = rng.standard_normal((n, d)).astype(np.float32)
    fake = (1.2 * rng.standard_normal((n, d))).astype(np.float32)
    rss0 = _rss_mb()
    tracemalloc.start()
    t, c = time.perf_counter(), time.process_time()
    res = identity_precision_recall(real, fake, k=3)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"n": n, "d": d, "seconds": seconds, "cpu_seconds": cpu,
            "load_before": os.getloadavg()[0], "tracemalloc_peak_mb": peak / 2**20,
            "rss_delta_mb": maxrss - rss0, "result": res}


def bench_dlib(count: int = 8) -> dict:
    import numpy as np
    from PIL import Image

    from faceres_tf.cli import import_tensorflow_quietly

    import_tensorflow_quietly()  # the embedder imports TensorFlow: keep its start-up log hidden
    from faceres_tf.metrics.identity import get_embedder

    try:
        import dlib  # noqa: F401
    except ImportError as e:
        return {"skipped": f"dlib not importable ({e})"}
    files = sorted((DATA / "stargan_v2_celeba_hq").glob("*.jpg"))[:count]
    if not files:
        return {"skipped": f"no aligned faces found under {DATA}"}
    faces = [np.asarray(Image.open(f).convert("RGB").resize((512, 512), Image.BICUBIC))
             for f in files]
    emb = get_embedder("dlib", aligned=True)
    emb.embed(faces[:1])  # warm-up
    t = time.perf_counter()
    emb.embed(faces)
    seconds = time.perf_counter() - t
    return {"faces": len(faces), "size": 512, "seconds": seconds,
            "faces_per_second": len(faces) / seconds, "fallbacks": emb.fallbacks}


def _parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,50000")
    p.add_argument("--dims", default="128,512")
    p.add_argument("--quick", action="store_true", help="sizes 1000,5000 only")
    p.add_argument("--no_dlib", action="store_true", help="skip the dlib embedding benchmark")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ipr.md"), help="markdown file to write")
    p.add_argument("--json", action="store_true", help="print one JSON line per result (nothing written)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p.parse_args()


def _run_cases(sizes, dims) -> list:
    """One fresh subprocess (``--child N,d``) per case; their result rows."""
    rows = []
    for d in dims:
        for n in sizes:
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_ipr", "--child", f"{n},{d}"],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(r)
            print(f"N={n:>6} d={d:>4}: {r['seconds']:7.2f} s wall, {r['cpu_seconds']:7.2f} s CPU, "
                  f"load {r['load_before']:.1f}; tracemalloc peak "
                  f"{r['tracemalloc_peak_mb']:7.1f} MiB  max-RSS delta {r['rss_delta_mb']:7.1f} MiB",
                  file=sys.stderr, flush=True)
    return rows


def _markdown(rows: list, dl: dict) -> list:
    load = os.getloadavg()
    lines = [
        "# iPrecision / iRecall benchmark",
        "",
        f"Command: `{' '.join(['python -m benchmarks.bench_ipr'] + sys.argv[1:])}`",
        f"Machine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} CPU cores usable "
        f"({os.cpu_count()} in the machine), "
        f"numpy BLAS threads default; load average at the end {load[0]:.2f} "
        "(the machine is shared, so times are upper bounds).",
        "Worst case: restored = an independent Gaussian sample (no early exit), k = 3, float32.",
        "Memory: tracemalloc peak (numpy buffers) and max-RSS minus RSS before the call.",
        "",
        "CPU time = process CPU seconds, all BLAS threads summed (less sensitive to other load).",
        "",
        "| N | d | wall (s) | CPU (s) | 1-min load before | tracemalloc peak (MiB) | max-RSS delta (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['n']} | {r['d']} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | "
              f"{r['load_before']:.1f} | {r['tracemalloc_peak_mb']:.1f} | {r['rss_delta_mb']:.1f} |"
              for r in rows]
    lines += ["", "Identity embeddings (dlib 128-d, aligned 512x512 CelebA-HQ faces, "
              "HOG detection + 5-point landmarks + ResNet descriptor):", ""]
    if "skipped" in dl:
        lines.append(f"skipped: {dl['skipped']}")
    else:
        lines.append(f"{dl['faces']} faces in {dl['seconds']:.2f} s = "
                     f"{dl['faces_per_second']:.1f} faces/s (fixed-box fallbacks: {dl['fallbacks']})")
    return lines


def main() -> int:
    a = _parse_args()
    if a.child:
        n, d = map(int, a.child.split(","))
        print(json.dumps(child(n, d)))
        return 0
    sizes = [1000, 5000] if a.quick else [int(s) for s in a.sizes.split(",")]
    dims = [int(s) for s in a.dims.split(",")]
    rows = _run_cases(sizes, dims)
    dl = {"skipped": "--no_dlib"} if a.no_dlib else bench_dlib()
    results = [{"benchmark": "ipr", **r} for r in rows] + [{"benchmark": "dlib_embedding", **dl}]
    emit(results, "\n".join(_markdown(rows, dl)), a.out, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
