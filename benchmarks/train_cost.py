"""What a training step costs: FLOPs and op time, attributed to its parts.

Shared by ``bench_train.py`` (FLOPs per image, share of the conv peak) and
``profile_train.py`` (where the time goes).

FLOPs: TensorFlow's profiler (``tf.compat.v1.profiler``'s ``float_operation``
statistics, multiply-add = 2, the method bench_generator.py uses) applied to
the traced graphs of the trainer's own ``train_step`` and ``r1_step``, whose
static shapes are fully known. It counts convolutions forward *and* backward
(``Conv2D``, ``Conv2DBackpropInput``, ``Conv2DBackpropFilter``), matmuls and
the common element-wise ops; ops it has no statistic for (e.g. LeakyReLU,
casts, random numbers) count 0, so element-wise FLOPs are a lower bound and
the conv FLOPs, which dominate, are exact.

Each op is attributed to a part of the step by its name scope: G forward /
backward, D forward (real and restored) / backward, losses, Adam, EMA; the R1
step's ops all go to "R1", amortised over ``loss.r1_interval`` steps.

Op time: a TensorFlow profiler trace (``tf.profiler.experimental``) of a few
steps, its XPlane read back with the protobuf TensorFlow ships, op events
summed by kind (conv forward, conv backward-input, conv backward-filter,
element-wise, ...) and by part. Ops of one step run on two inter-op threads
at once, so summed op time can exceed the step's wall time; shares are of the
summed op time.
"""

from __future__ import annotations

import collections
import glob
import os
import tempfile
import time

import tensorflow as tf

from faceres_tf import run_config

PARTS = ("G forward", "G backward", "D forward", "D backward", "losses", "Adam", "EMA", "R1")


def resolve_config(preset: str, overrides=(), updates=None):
    """The preset with ``updates`` (a dict) and then ``section.field=value``
    strings applied (the training command's resolver, faceres_tf.run_config)."""
    sets = [f"{key}={value}" for key, value in (updates or {}).items()] + list(overrides)
    return run_config.resolve_config(preset, sets)


def part_of(op_name: str, in_r1: bool = False) -> str:
    """The part of the training step an op named ``op_name`` belongs to."""
    if in_r1:
        return "R1"
    name = op_name.lower()
    if name.startswith("gradient_tape/generator"):
        return "G backward"
    if name.startswith("generator"):
        return "G forward"
    if name.startswith("gradient_tape/discriminator"):
        return "D backward"
    if name.startswith("discriminator"):
        return "D forward"
    if name.split("/")[0].rstrip("_0123456789") in ("adam", "fused_adam"):
        return "Adam"
    if name.startswith("ema"):
        return "EMA"
    return "losses"


def kind_of(op_type: str) -> str:
    """Coarse kind of an op type (oneDNN's _Mkl* / _MklNative* names folded)."""
    t = op_type.replace("_MklNative", "").replace("_Mkl", "")
    if t in ("Conv2D", "FusedConv2D", "DepthwiseConv2dNative"):
        return "conv forward"
    if t.startswith("Conv2DBackpropInput"):
        return "conv backward (input)"
    if t.startswith("Conv2DBackpropFilter"):
        return "conv backward (filter)"
    if "MatMul" in t:
        return "matmul"
    if t in ("ReadVariableOp", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
             "Identity", "Const", "NoOp", "Reshape", "Shape", "Pack", "StridedSlice"):
        return "bookkeeping"
    if t in ("Sum", "Mean", "Max", "Min", "Prod"):
        return "reduction"
    if "Pool" in t or "Resize" in t:
        return "resampling"
    if "Random" in t:
        return "random"
    return "element-wise / other"


def live_ops(graph) -> list:
    """The ops of a function graph that run: those its outputs or its side
    effects (variable updates, control outputs) depend on.

    A tape records every op that involves a watched variable, so the graph of a
    step with two tapes also holds gradient ops nobody uses (D's tape builds
    G's gradients too); TensorFlow prunes them before running, and so must a
    FLOP count.
    """
    roots = [t.op for t in graph.outputs] + list(graph.control_outputs)
    roots += [op for op in graph.get_operations()
              if "Assign" in op.type or op.type.startswith("ResourceApply")]
    seen, stack = set(), list(roots)
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in seen]


def graph_flops(graph) -> collections.Counter:
    """{(op name, op type): FLOPs} of every live op of ``graph`` (:func:`live_ops`)
    that has a TF float statistic, including the ops of the functions it calls
    (e.g. the XLA-compiled replica step under ``train.jit_compile``)."""
    from tensorflow.python.framework import ops as tf_ops

    flops = collections.Counter()
    for op in live_ops(graph):
        if op.type in ("PartitionedCall", "StatefulPartitionedCall"):
            flops.update(graph_flops(graph._get_function(op.get_attr("f").name).graph))
            continue
        try:
            value = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
        except (ValueError, TypeError):  # a shape the statistic cannot resolve
            value = None
        if value:
            flops[(op.name, op.type)] += float(value)
    return flops


def step_flops(trainer, dist_batch) -> dict:
    """FLOPs of one train step and one R1 step, per part and per kind.

    Returns {"step": total, "r1": total, "parts": {part: FLOPs of one train
    step, R1 not amortised}, "kinds": {kind: FLOPs}}.
    """
    parts, kinds, totals = collections.Counter(), collections.Counter(), {}
    for label, fn in (("step", trainer.train_step), ("r1", trainer.r1_step)):
        flops = graph_flops(fn.get_concrete_function(dist_batch).graph)
        totals[label] = sum(flops.values())
        for (name, typ), value in flops.items():
            parts[part_of(name, in_r1=label == "r1")] += value
            kinds[(label, kind_of(typ))] += value
    return {**totals, "parts": dict(parts), "kinds": dict(kinds)}


def per_image_gflop(flops: dict, cfg) -> float:
    """GFLOP per training image: (train step + R1 step / r1_interval) / batch."""
    r1_every = cfg.loss.r1_interval if cfg.loss.r1_gamma > 0 else 0
    total = flops["step"] + (flops["r1"] / r1_every if r1_every else 0.0)
    return total / cfg.train.batch_size / 1e9


def trace_op_times(fn, steps: int) -> tuple:
    """Runs ``fn`` ``steps`` times under the TF profiler.

    Returns ``({(op name, op type): ms per call}, busy ms per call, wall ms per
    call)``: op time summed over the op events of the inter-op threads, the
    time at least one op was running (the union of the events' intervals),
    and the traced calls' wall time (wall - busy is host work: Python,
    dispatch, waiting).
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    logdir = tempfile.mkdtemp(prefix="faceres_trace_")
    tf.profiler.experimental.start(logdir)
    try:
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        wall_ms = (time.perf_counter() - start) * 1000 / steps
    finally:
        tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    times, intervals = collections.Counter(), []
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or name.startswith("ExecutorState"):
                    continue  # executor bookkeeping events enclose the op events
                op_name, op_type = name.rsplit(":", 1)
                times[(op_name, op_type)] += event.duration_ps / 1e9 / steps
                begin = line.timestamp_ns * 1000 + event.offset_ps
                intervals.append((begin, begin + event.duration_ps))
    return times, _union_ps(intervals) / 1e9 / steps, wall_ms


def _union_ps(intervals) -> int:
    """Total length of the union of (begin, end) intervals."""
    total, end = 0, None
    for b, e in sorted(intervals):
        if end is None or b > end:
            total += e - b
            end = e
        elif e > end:
            total += e - end
            end = e
    return total
