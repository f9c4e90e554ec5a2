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

from pathlib import Path

from absl import flags

from experiments import cli, options

options.define_training_flags()
options.define_run_flags()
flags.DEFINE_bool("allow_config_change", False,
                  "Resume a run with changed training settings (data, loss, optimiser, batch, "
                  "precision, seed); each change is recorded with its step in run_info.json. "
                  "Model changes are never allowed; steps and the log/ckpt/eval/sample "
                  "intervals may always change.")
flags.adopt_module_key_flags(options)
FLAGS = flags.FLAGS


def config_from_flags():
    """The run's Config from the flags; checks the inputs (:class:`~experiments.cli.UserError`)."""
    if not FLAGS.workdir:
        raise cli.UserError("--workdir is required (the run directory).")
    cfg = options.resolve_config(
        FLAGS.preset, FLAGS.set, FLAGS.data_dir, FLAGS.val_dir, FLAGS.steps, FLAGS.batch_size,
        FLAGS.seed, FLAGS.perceptual, FLAGS.vgg_weights, FLAGS.jit_compile,
        FLAGS.mixed_precision, FLAGS.precision)
    if not Path(cfg.data.train_dir).exists():
        raise cli.UserError(f"training data {cfg.data.train_dir} does not exist; pass --data_dir.")
    if FLAGS.val_dir and not Path(FLAGS.val_dir).exists():  # without it: no periodic evaluation
        raise cli.UserError(f"--val_dir {FLAGS.val_dir} does not exist.")
    options.check_perceptual_weights(cfg)
    options.check_replicas(FLAGS.cpu_replicas, cfg.train.batch_size)
    return cfg


def train_from_flags() -> int:
    cfg = config_from_flags()
    options.setup_devices(FLAGS.cpu_replicas)
    from faceres_tf.training import make_strategy, strategy_name, train

    strategy = make_strategy(FLAGS.strategy)
    options.check_batch_divides(cfg.train.batch_size, strategy.num_replicas_in_sync,
                                f"{strategy_name(strategy)}")
    print(f"preset={cfg.name} resolution={cfg.model.resolution} num_skips={cfg.model.num_skips} "
          f"batch={cfg.train.batch_size} steps={cfg.train.steps} perceptual={cfg.loss.perceptual} "
          f"strategy={strategy_name(strategy)} replicas={strategy.num_replicas_in_sync}")
    if cfg.loss.perceptual == "off":
        print("Note: the perceptual (VGG19 feature + style) loss is OFF for this run "
              "(recorded in config.json).")
    result = train(cfg, FLAGS.workdir, strategy, progress=not FLAGS.quiet,
                   allow_config_change=FLAGS.allow_config_change)
    ev = result.last_eval
    if ev:
        print(f"\nValidation ({ev['num_faces']} faces, EMA generator, zero noise): "
              f"PSNR restored {ev['psnr_restored']:.2f} dB vs degraded input "
              f"{ev['psnr_degraded']:.2f} dB; SSIM {ev['ssim_restored']:.4f} vs "
              f"{ev['ssim_degraded']:.4f}")
    print(f"Run directory: {FLAGS.workdir} (step {result.step}; checkpoints/, samples/latest.png, "
          "metrics.jsonl, tensorboard/)")
    if result.interrupted:
        raise cli.Interrupted("Interrupted: rerun the same command to resume.")
    return 0


def main(argv):
    del argv
    return cli.run_experiment(train_from_flags)


if __name__ == "__main__":
    cli.run_driver(main)
