"""Derived seeds (faceres_tf.seeds): the values every run's reproducibility rests on."""

import numpy as np
import tensorflow as tf

from faceres_tf.seeds import REPLICA_STRIDE, STEP_STRIDE, derive_seed


def test_strides_are_the_documented_primes():
    assert (REPLICA_STRIDE, STEP_STRIDE) == (7919, 1_000_003)
    for p in (REPLICA_STRIDE, STEP_STRIDE):
        assert all(p % d for d in range(2, int(p ** 0.5) + 1))


def test_derived_values_are_pinned():
    assert derive_seed(0) == 0
    assert derive_seed(5, replica=2) == 5 + 2 * 7919
    assert derive_seed(5, step=3) == 5 + 3 * 1_000_003
    assert derive_seed(2**31 - 1, step=400_000) == 2**31 - 1 + 400_000 * 1_000_003  # exact, no wrap


def test_tensor_seeds_equal_python_seeds():
    """The trainer derives replica seeds from int64 tensors inside tf.function."""
    base = tf.Variable(11, dtype=tf.int64)
    replicas = tf.constant([0, 1, 3], tf.int64)
    got = tf.function(lambda r: derive_seed(base, replica=r))(replicas)
    assert got.dtype == tf.int64
    np.testing.assert_array_equal(got.numpy(), [derive_seed(11, replica=r) for r in (0, 1, 3)])
