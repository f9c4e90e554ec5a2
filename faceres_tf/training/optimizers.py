"""The optimizers of G and D [paper, appendix A; lazy-R1 correction ours].

Adam with lr 2.5e-3, beta1 0.0, beta2 0.99 for both networks [paper]. With
lazy R1 every N steps, D takes N + 1 optimiser steps per N training steps;
StyleGAN2 compensates with lr * c and beta ** c, c = N / (N + 1)
(``loss.r1_lazy_correction``; docs/method.md §4).

Both are :class:`FusedAdam`: Keras' Adam whose per-variable update runs as
one TensorFlow kernel (``ResourceApplyAdam``) instead of about a dozen
element-wise ops, the same formula [ours, speed only].
"""

from __future__ import annotations

import logging
import math

import keras
import tensorflow as tf

from faceres_tf.config import Config

logger = logging.getLogger("faceres_tf.train")


def _tf_variable(variable):
    """The tf.Variable behind a Keras variable (under a strategy's ``update``,
    its ``handle`` is the current device's copy)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with each variable's update fused into one
    ``tf.raw_ops.ResourceApplyAdam`` kernel.

    The kernel computes Keras' update exactly: alpha = lr * sqrt(1 - beta2^t) /
    (1 - beta1^t); m += (g - m)(1 - beta1); v += (g^2 - v)(1 - beta2);
    var -= alpha m / (sqrt(v) + epsilon) (t = iterations + 1), reading and
    writing each tensor once instead of once per element-wise op. Its slots
    (``momentums``, ``velocities``, ``iterations``) are Adam's, so checkpoints
    of either class restore into the other. ``amsgrad`` falls back to Keras'
    update.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        var = _tf_variable(variable)
        dtype = var.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle, m=_tf_variable(self._momentums[index]).handle,
            v=_tf_variable(self._velocities[index]).handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)


def d_optimizer_settings(cfg: Config) -> tuple:
    """D's Adam (lr, beta1, beta2) with StyleGAN2's lazy-regularisation correction.

    [ours: from StyleGAN2] (``loss.r1_lazy_correction``).
    """
    t, loss = cfg.train, cfg.loss
    lazy = loss.r1_gamma > 0 and loss.r1_interval > 1 and loss.r1_lazy_correction
    if not lazy:
        return t.lr, t.beta1, t.beta2
    c = loss.r1_interval / (loss.r1_interval + 1.0)
    return t.lr * c, t.beta1 ** c, t.beta2 ** c


def learning_rates(cfg: Config) -> tuple:
    """(G's, D's) Adam learning rate for ``cfg``; D's with the lazy-R1 correction."""
    return float(cfg.train.lr), float(d_optimizer_settings(cfg)[0])


def build_optimizers(cfg: Config, g_variables, d_variables) -> tuple:
    """(G's Adam, D's Adam), built for ``g_variables`` / ``d_variables`` (float32
    in every precision: bfloat16 needs no loss scaling). Call it inside
    ``strategy.scope()``: with several replicas, Keras 3 needs the optimizers
    built there."""
    t = cfg.train
    g_opt = FusedAdam(t.lr, beta_1=t.beta1, beta_2=t.beta2, epsilon=1e-8)
    d_lr, d_b1, d_b2 = d_optimizer_settings(cfg)
    d_opt = FusedAdam(d_lr, beta_1=d_b1, beta_2=d_b2, epsilon=1e-8)
    g_opt.build(g_variables)
    d_opt.build(d_variables)
    return g_opt, d_opt


def apply_config_learning_rates(g_opt, d_opt, cfg: Config) -> None:
    """Writes ``cfg``'s learning rates (D's with the lazy-R1 correction) over
    the optimizers' current ones, logging any difference.

    Keras 3 optimizers keep ``learning_rate`` as a tracked variable, so a
    checkpoint restores the value of the session that wrote it; the config of
    the resuming session must win, or an accepted ``train.lr`` change would
    silently never take effect (docs/method.md §4).
    """
    for opt, lr in zip((g_opt, d_opt), learning_rates(cfg)):
        inner = getattr(opt, "inner_optimizer", opt)  # LossScaleOptimizer
        old = float(inner.learning_rate.numpy())
        inner.learning_rate.assign(lr)
        if not math.isclose(old, lr, rel_tol=1e-6, abs_tol=0.0):
            logger.info("Learning rate of %s: %.6g restored, %.6g from the config applied",
                        inner.name, old, lr)
