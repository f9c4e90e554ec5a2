"""Cost of the loss terms and adv_augment on this machine (random VGG weights)."""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf

from faceres_tf import losses
from faceres_tf.augment import adv_augment
from faceres_tf.config import LossConfig


def bench(fn, *args, n=10):
    fn(*args)  # trace
    t = time.perf_counter()
    for _ in range(n):
        out = fn(*args)
    tf.nest.map_structure(lambda v: v.numpy(), out)
    return (time.perf_counter() - t) / n * 1000


def main():
    vgg = losses.build_vgg19_features(weights="random")
    aug = tf.function(lambda x: adv_augment(x, prob=0.5, seed=[1, 2]))
    rec = tf.function(lambda a, b: losses.reconstruction_loss(a, b, LossConfig(), vgg)["total"])

    @tf.function
    def fwd_bwd(a, b):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = tf.reduce_sum(losses.reconstruction_loss(a, b, LossConfig(), vgg)["total"])
        return tape.gradient(loss, a)

    res = {}
    for size in (64, 128):
        p = tf.random.uniform((4, size, size, 3), -1, 1)
        t = tf.random.uniform((4, size, size, 3), -1, 1)
        res[f"adv_augment B=4 {size}px ms"] = bench(aug, p)
        res[f"reconstruction_loss fwd B=4 {size}px ms"] = bench(rec, p, t, n=5)
        res[f"reconstruction_loss fwd+bwd B=4 {size}px ms"] = bench(fwd_bwd, p, t, n=5)
    for k, v in res.items():
        print(f"{k}: {v:.1f}")


if __name__ == "__main__":
    main()
