"""Keras Adam against FusedAdam (one ResourceApplyAdam kernel per variable), A/B in one run.

    python -m benchmarks.bench_optimizer --preset cpu_256 --steps 6 --json

Builds two trainers of the preset that differ only in the optimizer class
(keras.optimizers.Adam, the trainer's FusedAdam), and times, interleaved
round by round so a varying background load hits both alike:

* ``step``: the full compiled train step of each (random in-memory batch);
* ``apply``: G's optimizer applying fixed random gradients to all of G's
  variables (the optimizer alone).

Prints one JSON line (``--json``) or a markdown summary, written to
benchmarks/results/optimizer_<preset>.md. Medians; wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.machine import cpu_info, emit, interleaved_times, load_average  # noqa: E402
from benchmarks.train_cost import resolve_config  # noqa: E402
from faceres_tf.config_ranges import PRECISIONS  # noqa: E402
from faceres_tf.training import Trainer, make_strategy, optimizers  # noqa: E402


def _cases(cfg, strategy, tmp) -> dict:
    r, b = cfg.model.resolution, cfg.train.batch_size
    batch = (tf.random.uniform([b, r, r, 3], -1, 1, seed=1), tf.random.uniform([b, r, r, 3], -1, 1, seed=2))
    dist = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch))))
    cases = {}
    for name, cls in (("keras_adam", keras.optimizers.Adam), ("fused_adam", optimizers.FusedAdam)):
        with mock.patch.object(optimizers, "FusedAdam", cls):
            trainer = Trainer(cfg, os.path.join(tmp, name), strategy)
        assert type(trainer.g_opt) is cls
        cases[(name, "step")] = lambda t=trainer: t.train_step(dist)["g_loss"].numpy()
        cases[(name, "apply")] = _apply_fn(trainer, strategy)
    return cases


def _apply_fn(trainer, strategy):
    """G's optimizer applying fixed random gradients to G's variables, compiled."""
    g_vars = trainer.G.trainable_variables
    grads = [tf.random.normal(v.shape, stddev=1e-3, seed=i) for i, v in enumerate(g_vars)]

    @tf.function
    def apply():
        strategy.run(lambda: trainer.g_opt.apply_gradients(zip(grads, g_vars)))
        return trainer.g_opt.iterations

    return lambda: apply().numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu_128", help="model preset")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32", help="train.precision")
    ap.add_argument("--steps", type=int, default=6, help="timed rounds")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()
    cfg = resolve_config(args.preset, (), {"train.precision": args.precision})
    strategy = make_strategy("auto")
    before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        times = interleaved_times(_cases(cfg, strategy, tmp), args.steps, warmup=2)
    med = {f"{name}_{kind}_seconds{sfx}": round(statistics.median(v[clock]), 4)
           for (name, kind), v in times.items() for clock, sfx in (("wall", ""), ("cpu", "_cpu"))}
    res = {"benchmark": "optimizer_ab", "preset": args.preset, "precision": args.precision,
           "batch": cfg.train.batch_size, "steps": args.steps, **med}
    for kind in ("step", "apply"):
        for sfx in ("", "_cpu"):
            res[f"{kind}_speedup{sfx}"] = round(
                med[f"keras_adam_{kind}_seconds{sfx}"] / med[f"fused_adam_{kind}_seconds{sfx}"], 3)
    res.update({**cpu_info(), "tensorflow": tf.__version__, "load_before": before,
                "load_after": load_average(), "date": time.strftime("%Y-%m-%d %H:%M")})
    emit([res], "" if args.json else _markdown(res, args),
         Path(__file__).parent / "results" / f"optimizer_{args.preset}.md", args.json)


def _markdown(r, args) -> str:
    lines = [f"# Keras Adam vs FusedAdam: {args.preset} ({args.precision}, batch {r['batch']})", "",
             f"- machine: {r['cpu']}, {r['cores']} cores; TF {r['tensorflow']}; load average "
             f"{r['load_before']} before, {r['load_after']} after; {r['date']}", "",
             "| case | Keras Adam (wall / cpu s) | FusedAdam (wall / cpu s) | speed-up (wall / cpu) |",
             "|---|---|---|---|"]
    for kind, label in (("step", "train step"), ("apply", "G's optimizer alone")):
        lines.append(f"| {label} | {r[f'keras_adam_{kind}_seconds']:.4f} / {r[f'keras_adam_{kind}_seconds_cpu']:.4f}"
                     f" | {r[f'fused_adam_{kind}_seconds']:.4f} / {r[f'fused_adam_{kind}_seconds_cpu']:.4f} | "
                     f"{r[f'{kind}_speedup']:.2f}x / {r[f'{kind}_speedup_cpu']:.2f}x |")
    lines += ["", f"Medians of {args.steps} interleaved rounds. Command: `python -m benchmarks.bench_optimizer "
                  f"--preset {args.preset} --precision {args.precision} --steps {args.steps}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
