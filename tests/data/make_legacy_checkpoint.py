"""Writes tests/data/legacy_test_ckpt/: a checkpoint and reference outputs made
by an earlier version of the models, which the current code must load and
reproduce (tests/test_models.py::test_legacy_checkpoint_loads_and_reproduces).

It was run once with the code of commit 8677239 (before the backend-neutral
NoiseInjection / MinibatchStd and the explicit noise inputs):

    git archive 8677239 faceres_tf | tar -x -C /tmp/old
    cd /tmp/old && PYTHONPATH=. python /path/to/tests/data/make_legacy_checkpoint.py OUT_DIR

Do not regenerate it with newer code: its point is to be old.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

import faceres_tf


def main(out_dir):
    tf.keras.utils.set_random_seed(2024)
    cfg = faceres_tf.presets.get("test")
    G = faceres_tf.build_generator(cfg)
    D = faceres_tf.build_discriminator(cfg)
    rng = np.random.default_rng(7)
    for v in G.weights:  # non-trivial values for every variable (biases, strengths)
        if "bias" in v.path or "strength" in v.path:
            v.assign(rng.normal(0.0, 0.3, v.shape).astype("float32"))
    os.makedirs(out_dir, exist_ok=True)
    ckpt = tf.train.Checkpoint(step=tf.Variable(7, dtype=tf.int64), generator_ema=G, discriminator=D)
    ckpt.write(os.path.join(out_dir, "ckpt"))
    x = rng.uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    seeds = np.array([3, -1, 123456], np.int32)
    np.savez_compressed(
        os.path.join(out_dir, "reference.npz"),
        image=x, seeds=seeds,
        g_out=G({"image": x, "noise_seed": seeds}).numpy(),
        d_out=D(np.concatenate([x, x[:1]])).numpy(),
        noise_1=faceres_tf.layers.per_sample_noise(seeds, 16, 16, 1).numpy(),
        g_params=G.count_params(), d_params=D.count_params(),
    )


if __name__ == "__main__":
    main(sys.argv[1])
