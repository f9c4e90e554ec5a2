r"""``faceres-train``: train (or fine-tune) an RDFR generator.

Examples::

    # the CPU demo that `make train` runs
    faceres-train --preset tiny --workdir runs/tiny
    # fine-tune the bundled model on your own aligned faces (its preset, cpu_128)
    faceres-train --init rdfr_cpu128 --data_dir my_faces --workdir runs/my_faces --steps 2000
    # the paper's setting on all local GPUs (VGG19 weights in ~/.keras/models)
    faceres-train --preset paper_512 --workdir runs/paper \
        --data_dir /data/ffhq512 --val_dir /data/ffhq512_val
    # any single config field
    faceres-train --preset tiny --workdir runs/x --set model.num_skips=2 --set loss.alpha=0.3

``--steps`` is the run's total: restarting the same command resumes from the
newest usable checkpoint and trains up to it. Ctrl-C / SIGTERM write a
checkpoint (exit 130). One training per --workdir at a time (a lock file); a
resumed run refuses a changed config unless --allow_config_change (see
docs/training.md). Several machines: set TF_CONFIG on each worker and run the
same command. Errors in the command or its inputs print one line
(``error: ...``) on stderr and exit with status 2, before anything is created.
"""

from __future__ import annotations

import sys
from pathlib import Path

from faceres_tf import cli, presets
from faceres_tf.config_ranges import PERCEPTUAL_NETWORKS, PRECISION_CHOICES
from faceres_tf.errors import UserError
from faceres_tf.run_config import (
    STRATEGIES,
    check_batch_divides,
    check_perceptual_weights,
    check_replicas,
    resolve_config,
)

DEFAULT_PRESET = "tiny"


def build_parser() -> cli.Parser:
    p = cli.make_parser("faceres-train", __doc__, quiet=True)
    p.add_argument("--workdir", required=True, help="the run directory (created; rerun to resume)")
    p.add_argument("--preset", default=None,
                   help=f"named preset ({', '.join(presets.names())}); default: {DEFAULT_PRESET}, or with "
                        "--init of a bundled model the preset it was trained with")
    p.add_argument("--init", default=None,
                   help="fine-tune: a new run's generator starts from this bundled model (e.g. rdfr_cpu128) "
                        "or run directory instead of random weights (train.init_from; a smaller model is grown)")
    p.add_argument("--data_dir", default=None, help="training faces: a folder of aligned face images or "
                   "TFRecord shards (faceres-prepare); default: the preset's data.train_dir")
    p.add_argument("--val_dir", default=None, help="validation faces for periodic PSNR/SSIM")
    p.add_argument("--steps", type=int, default=None, help="total training steps of the run (default: the preset's)")
    p.add_argument("--batch_size", type=int, default=None, help="global batch size (default: the preset's)")
    p.add_argument("--seed", type=int, default=None, help="global seed: data order, degradations, noise "
                   "(default: the preset's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="config override (repeatable), e.g. --set loss.alpha=0.3")
    p.add_argument("--perceptual", choices=PERCEPTUAL_NETWORKS, default=None,
                   help="shortcut for --set loss.perceptual=... (default: the preset's)")
    p.add_argument("--vgg_weights", default=None, help="path of the VGG19 notop .h5 (default: the Keras cache)")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default=None,
                   help="compute precision: bf16, fp32 or auto (bf16 only where the CPU has native bf16 "
                        "arithmetic and it measures faster; the choice is logged and recorded); "
                        "default: the preset's (auto in every preset but test)")
    cli.add_switch(p, "jit_compile", "XLA-compile the per-replica step (GPU)", default=None)
    p.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="tf.distribute strategy; auto = multi-worker if TF_CONFIG lists several workers, "
                        "else MirroredStrategy over local GPUs (or the CPU)")
    p.add_argument("--cpu_replicas", type=int, default=0,
                   help="split the CPU into N logical devices (N replicas on a CPU-only machine; testing)")
    p.add_argument("--allow_config_change", action="store_true",
                   help="resume a run with changed training settings (data, loss, optimiser, batch, precision, "
                        "seed); each change is recorded with its step in run_info.json. Model changes are never "
                        "allowed; steps and the log/ckpt/eval/sample intervals may always change")
    return p


