"""What a benchmark result needs to say about the machine it was measured on,
and the one writer of results (:func:`emit`).

Shared by the benchmarks (``python -m benchmarks.<name>``): CPU model and the ISA flags that decide
bfloat16 speed (AVX-512 BF16, AMX), core count, load, library versions, and
timing helpers that interleave the cases being compared, so a background load
that comes and goes hits every case alike (results are then meaningful as
ratios within one run).

Each case is timed in wall-clock seconds and in CPU seconds of this process
(all its threads). On a machine shared with other jobs the wall time of a call
varies several-fold with what else runs, while its CPU time (the work done)
stays within a few percent, so ratios and shares of a peak are computed from
both and the CPU-time ones are the reliable ones under load.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def cpu_info() -> dict:
    """CPU model, cores and the flags relevant to bf16/fp32 speed."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "amx_tile": "amx_tile" in flags,
    }


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def interleaved_times(cases: dict, repeats: int, warmup: int = 1) -> dict:
    """Runs every callable in ``cases`` ``warmup`` times, then ``repeats``
    rounds of one call each (round-robin); returns {name: {"wall": [s, ...],
    "cpu": [s, ...]}} (CPU seconds of this process over all threads)."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times = {name: {"wall": [], "cpu": []} for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name]["cpu"].append(time.process_time() - c)
            times[name]["wall"].append(time.perf_counter() - t)
    return times


def summary(seconds: list) -> dict:
    return {"median": statistics.median(seconds), "min": min(seconds), "max": max(seconds), "n": len(seconds)}


def conv_cases(shapes, dtype_name: str, batch: int = 1) -> dict:
    """{label: (callable, flops)} for 3x3 'same' convs of the given
    (side, C_in, C_out) shapes in ``dtype_name`` (TensorFlow, oneDNN on CPU)."""
    import tensorflow as tf

    dtype = tf.as_dtype(dtype_name)
    cases = {}
    for side, cin, cout in shapes:
        x = tf.cast(tf.random.normal([batch, side, side, cin]), dtype)
        k = tf.cast(tf.random.normal([3, 3, cin, cout]) * 0.05, dtype)
        fn = tf.function(lambda x=x, k=k: tf.nn.conv2d(x, k, 1, "SAME"))
        flops = 2.0 * batch * side * side * cin * cout * 9
        cases[f"conv{side}x{side}x{cin}->{cout}"] = ((lambda fn=fn: fn()), flops)  # eager = synchronous
    return cases


def emit(results: list, markdown: str, out: Path | str | None, as_json: bool) -> None:
    """The one way every benchmark reports its results (``--json`` or a
    markdown page). ``as_json``: one JSON line per result on stdout, nothing
    written. Otherwise the markdown on stdout and, when ``out`` is given, also
    written to ``out`` (``wrote OUT`` on stderr)."""
    if as_json:
        for res in results:
            print(json.dumps(res), flush=True)
        return
    markdown = markdown if markdown.endswith("\n") else markdown + "\n"
    print(markdown, end="", flush=True)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(markdown)
        print(f"wrote {out}", file=sys.stderr, flush=True)
