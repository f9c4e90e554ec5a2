"""Training throughput (images/s) of one RDFR training step.

    python benchmarks/bench_train.py --preset tiny --batch 8 --steps 30
    python benchmarks/bench_train.py --preset paper_512 --batch 2 --steps 3 --perceptual random

Times the compiled distributed train step (G forward/backward, D on real and
restored, EMA update) on in-memory random batches after warm-up, so the number
is the model's cost, not the input pipeline's (see bench_data.py for that). The
R1 step, run every r1_interval steps, is timed separately and amortised.
``--perceptual random`` adds the VGG19 perceptual loss with random weights
(same cost as ImageNet weights, which are not on this machine). Also prints how
long the paper's schedule (400 epochs of FFHQ's 70k images = 28M images) would
take at the measured speed. Writes benchmarks/results/train_<preset>.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from faceres_tf import presets
from faceres_tf.config import override
from faceres_tf.training import Trainer, make_strategy

PAPER_IMAGES = 400 * 70_000


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--perceptual", choices=["off", "random"], default="off")
    ap.add_argument("--jit_compile", action="store_true")
    ap.add_argument("--mixed_precision", action="store_true")
    args = ap.parse_args()

    cfg = presets.get(args.preset)
    updates = {"loss.perceptual": "off", "train.jit_compile": args.jit_compile,
               "train.mixed_precision": args.mixed_precision}
    if args.batch:
        updates["train.batch_size"] = args.batch
    cfg = override(cfg, updates)
    extractor = None
    if args.perceptual == "random":
        from faceres_tf.losses.perceptual import build_vgg19_features

        extractor = build_vgg19_features(cfg.loss.vgg_layers, weights="random")
        cfg = override(cfg, {"loss.perceptual": "vgg19"})
    strategy = make_strategy("auto")
    r, b = cfg.model.resolution, cfg.train.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, strategy, perceptual_extractor=extractor)
        batch = (tf.random.uniform([b, r, r, 3], -1, 1), tf.random.uniform([b, r, r, 3], -1, 1))
        dist = next(iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensors(batch))))
        for _ in range(2):
            trainer.train_step(dist)["g_loss"].numpy()
            trainer.r1_step(dist)["r1"].numpy()
        times, r1_times = [], []
        for i in range(args.steps):
            t = time.perf_counter()
            trainer.train_step(dist)["g_loss"].numpy()
            times.append(time.perf_counter() - t)
        for i in range(max(2, args.steps // 8)):
            t = time.perf_counter()
            trainer.r1_step(dist)["r1"].numpy()
            r1_times.append(time.perf_counter() - t)
    step = statistics.median(times)
    r1 = statistics.median(r1_times)
    per_step = step + r1 / cfg.loss.r1_interval
    ips = b / per_step
    days = PAPER_IMAGES / ips / 86400
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    lines = [
        f"# Training throughput: {args.preset} ({r}x{r}), global batch {b}",
        "",
        f"- devices: {', '.join(d.name for d in devices)} ({os.cpu_count()} CPU cores); "
        f"TF {tf.__version__}; strategy {type(strategy).__name__}",
        f"- perceptual loss: {args.perceptual}; XLA: {args.jit_compile}; "
        f"mixed precision: {args.mixed_precision}",
        f"- train step: median {step:.3f} s over {args.steps} steps; R1 step {r1:.3f} s "
        f"every {cfg.loss.r1_interval} steps",
        f"- throughput: **{ips:.3g} images/s**",
        f"- paper schedule (400 epochs x 70k FFHQ images = 28M images) at this speed: "
        f"{days:,.0f} days",
        "",
        f"Command: `python benchmarks/bench_train.py --preset {args.preset} --batch {b} "
        f"--steps {args.steps} --perceptual {args.perceptual}"
        f"{' --jit_compile' if args.jit_compile else ''}"
        f"{' --mixed_precision' if args.mixed_precision else ''}`",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / f"train_{args.preset}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
