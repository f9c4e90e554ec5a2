"""FusedAdam (one ResourceApplyAdam kernel per variable) against keras.optimizers.Adam."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from faceres_tf import presets
from faceres_tf.config import override
from faceres_tf.training.optimizers import FusedAdam, build_optimizers


def _train(cls, strategy, steps=6, **kwargs):
    """``steps`` updates of two variables with step-dependent gradients."""
    with strategy.scope():
        w = keras.Variable(np.linspace(-1, 1, 24).reshape(2, 3, 4).astype("float32"), name="w")
        b = keras.Variable(np.full(5, 0.5, "float32"), name="b")
        opt = cls(2.5e-3, beta_1=kwargs.get("beta_1", 0.0), beta_2=0.99, epsilon=1e-8)
        opt.build([w, b])

    @tf.function
    def step(i):
        def replica():
            t = tf.cast(i, tf.float32) + 1.0
            opt.apply_gradients([(tf.sin(w * t) * 0.1, w), (tf.cos(b * 3.0) * t, b)])
        strategy.run(replica)

    for i in range(steps):
        step(tf.constant(i))
    return w.numpy(), b.numpy(), opt


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
@pytest.mark.parametrize("beta_1", [0.0, 0.9])
def test_fused_adam_matches_keras_adam(strategy, beta_1):
    make = (tf.distribute.get_strategy if strategy == "default"
            else lambda: tf.distribute.MirroredStrategy(["/cpu:0"]))
    w_ref, b_ref, ref = _train(keras.optimizers.Adam, make(), beta_1=beta_1)
    w, b, opt = _train(FusedAdam, make(), beta_1=beta_1)
    w0 = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    assert np.abs(w_ref - w0).max() > 1e-3  # the variables did move
    # Same formula, one kernel: equal up to float32 rounding of the update.
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-6)
    np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-6)
    assert int(opt.iterations.numpy()) == int(ref.iterations.numpy()) == 6
    for mine, theirs in zip(opt.variables, ref.variables):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-5, atol=1e-7)


def test_checkpoints_of_keras_adam_restore_into_fused_adam(tmp_path):
    _, _, ref = _train(keras.optimizers.Adam, tf.distribute.get_strategy())
    path = tf.train.Checkpoint(opt=ref).save(str(tmp_path / "ckpt"))
    w = keras.Variable(np.zeros((2, 3, 4), "float32"))
    b = keras.Variable(np.zeros(5, "float32"))
    fused = FusedAdam(1e-3)
    fused.build([w, b])
    tf.train.Checkpoint(opt=fused).restore(path).assert_existing_objects_matched()
    assert int(fused.iterations.numpy()) == 6
    for mine, theirs in zip(fused.variables, ref.variables):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trainer_optimizers_are_fused(precision):
    cfg = override(presets.get("test"), {"train.precision": precision})
    g_opt, d_opt = build_optimizers(cfg, [keras.Variable(np.ones(3, "float32"))],
                                    [keras.Variable(np.ones(2, "float32"))])
    for opt in (g_opt, d_opt):
        assert isinstance(opt, FusedAdam)  # no loss-scale wrapper: bfloat16 needs none
