"""GFLOP/s of every oneDNN convolution in a ``ONEDNN_VERBOSE=1`` log.

    ONEDNN_VERBOSE=1 ONEDNN_MAX_CPU_ISA=AVX2 python -m benchmarks.profile_generator \\
        --preset paper_512 --calls 2 > /tmp/verbose.log
    python -m benchmarks.onednn_conv_rates /tmp/verbose.log

oneDNN prints one ``primitive,exec`` line per primitive call with its
implementation (e.g. ``brg_conv_fwd:avx512_core``, ``x64:gemm:jit``), its
problem (``mb1_ic64oc64_ih64oh64kh3sh1...``) and its time in ms. This sums the
calls per (implementation, problem), computes each convolution's FLOPs from
the problem (2 x mb x oc x oh x ow x ic x kh x kw / groups) and prints, for
the convolutions and the reorders, the time, the GFLOP/s and the time lost
against the fastest convolution's rate. Other primitive kinds are summed by
kind. Reads the log named on the command line (or stdin).
"""

from __future__ import annotations

import collections
import re
import sys

from benchmarks.machine import emit

_DIMS = re.compile(r"([a-z]+)(\d+)")


def conv_flops(problem: str) -> float:
    """2 x mb x oc x oh x ow x ic x kh x kw / g of a oneDNN convolution problem
    string (``mb1_g1ic64oc64_ih64oh64kh3sh1dh0ph1_iw64ow64kw3sw1dw0pw1``)."""
    d = {}
    for key, value in _DIMS.findall(problem):
        d.setdefault(key, int(value))
    g = d.get("g", 1)
    oh, ow = d.get("oh", 1), d.get("ow", d.get("oh", 1))
    kh, kw = d.get("kh", 1), d.get("kw", d.get("kh", 1))
    return 2.0 * d.get("mb", 1) * d["oc"] * oh * ow * d["ic"] * kh * kw / g


def parse(lines) -> tuple:
    """({(kind, impl, problem): [ms sum, calls]}, total ms) of the exec lines."""
    acc = collections.defaultdict(lambda: [0.0, 0])
    for line in lines:
        parts = line.strip().split(",")
        if len(parts) < 6 or parts[0] != "onednn_verbose" or "exec" not in parts[:4]:
            continue
        i = parts.index("exec")
        try:
            ms = float(parts[-1])
        except ValueError:
            continue
        kind, impl, problem = parts[i + 2], parts[i + 3], parts[-2]
        acc[(kind, impl, problem)][0] += ms
        acc[(kind, impl, problem)][1] += 1
    return acc, sum(v[0] for v in acc.values())


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    paths = [a for a in argv if a != "--json"]
    with (open(paths[0]) if paths else sys.stdin) as f:
        acc, total = parse(f)
    convs = {k: v for k, v in acc.items() if k[0] == "convolution"}
    rates = {k: conv_flops(k[2]) * n / (ms / 1e3) / 1e9 for k, (ms, n) in convs.items() if ms > 0}
    best = max(rates.values()) if rates else 0.0
    lines = [f"oneDNN time {total:.0f} ms over all calls; fastest convolution {best:.0f} GFLOP/s", "",
             "| impl | problem | calls | ms | GFLOP/s | ms lost vs fastest |", "|---|---|---|---|---|---|"]
    results = []
    for k, (ms, n) in sorted(convs.items(), key=lambda kv: -kv[1][0]):
        lost = ms - conv_flops(k[2]) * n / best / 1e6 if best else 0.0
        lines.append(f"| {k[1]} | {k[2]} | {n} | {ms:.1f} | {rates.get(k, 0):.0f} | {lost:.1f} |")
        results.append({"impl": k[1], "problem": k[2], "calls": n, "ms": round(ms, 3),
                        "gflop_per_s": round(rates.get(k, 0.0), 1), "ms_lost_vs_fastest": round(lost, 3)})
    kinds = collections.Counter()
    for (kind, impl, _), (ms, _) in acc.items():
        if kind != "convolution":
            kinds[f"{kind} ({impl})"] += ms
    lines += ["", "| other primitive | ms |", "|---|---|"]
    lines += [f"| {k} | {ms:.1f} |" for k, ms in kinds.most_common()]
    emit(results, "\n".join(lines), None, as_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
