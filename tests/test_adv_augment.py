"""Adversarial data augmentation (faceres_tf.augment.adv_augment)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import tensorflow as tf

from faceres_tf.augment import adjust_color, adv_augment, cutout, parse_policy, translate


def _images(batch=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)


def test_shapes_dtype_and_range():
    x = _images()
    for policy in ("color", "translation", "cutout", "color,translation,cutout"):
        y = adv_augment(x, policy, prob=1.0, seed=1).numpy()
        assert y.shape == x.shape and y.dtype == np.float32
        assert np.all(np.isfinite(y))
    # Geometric transforms only move pixels or write zeros: stay in [-1, 1].
    y = adv_augment(x, "translation,cutout", prob=1.0, seed=2).numpy()
    assert y.min() >= -1.0 and y.max() <= 1.0
    # Colour: brightness +-0.5, saturation x<=2, contrast x<=1.5 keep |y| bounded.
    y = adv_augment(x, "color", prob=1.0, seed=3).numpy()
    assert np.abs(y).max() < 10.0
    assert not np.allclose(y, x)


def test_prob_zero_is_exact_identity():
    x = _images()
    for policy in ("color", "translation", "cutout", "color,translation,cutout"):
        out = adv_augment(x, policy, prob=0.0)
        assert out.dtype == tf.float32 and tuple(out.shape) == x.shape, policy
        np.testing.assert_array_equal(out.numpy(), x, err_msg=policy)
    # Also through the sampled path (prob as a tensor, so no Python short cut).
    y = adv_augment(x, prob=tf.constant(0.0), seed=5).numpy()
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(adv_augment(x, policy="", prob=1.0).numpy(), x)


def test_seed_determinism():
    x = _images()
    a = adv_augment(x, prob=0.5, seed=7).numpy()
    b = adv_augment(x, prob=0.5, seed=7).numpy()
    c = adv_augment(x, prob=0.5, seed=8).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = adv_augment(x, prob=0.5, seed=tf.constant([7, 0], tf.int64)).numpy()
    np.testing.assert_array_equal(a, d)


def test_prob_selects_examples_independently():
    x = np.repeat(_images(batch=1), 64, axis=0)
    y = adv_augment(x, "color", prob=0.5, seed=11).numpy()
    changed = np.any(y != x, axis=(1, 2, 3))
    assert 10 < changed.sum() < 54  # about half of 64


def test_gradients_flow_finite_nonzero():
    x = tf.Variable(_images())
    with tf.GradientTape() as tape:
        y = adv_augment(x, prob=1.0, seed=3)
        loss = tf.reduce_sum(tf.square(y))
    g = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(g)) and np.abs(g).sum() > 0


def test_translation_shifts_content():
    x = _images(batch=2, size=16)
    shifts = tf.constant([[2, -3], [-1, 0]], tf.int32)
    y = translate(x, shifts).numpy()
    # Example 0: out[i, j] = in[i - 2, j + 3]; vacated rows 0-1 and cols 13-15 are zero.
    np.testing.assert_array_equal(y[0, 2:, :13], x[0, :14, 3:])
    assert not y[0, :2].any() and not y[0, :, 13:].any()
    np.testing.assert_array_equal(y[1, :15], x[1, 1:])
    assert not y[1, 15].any()
    r = translate(x, shifts, pad_mode="reflect").numpy()
    np.testing.assert_array_equal(r[0, 2:, :13], x[0, :14, 3:])
    np.testing.assert_array_equal(r[0, 0, :13], x[0, 2, 3:])  # row -2 mirrors row 2
    np.testing.assert_array_equal(r[0, 2:, 13], x[0, :14, 14])  # col 16 mirrors col 14
    np.testing.assert_array_equal(translate(x, tf.zeros((2, 2), tf.int32)).numpy(), x)


def test_sampled_translation_is_a_shift_of_at_most_one_eighth():
    x = _images(batch=8, size=32)
    y = adv_augment(x, "translation", prob=1.0, seed=4).numpy()
    for i in range(8):
        found = [
            (dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
            if np.array_equal(y[i], translate(x[i:i + 1], [[dy, dx]]).numpy()[0])
        ]
        assert found, f"example {i} is not an integer shift within 4 px"
    assert not np.array_equal(y, x)


def test_cutout_zeroes_a_square():
    x = np.ones((2, 16, 16, 3), np.float32)
    y = cutout(x, tf.constant([[8, 8], [0, 15]]), tf.constant([8, 8])).numpy()
    zero = y[..., 0] == 0
    assert zero[0, 4:12, 4:12].all() and zero[0].sum() == 64
    # Clipped at the corner: rows [-4, 4) x cols [11, 19) -> 4 x 5 visible.
    assert zero[1, 0:4, 11:16].all() and zero[1].sum() == 20
    assert np.all((y == 0) | (y == 1))


def test_sampled_cutout_box_is_at_most_half_side():
    x = np.ones((8, 32, 32, 3), np.float32)
    y = adv_augment(x, "cutout", prob=1.0, seed=9).numpy()
    for i in range(8):
        rows, cols = np.nonzero(y[i, :, :, 0] == 0)
        assert rows.size > 0
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert h <= 16 and w <= 16 and rows.size == h * w  # a solid (clipped) square


def test_adjust_color_identity_and_brightness():
    x = _images(batch=2)
    one = tf.ones((2, 1, 1, 1))
    np.testing.assert_allclose(adjust_color(x, 0 * one, one, one).numpy(), x, atol=1e-6)
    np.testing.assert_allclose(adjust_color(x, 0.25 * one, one, one).numpy(), x + 0.25, atol=1e-6)
    gray = adjust_color(x, 0 * one, 0 * one, one).numpy()  # saturation 0 -> grey
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)


def test_works_in_tf_function_and_mirrored_strategy():
    x = _images(batch=4, size=16)

    @tf.function
    def aug(v, seed):
        return adv_augment(v, prob=0.5, seed=seed)

    a = aug(x, tf.constant([1, 2], tf.int64))
    b = aug(x, tf.constant([1, 2], tf.int64))
    np.testing.assert_array_equal(a.numpy(), b.numpy())

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])

    @tf.function
    def replica_step(v):
        return strategy.run(lambda t: adv_augment(t, prob=0.5), args=(v,))

    out = strategy.experimental_local_results(replica_step(tf.constant(x)))[0]
    assert out.shape == x.shape and np.all(np.isfinite(out.numpy()))


def test_bad_policy_and_prob():
    with pytest.raises(ValueError, match="Unknown adv_augment transform"):
        parse_policy("color,rotate")
    assert parse_policy(" color , cutout ") == ("color", "cutout")
    with pytest.raises(ValueError, match="prob"):
        adv_augment(_images(), prob=1.5)


_TWO_REPLICA_SCRIPT = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from faceres_tf.augment import adv_augment
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x = np.full((4, 16, 16, 3), 0.5, np.float32)
ds = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x).unbatch().batch(4))

@tf.function
def step(v, seed):
    return strategy.run(lambda t: adv_augment(t, prob=1.0, seed=seed), args=(v,))

v = next(iter(ds))
seed = tf.constant([3, 4], tf.int64)
a = [t.numpy() for t in strategy.experimental_local_results(step(v, seed))]
b = [t.numpy() for t in strategy.experimental_local_results(step(v, seed))]
assert all(t.shape == (2, 16, 16, 3) for t in a), [t.shape for t in a]
assert not np.array_equal(a[0], a[1]), "replicas drew identical augmentations"
assert all(np.array_equal(p, q) for p, q in zip(a, b)), "seeded run not deterministic"
print("TWO_REPLICAS_OK")
"""


def test_seeded_replicas_draw_different_augmentations():
    """Two-replica MirroredStrategy (logical CPUs, fresh process): the replica id
    is folded into the seed, so replicas differ but runs are reproducible."""
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=path)
    proc = subprocess.run([sys.executable, "-c", _TWO_REPLICA_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=120)
    assert "TWO_REPLICAS_OK" in proc.stdout, proc.stderr[-3000:]