def preset_of(args) -> str:
    """``--preset``, else the preset a bundled ``--init`` model was trained with, else the default."""
    if args.preset:
        return args.preset
    from faceres_tf import pretrained

    if args.init and args.init in pretrained.available():
        name = pretrained.model_info(args.init)["config"].get("name")
        if name in presets.names():
            return name
    return DEFAULT_PRESET


def config_from_args(args):
    """The run's Config from the parsed command line; checks the inputs (:class:`UserError`)."""
    cfg = resolve_config(
        preset_of(args), args.set, data_dir=args.data_dir, val_dir=args.val_dir, steps=args.steps,
        batch_size=args.batch_size, seed=args.seed, perceptual=args.perceptual,
        vgg_weights=args.vgg_weights, jit_compile=args.jit_compile,
        precision=args.precision, init=args.init)
    if not Path(cfg.data.train_dir).exists():
        raise UserError(f"training data {cfg.data.train_dir} does not exist; pass --data_dir.")
    if args.val_dir and not Path(args.val_dir).exists():  # without it: no periodic evaluation
        raise UserError(f"--val_dir {args.val_dir} does not exist.")
    if args.init and not Path(args.init).is_dir():
        from faceres_tf import pretrained

        if args.init not in pretrained.available():
            raise UserError(f"--init {args.init} is neither a bundled model ({', '.join(pretrained.available())}) "
                            "nor a run directory")
    check_perceptual_weights(cfg)
    check_replicas(args.cpu_replicas, cfg.train.batch_size)
    return cfg


def train_command(args) -> int:
    """The command: checks everything, then trains (or resumes) the run."""
    cfg = config_from_args(args)
    from faceres_tf.training import make_strategy, strategy_name, train
    from faceres_tf.training.strategy import split_cpu

    split_cpu(args.cpu_replicas)
    strategy = make_strategy(args.strategy)
    check_batch_divides(cfg.train.batch_size, strategy.num_replicas_in_sync, strategy_name(strategy))
    print(f"preset={cfg.name} resolution={cfg.model.resolution} num_skips={cfg.model.num_skips} "
          f"batch={cfg.train.batch_size} steps={cfg.train.steps} perceptual={cfg.loss.perceptual} "
          f"strategy={strategy_name(strategy)} replicas={strategy.num_replicas_in_sync}"
          + (f" init={cfg.train.init_from}" if cfg.train.init_from else ""))
    if cfg.loss.perceptual == "off":
        print("Note: the perceptual (VGG19 feature + style) loss is OFF for this run "
              "(recorded in config.json).")
    result = train(cfg, args.workdir, strategy, progress=not args.quiet,
                   allow_config_change=args.allow_config_change)
    report(result, args.workdir)
    if result.interrupted:
        print("Interrupted: rerun the same command to resume.", file=sys.stderr, flush=True)
        return cli.EXIT_INTERRUPTED
    return 0


def report(result, workdir) -> None:
    """The last validation and where the run's files are (stdout)."""
    ev = result.last_eval
    if ev:
        print(f"\nValidation ({ev['num_faces']} faces, EMA generator, zero noise): "
              f"PSNR restored {ev['psnr_restored']:.2f} dB vs degraded input "
              f"{ev['psnr_degraded']:.2f} dB; SSIM {ev['ssim_restored']:.4f} vs "
              f"{ev['ssim_degraded']:.4f}")
    print(f"Run directory: {workdir} (step {result.step}; checkpoints/, samples/latest.png, "
          "metrics.jsonl, tensorboard/)")


def main(argv=None) -> int:
    """``faceres-train`` / ``python -m faceres_tf.train``; returns the exit status."""
    return cli.run(train_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
