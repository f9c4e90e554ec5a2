"""Derived random seeds [ours]: the one place that turns the run's seed into
the seed of a replica's stream or of a training session's data pipeline.

Two streams are derived from ``train.seed`` (the checkpointed ``data_seed``):

* each replica's per-step randomness (G's noise seeds, D's input
  augmentation): ``stateless seed = (step, derive_seed(base, replica=r))``,
  so replicas draw different noise and augmentations at the same step;
* the data pipeline (order, degradations) of a session that starts at
  ``step``: ``derive_seed(base, step=step)``, so a resumed session does not
  replay the data order the run began with.

The strides are two primes, far apart (7919 is the 1000th prime, 1_000_003 the
first prime above a million), so neighbouring replicas and steps get distinct
seeds. Their values carry no other meaning, but they are part of every run's
reproducibility: the same (seed, replica, step) always gives the same derived
seed, in every run and every version. Do not change them.
"""

from __future__ import annotations

REPLICA_STRIDE = 7919
STEP_STRIDE = 1_000_003


def derive_seed(base_seed, *, replica=0, step=0):
    """``base_seed + 7919 * replica + 1_000_003 * step``.

    Works on Python ints and on integer tensors alike (the trainer's int64
    ``data_seed`` variable and replica id); the value is exact integer
    arithmetic, stable across runs and platforms.
    """
    return base_seed + REPLICA_STRIDE * replica + STEP_STRIDE * step
