"""Flags, options and configs shared by the ``experiments/`` drivers.

Each flag is defined once, here, in a group; a driver calls the groups it
needs at import time and adopts this module's flags so that its ``--help``
lists them (``flags.adopt_module_key_flags(options)``):

* :func:`define_training_flags`: what every driver that trains needs
  (``--preset``, ``--workdir``, ``--data_dir``, ``--steps``, ...).
* :func:`define_eval_flags`: the evaluation protocol of the table drivers.
* :func:`define_skips_flag`: ``--skips`` (Table 6 and C.2 share it).
* :func:`define_common_flags`: ``--verbose``, defined for every driver when
  this module is imported. The names follow the convention of
  :mod:`faceres_tf.cli` (``--output/-o``, ``--overwrite``, ``--quiet``,
  ``--verbose``), shared with the installed argparse commands.

Library code reads no flags: :func:`options_from_flags` turns them into an
:class:`ExpOptions`, which tests build directly; :func:`base_config` turns them into the
:class:`faceres_tf.config.Config` every variant starts from, through
:func:`faceres_tf.run_config.resolve_config` (shared with ``faceres-train``).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Sequence

from absl import flags

from experiments.cli import UserError
from faceres_tf.config import override
from faceres_tf.config_ranges import PERCEPTUAL_NETWORKS
from faceres_tf.metrics.scorer import ALL_METRICS
from faceres_tf.run_config import STRATEGIES, resolve_config

ID_NETS = ("dlib", "facenet", "inception_v3", "none")


# ----------------------------------------------------------------------------- flag groups
_DEFINED: set = set()


def _once(group):
    """Makes a flag group idempotent: one process may import several drivers
    (the tests do), and every driver defines the groups it uses."""
    def define() -> None:
        if group.__name__ not in _DEFINED:
            group()
            _DEFINED.add(group.__name__)

    define.__name__, define.__doc__ = group.__name__, group.__doc__
    return define


@_once
def define_common_flags() -> None:
    """Flags every driver has (see :mod:`faceres_tf.cli`)."""
    flags.DEFINE_bool("verbose", False, "Show TensorFlow's own log (hidden by default).")


define_common_flags()


@_once
def define_workdir_flag() -> None:
    flags.DEFINE_string("workdir", None, "Required. Where the runs and results go.")


@_once
def define_quiet_flag() -> None:
    flags.DEFINE_bool("quiet", False, "No progress bar or progress lines on stderr.")


@_once
def define_overwrite_flag() -> None:
    flags.DEFINE_bool("overwrite", False, "Replace this command's earlier outputs (never other "
                      "files); without it, existing outputs are an error.")


@_once
def define_training_flags() -> None:
    define_workdir_flag()
    flags.DEFINE_string("preset", "tiny", "Named preset (faceres_tf.presets.names()).")
    flags.DEFINE_string("data_dir", None, "Training faces: a folder of images or TFRecord shards "
                        "(default: the preset's data.train_dir).")
    flags.DEFINE_integer("steps", None, "Total training steps per run (default: the preset's).")
    flags.DEFINE_integer("batch_size", None, "Global batch size (default: the preset's).")
    flags.DEFINE_multi_string("set", [], "Config override section.field=value (repeatable).")
    flags.DEFINE_enum("strategy", "auto", list(STRATEGIES),
                      "tf.distribute strategy; auto = multi-worker if TF_CONFIG lists several "
                      "workers, else MirroredStrategy over local GPUs (or the CPU).")
    flags.DEFINE_integer("cpu_replicas", 0, "Split the CPU into N logical devices (N replicas "
                         "of MirroredStrategy on a CPU-only machine; testing).")
    flags.DEFINE_enum("perceptual", None, list(PERCEPTUAL_NETWORKS),
                      "Shortcut for --set=loss.perceptual=...")
    flags.DEFINE_string("vgg_weights", None, "Path of the VGG19 notop .h5 (default: Keras cache).")
    define_quiet_flag()


@_once
def define_ema_flag() -> None:
    flags.DEFINE_bool("ema", True, "Use the EMA generator (default); --noema uses the raw one "
                      "(e.g. short runs whose EMA still averages in the random initialisation: "
                      "after t images its weight is 0.5^(t / half-life)).")


@_once
def define_run_dir_flag() -> None:
    flags.DEFINE_string("run_dir", None, "A trained run (directory of faceres-train) to "
                        "evaluate.")


@_once
def define_eval_flags() -> None:
    """The evaluation protocol of the table drivers (docs/method.md §7)."""
    flags.DEFINE_string("eval_dir", "data/val", "Ground-truth faces the variants are evaluated on.")
    flags.DEFINE_integer("num_eval_faces", None, "Use only the first N faces of --eval_dir "
                         "(sorted by name); default: all. Evaluation cost grows with N.")
    flags.DEFINE_integer("num_eval_degradations", 3, "D: each evaluation face is degraded with "
                         "D fixed seeds; identity metrics score each of the D sets separately.")
    flags.DEFINE_integer("num_seeds", 1, "Training seeds per variant.")
    flags.DEFINE_integer("num_noise_seeds", 5, "S: noise draws per evaluation (tables give the "
                         "std of the set mean over them as ±); 0 = zero noise only.")
    flags.DEFINE_list("metrics", list(ALL_METRICS), "Metrics to compute (psnr,ssim,lpips,fid,ipr).")
    flags.DEFINE_enum("id_net", "dlib", list(ID_NETS), "Identity net for iPrecision; none skips "
                      "iPrecision and identity distances.")
    flags.DEFINE_string("id_weights", None, "Weights for --id_net=facenet / inception_v3.")
    flags.DEFINE_integer("k", 3, "Neighbourhood size k of iPrecision / iRecall.")
    define_ema_flag()
    flags.DEFINE_string("lpips_weights", None, "LPIPS .npz (faceres_tf.metrics."
                        "convert_lpips_weights); without it LPIPS is n/a.")
    flags.DEFINE_string("inception_weights", None, "Keras InceptionV3 notop .h5 for FID (default: "
                        "the Keras cache); without it FID is n/a.")


@_once
def define_skips_flag() -> None:
    flags.DEFINE_list("skips", ["0", "1", "2", "4", "6"],
                      "Values of model.num_skips to compare (Table 6).")


def int_list(values, name: str) -> list:
    """A comma-list flag as ints; a bad entry is a :class:`UserError`."""
    try:
        return [int(v) for v in values]
    except ValueError:
        raise UserError(f"--{name} expects integers, got {','.join(map(str, values))}") from None


def float_list(values, name: str) -> list:
    try:
        return [float(v) for v in values]
    except ValueError:
        raise UserError(f"--{name} expects numbers, got {','.join(map(str, values))}") from None


# ----------------------------------------------------------------------------- options
@dataclasses.dataclass
class ExpOptions:
    """Everything an experiment needs; built from flags or directly (tests)."""

    workdir: str
    preset: str = "tiny"
    data_dir: str | None = None
    eval_dir: str = "data/val"
    steps: int | None = None
    batch_size: int | None = None
    num_seeds: int = 1
    strategy: str = "auto"
    cpu_replicas: int = 0
    overrides: Sequence[str] = ()
    perceptual: str | None = None
    vgg_weights: str | None = None
    num_eval_faces: int | None = None
    num_eval_degradations: int = 3
    num_noise_seeds: int = 5
    metrics: Sequence[str] = ALL_METRICS
    id_net: str = "dlib"
    id_weights: str | None = None
    k: int = 3
    ema: bool = True
    lpips_weights: str | None = None
    inception_weights: str | None = None
    progress: bool = True
    command: str | None = None  # the command line, recorded in results.md


def options_from_flags() -> ExpOptions:
    """The parsed flags of a table driver as :class:`ExpOptions` (checked)."""
    f = flags.FLAGS
    opts = ExpOptions(
        workdir=f.workdir, preset=f.preset, data_dir=f.data_dir, eval_dir=f.eval_dir,
        steps=f.steps, batch_size=f.batch_size, num_seeds=f.num_seeds, strategy=f.strategy,
        cpu_replicas=f.cpu_replicas, overrides=list(f.set), perceptual=f.perceptual,
        vgg_weights=f.vgg_weights, num_eval_faces=f.num_eval_faces,
        num_eval_degradations=f.num_eval_degradations, num_noise_seeds=f.num_noise_seeds,
        metrics=list(f.metrics), id_net=f.id_net, id_weights=f.id_weights, k=f.k, ema=f.ema,
        lpips_weights=f.lpips_weights, inception_weights=f.inception_weights,
        progress=not f.quiet, command=command_line())
    check_options(opts)
    return opts


def command_line() -> str:
    """This process's command line as ``python -m experiments.<driver> ...``."""
    p = Path(sys.argv[0])
    prog = f"experiments.{p.stem}" if p.parent.name == "experiments" else sys.argv[0]
    return " ".join(["python -m", prog] + sys.argv[1:])


