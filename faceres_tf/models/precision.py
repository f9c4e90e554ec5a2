"""Compute precision of the networks: "fp32", "bf16", or "auto" [ours].

bf16 is Keras' ``mixed_bfloat16`` policy: weights (and optimiser state, EMA)
stay float32, layers compute in bfloat16. The parts where bfloat16's 8-bit
mantissa would hurt stay float32, each documented in its layer: the
demodulation factors (``ModulatedConv2D``), AttentionPooling, MinibatchStd,
the seeded noise (drawn in float32), the generator's output, and (in the
trainer) every loss and the EMA of the weights.

"auto" (:func:`resolve_precision`) picks bf16 only where it pays: the CPU has
native bfloat16 arithmetic (AMX or AVX-512 BF16, read from /proc/cpuinfo's
flags) *and* a one-off micro-benchmark (a 3x3 conv, both precisions
interleaved, a few hundred ms) finds bfloat16 at least
:data:`BF16_MIN_SPEEDUP` times faster; fp32 otherwise (no native unit: bf16
would be emulated and slower; a bf16 conv that fails, e.g. with oneDNN capped
by ``ONEDNN_MAX_CPU_ISA``, also gives fp32). It is decided once per process;
the choice and the reason are logged once.

A precision reaches the models as a Keras dtype policy
(:func:`dtype_policy`), passed as the ``dtype`` argument of every model and
layer (Keras' own convention); nothing here touches Keras' global policy.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import keras

from faceres_tf.config_ranges import PRECISION_CHOICES, PRECISIONS, check_choice

logger = logging.getLogger("faceres_tf.precision")

_POLICIES = dict(zip(PRECISIONS, ("float32", "mixed_bfloat16")))  # precision -> Keras policy
# bf16 is chosen when the micro-benchmark's conv runs at least this much faster
# than fp32: below it, bf16's rounding is not worth a gain within timing noise.
BF16_MIN_SPEEDUP = 1.1
# cpuinfo flag -> the unit's name, strongest first.
NATIVE_BF16_FLAGS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX-512 BF16"))


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset:
    """The ISA flags of the first CPU in ``cpuinfo`` (empty where it cannot be read,
    e.g. on macOS or Windows)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16_unit(flags) -> str | None:
    """"AMX" or "AVX-512 BF16" when ``flags`` name a unit with native bfloat16
    arithmetic, else None."""
    for flag, unit in NATIVE_BF16_FLAGS:
        if flag in flags:
            return unit
    return None


@functools.lru_cache(maxsize=1)
def bf16_conv_speedup(rounds: int = 7) -> float:
    """fp32 time / bf16 time of one 3x3 'same' conv (8 x 32 x 32 x 128 -> 128,
    2.4 GFLOP), the best of ``rounds`` interleaved calls each after a warm-up;
    measured once per process (a few hundred ms)."""
    import tensorflow as tf

    x = tf.random.stateless_normal([8, 32, 32, 128], seed=[1, 2])
    k = tf.random.stateless_normal([3, 3, 128, 128], seed=[3, 4]) * 0.05
    # The operands are arguments, not captured constants, which Grappler would
    # fold into the graph's result (the conv then never runs when timed).
    conv = tf.function(lambda a, b: tf.nn.conv2d(a, b, 1, "SAME"))
    best = {}
    fns = {}
    for dtype in (tf.float32, tf.bfloat16):
        xd, kd = tf.cast(x, dtype), tf.cast(k, dtype)
        fns[dtype] = functools.partial(conv, xd, kd)
        fns[dtype]().numpy()  # trace and warm up
        best[dtype] = float("inf")
    for _ in range(rounds):
        for dtype, fn in fns.items():
            t = time.perf_counter()
            fn().numpy()
            best[dtype] = min(best[dtype], time.perf_counter() - t)
    return best[tf.float32] / best[tf.bfloat16]


def resolve_precision(precision: str = "auto") -> tuple:
    """The compute precision to use: ``(precision, reason)``.

    "fp32" and "bf16" are returned as asked. "auto" gives "bf16" only where the
    CPU has native bfloat16 arithmetic (:func:`native_bf16_unit`) and
    :func:`bf16_conv_speedup` confirms it is at least :data:`BF16_MIN_SPEEDUP`
    times faster; "fp32" otherwise. "auto" is decided once per process and
    logged (INFO) with its reason the first time.
    Raises ValueError for anything else.
    """
    check_choice("precision", precision, PRECISION_CHOICES)
    if precision != "auto":
        return precision, "asked for"
    return _resolve_auto()


@functools.lru_cache(maxsize=1)
def _resolve_auto() -> tuple:
    """"auto" decided on this machine (once per process, logged once)."""
    unit = native_bf16_unit(cpu_flags())
    if unit is None:
        chosen, reason = "fp32", "the CPU has no native bfloat16 arithmetic (no AMX, no AVX-512 BF16)"
    else:
        try:
            speedup = bf16_conv_speedup()
        except Exception as e:  # noqa: BLE001 - a probe: e.g. oneDNN capped below bf16 (ONEDNN_MAX_CPU_ISA)
            speedup, failure = None, f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
        if speedup is None:
            chosen, reason = "fp32", f"{unit} present, but a bf16 conv failed in the micro-benchmark ({failure})"
        else:
            chosen = "bf16" if speedup >= BF16_MIN_SPEEDUP else "fp32"
            reason = (f"{unit} present; a bf16 conv ran {speedup:.2f}x as fast as fp32 in a micro-benchmark "
                      f"({'>=' if chosen == 'bf16' else '<'} {BF16_MIN_SPEEDUP}x)")
    logger.info("Precision auto -> %s: %s.", chosen, reason)
    return chosen, reason


def dtype_policy(precision: str) -> keras.DTypePolicy:
    """The Keras dtype policy of ``precision`` ("fp32" -> ``float32``, "bf16"
    -> ``mixed_bfloat16``: bfloat16 compute, float32 weights; "auto" as
    :func:`resolve_precision` decides), to pass as a model's ``dtype``."""
    return keras.DTypePolicy(_POLICIES[resolve_precision(precision)[0]])
