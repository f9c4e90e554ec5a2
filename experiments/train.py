r"""Train RDFR: ``python -m experiments.train --preset=NAME --workdir=DIR``.

Examples::

    # the CPU demo that `make train` runs
    python -m experiments.train --preset=tiny --workdir=runs/tiny
    # the paper's setting on all local GPUs (VGG19 weights in ~/.keras/models)
    python -m experiments.train --preset=paper_512 --workdir=runs/paper \
        --data_dir=/data/ffhq512 --val_dir=/data/ffhq512_val
    # any single config field
    python -m experiments.train --preset=tiny --workdir=runs/x --set=model.num_skips=2 \
        --set=loss.alpha=0.3

``--steps`` is the run's total: restarting the same command resumes from the
newest usable checkpoint and trains up to it. Ctrl-C / SIGTERM write a
checkpoint. One training per --workdir at a time (a lock file); a resumed run
refuses a changed config unless --allow_config_change (see the README section
"What happens when things go wrong"). Several machines: set TF_CONFIG on each
worker and run the same command.

Errors in the command or its inputs print one line (``error: ...``) on stderr
and exit with status 2, before anything is created.
"""

from __future__ import annotations

import json
import logging
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "tiny", "Named preset (faceres_tf.presets.names()).")
flags.DEFINE_string("workdir", None, "Run directory (created; an existing run is resumed).")
flags.DEFINE_string("data_dir", None, "Training faces: a folder of images or TFRecord shards.")
flags.DEFINE_string("val_dir", None, "Validation faces for periodic PSNR/SSIM.")
flags.DEFINE_integer("steps", None, "Total training steps of the run (default: the preset's).")
flags.DEFINE_integer("batch_size", None, "Global batch size (default: the preset's).")
flags.DEFINE_integer("seed", None, "Global seed.")
flags.DEFINE_multi_string("set", [], "Config override section.field=value (repeatable).")
flags.DEFINE_enum("strategy", "auto", ["auto", "mirrored", "multi_worker", "one_device"],
                  "tf.distribute strategy; auto = multi-worker if TF_CONFIG lists several "
                  "workers, else MirroredStrategy over local GPUs (or the CPU).")
flags.DEFINE_integer("cpu_replicas", 0, "Split the CPU into N logical devices (N replicas "
                     "of MirroredStrategy on a CPU-only machine; testing).")
flags.DEFINE_enum("perceptual", None, ["vgg19", "hed_vgg16", "off"], "Shortcut for --set=loss.perceptual=...")
flags.DEFINE_string("vgg_weights", None, "Path of the VGG19 notop .h5 (default: Keras cache).")
flags.DEFINE_bool("jit_compile", None, "XLA-compile the per-replica step (GPU).")
flags.DEFINE_bool("mixed_precision", None, "mixed_float16 (GPU).")
flags.DEFINE_enum("precision", None, ["fp32", "bf16"], "Compute precision (default: the preset's).")
flags.DEFINE_bool("progress", True, "Show a progress bar.")
flags.DEFINE_bool("allow_config_change", False,
                  "Resume a run with changed training settings (data, loss, optimiser, batch, "
                  "precision, seed); each change is recorded with its step in run_info.json. "
                  "Model changes are never allowed; steps and the log/ckpt/eval/sample "
                  "intervals may always change.")


def resolve_config(preset, overrides, data_dir=None, val_dir=None, steps=None, batch_size=None,
                   seed=None, perceptual=None, vgg_weights=None, jit_compile=None,
                   mixed_precision=None, precision=None):
    """Preset + shortcut flags + ``section.field=value`` overrides -> Config."""
    from faceres_tf import presets
    from faceres_tf.config import override
    from faceres_tf.errors import ConfigError

    cfg = presets.get(preset)
    updates = {}
    for name, key, value in [
        ("data_dir", "data.train_dir", data_dir), ("val_dir", "data.val_dir", val_dir),
        ("steps", "train.steps", steps), ("batch_size", "train.batch_size", batch_size),
        ("seed", "train.seed", seed), ("perceptual", "loss.perceptual", perceptual),
        ("vgg_weights", "loss.vgg_weights", vgg_weights),
        ("jit_compile", "train.jit_compile", jit_compile),
        ("mixed_precision", "train.mixed_precision", mixed_precision),
        ("precision", "train.precision", precision),
    ]:
        if value is not None:
            updates[key] = value
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects section.field=value, got {item!r}")
        key, value = item.split("=", 1)
        updates[key.strip()] = value.strip()
    return override(cfg, updates)


def setup_devices(cpu_replicas: int) -> None:
    if cpu_replicas and cpu_replicas > 1:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)


def main(argv):
    del argv
    from faceres_tf.errors import UserError, report_user_error

    try:
        return _main()
    except UserError as e:  # the user's mistake: one line, exit 2 (bugs keep their traceback)
        return report_user_error(e)


def _main():
    if not FLAGS.workdir:
        from faceres_tf.errors import ConfigError

        raise ConfigError("--workdir is required (the run directory).")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    setup_devices(FLAGS.cpu_replicas)
    from faceres_tf.training import make_strategy, train
    from faceres_tf.weights import MissingWeightsError

    cfg = resolve_config(FLAGS.preset, FLAGS.set, FLAGS.data_dir, FLAGS.val_dir, FLAGS.steps,
                         FLAGS.batch_size, FLAGS.seed, FLAGS.perceptual, FLAGS.vgg_weights,
                         FLAGS.jit_compile, FLAGS.mixed_precision, FLAGS.precision)
    strategy = make_strategy(FLAGS.strategy)
    print(f"preset={cfg.name} resolution={cfg.model.resolution} num_skips={cfg.model.num_skips} "
          f"batch={cfg.train.batch_size} steps={cfg.train.steps} perceptual={cfg.loss.perceptual} "
          f"strategy={type(strategy).__name__} replicas={strategy.num_replicas_in_sync}")
    if cfg.loss.perceptual == "off":
        print("Note: the perceptual (VGG19 feature + style) loss is OFF for this run "
              "(recorded in config.json).")
    try:
        result = train(cfg, FLAGS.workdir, strategy, progress=FLAGS.progress,
                       allow_config_change=FLAGS.allow_config_change)
    except MissingWeightsError as e:
        print(f"\nERROR: {e}\nOr turn the perceptual loss off explicitly with --perceptual=off.",
              file=sys.stderr)
        return 2
    ev = result.last_eval
    if ev:
        print(f"\nValidation ({ev['num_faces']} faces, EMA generator, zero noise): "
              f"PSNR restored {ev['psnr_restored']:.2f} dB vs degraded input "
              f"{ev['psnr_degraded']:.2f} dB; SSIM {ev['ssim_restored']:.4f} vs "
              f"{ev['ssim_degraded']:.4f}")
    print(f"Run directory: {FLAGS.workdir} (step {result.step}; checkpoints/, samples/latest.png, "
          "metrics.jsonl, tensorboard/)")
    if result.interrupted:
        print("Interrupted: rerun the same command to resume.")
        return 130
    return 0


if __name__ == "__main__":
    app.run(main)