def check_options(opts: ExpOptions) -> None:
    """Raises :class:`UserError` for option values no experiment can use."""
    if not opts.workdir:
        raise UserError("--workdir is required (where the runs and results go).")
    unknown = sorted(set(opts.metrics) - set(ALL_METRICS))
    if unknown:
        raise UserError(f"--metrics: unknown {unknown}; choose from {','.join(ALL_METRICS)}")
    for name, low in (("num_seeds", 1), ("num_eval_degradations", 1), ("num_noise_seeds", 0),
                      ("k", 1)):
        if getattr(opts, name) < low:
            raise UserError(f"--{name} must be >= {low}, got {getattr(opts, name)}")
    if opts.num_eval_faces is not None and opts.num_eval_faces < 1:
        raise UserError(f"--num_eval_faces must be >= 1, got {opts.num_eval_faces}")
    if opts.id_net not in ID_NETS:
        raise UserError(f"--id_net must be one of {', '.join(ID_NETS)}, got {opts.id_net!r}")
    if opts.cpu_replicas < 0:
        raise UserError(f"--cpu_replicas must be >= 0 (0 or 1 = no split), got {opts.cpu_replicas}")


def base_config(opts: ExpOptions):
    """Preset + flags + ``--set`` overrides: the config every variant starts from."""
    return resolve_config(opts.preset, list(opts.overrides), data_dir=opts.data_dir,
                          val_dir=opts.eval_dir, steps=opts.steps, batch_size=opts.batch_size,
                          perceptual=opts.perceptual, vgg_weights=opts.vgg_weights)


def variant_config(cfg, updates: dict, seed: int):
    """``cfg`` with a variant's updates and training seed ``seed``."""
    try:
        return override(cfg, dict(updates, **{"train.seed": seed}))
    except ValueError as e:
        raise UserError(e) from None
