"""Choosing the tf.distribute strategy.

* ``TF_CONFIG`` describing several workers -> ``MultiWorkerMirroredStrategy``
  (one process per machine; every worker runs the same command);
* otherwise ``MirroredStrategy`` over all local GPUs, or over the CPU(s) when
  there is no GPU (the default, as the paper trained on 8 V100 in one machine);
* ``kind="one_device"`` -> ``OneDeviceStrategy`` on the first GPU or the CPU.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf


def tf_config_workers() -> int:
    """Number of workers (chief included) that TF_CONFIG describes; 0 without it."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from e
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """Builds the strategy; call once, at program start, before other TF ops.

    Args:
        kind: "auto" (multi-worker if TF_CONFIG says so, else mirrored),
            "mirrored", "multi_worker" or "one_device".
    """
    if kind not in ("auto", "mirrored", "multi_worker", "one_device"):
        raise ValueError(f"unknown strategy {kind!r}; use auto, mirrored, multi_worker or one_device")
    if kind == "multi_worker" or (kind == "auto" and tf_config_workers() > 1):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if kind == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if gpus:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(cpus)


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The public name of ``strategy`` (``MultiWorkerMirroredStrategy`` is a
    ``CollectiveAllReduceStrategy`` inside TensorFlow; logs and run records use
    the names of TensorFlow's documentation)."""
    for name in ("MultiWorkerMirroredStrategy", "MirroredStrategy", "OneDeviceStrategy"):
        if isinstance(strategy, getattr(tf.distribute, name)):  # the exported class keeps its inner name
            return name
    return type(strategy).__name__


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the process that writes checkpoints, logs and samples."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "worker" and task_id == 0 and not has_chief


def split_cpu(replicas: int) -> None:
    """Splits the CPU into ``replicas`` logical devices (``--cpu_replicas``:
    several MirroredStrategy replicas on a CPU-only machine; testing). Call
    before TensorFlow uses the CPU; 0 or 1 does nothing."""
    if replicas and replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
