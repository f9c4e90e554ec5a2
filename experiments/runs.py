"""Training runs of the experiment variants: naming, reuse, resume.

Every variant's training seed k lives in ``WORKDIR/<variant>/seed<k>/`` (a
run directory of :func:`faceres_tf.training.train`). Before anything is
written, each run is *planned* (:func:`plan_run`):

* a run directory whose saved ``config.json`` differs from the variant's
  config in its ``model``, ``data`` or ``loss`` section (data paths and the
  VGG weights path excepted: they may be spelled differently) is a
  :class:`~experiments.cli.UserError`: runs are never silently mixed;
* a run whose latest checkpoint step is >= ``train.steps`` is *finished* and
  reused without building a trainer ("reusing finished run ...");
* any other run is trained, or resumed from its latest checkpoint, up to
  ``train.steps``.

So a run trained by plain ``faceres-train --workdir=W/skips4/seed0
--set=model.num_skips=4 --seed=0 ...`` with the same preset and steps is
picked up by ``experiments.skip_ablation --workdir=W``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from experiments.cli import Interrupted, UserError
from experiments.options import ExpOptions, variant_config
from faceres_tf.config import Config
from faceres_tf.run_config import check_perceptual_weights


def run_dir_of(workdir, variant: str, seed: int) -> Path:
    """``WORKDIR/<variant>/seed<k>``: the naming every driver shares."""
    return Path(workdir) / variant / f"seed{seed}"


def skip_variant_name(n: int) -> str:
    """Variant name of ``model.num_skips = n`` (Table 6 and C.2 share the runs)."""
    return f"skips{n}"


def latest_step(run_dir) -> int:
    """Step of the newest usable checkpoint of ``run_dir`` (0 if none), found the
    way training finds it: from the checkpoint files, not the index file
    (:func:`faceres_tf.training.checkpoint.latest_checkpoint`)."""
    from faceres_tf.training import checkpoint as ckpt_lib  # loads TensorFlow: only once the flags are parsed

    return ckpt_lib.checkpoint_step(ckpt_lib.latest_checkpoint(Path(run_dir) / "checkpoints"))


def comparable(config: dict) -> dict:
    """The part of a config dict that decides whether two runs are the same model."""
    d = json.loads(json.dumps({k: v for k, v in config.items() if k in ("model", "data", "loss")}))
    d.get("loss", {}).pop("vgg_weights", None)
    for key in ("train_dir", "val_dir"):  # paths may be spelled differently
        d.get("data", {}).pop(key, None)
    return d


@dataclasses.dataclass
class Run:
    """One planned training run."""

    variant: str
    seed: int
    cfg: object  # faceres_tf.config.Config
    run_dir: Path
    done_step: int

    @property
    def steps(self) -> int:
        return int(self.cfg.train.steps)

    @property
    def finished(self) -> bool:
        return self.done_step >= self.steps


def plan_run(variant: str, seed: int, cfg, workdir) -> Run:
    """Checks ``WORKDIR/<variant>/seed<seed>`` against ``cfg``; writes nothing."""
    run_dir = run_dir_of(workdir, variant, seed)
    saved_path = run_dir / "config.json"
    if saved_path.is_file():
        saved = Config.from_json(saved_path.read_text()).to_dict()
        if comparable(saved) != comparable(cfg.to_dict()):
            raise UserError(
                f"{run_dir} holds a run with a different configuration than variant {variant} "
                f"(model/data/loss differ); use another --workdir or delete {run_dir}.")
    return Run(variant, seed, cfg, run_dir, latest_step(run_dir) if run_dir.is_dir() else 0)


def plan_variants(variants, cfg0, workdir, seeds) -> dict:
    """{variant name: [Run of each training seed]} for the variants that can
    run (``variant.skipped`` is None); checks them all before anything is written."""
    plans = {v.name: [plan_run(v.name, s, variant_config(cfg0, v.updates, s), workdir)
                      for s in seeds] for v in variants if v.skipped is None}
    check_trainable(run for runs in plans.values() for run in runs)
    return plans


def check_trainable(runs) -> None:
    """Training data and weights exist for every run that still needs training."""
    for run in runs:
        if run.finished:
            continue
        train_dir = Path(run.cfg.data.train_dir)
        if not train_dir.exists():
            raise UserError(f"{run.run_dir} needs training but the training data "
                            f"{train_dir} does not exist; pass --data_dir.")
        check_perceptual_weights(run.cfg)


class RunKeeper:
    """Trains or reuses planned runs; builds the tf.distribute strategy once,
    the first time something has to be trained."""

    def __init__(self, opts: ExpOptions):
        self.opts = opts
        self._strategy = None

    @property
    def strategy(self):
        if self._strategy is None:
            from faceres_tf.training import make_strategy
            from faceres_tf.training.strategy import split_cpu

            split_cpu(self.opts.cpu_replicas)
            self._strategy = make_strategy(self.opts.strategy)
        return self._strategy

    def ensure_trained(self, run: Run) -> dict:
        """Trains ``run`` up to its steps unless finished.

        Returns ``{"run_dir", "step", "reused"}`` (plus timings when trained).
        Raises :class:`~experiments.cli.Interrupted` when training was stopped.
        """
        if run.finished:
            print(f"reusing finished run {run.run_dir} (step {run.done_step} >= {run.steps})",
                  flush=True)
            return {"run_dir": str(run.run_dir), "step": run.done_step, "reused": True}
        from faceres_tf.training import train  # loads TensorFlow: only once the flags are parsed

        print(f"training {run.run_dir}: step {run.done_step} -> {run.steps}", flush=True)
        t0 = time.time()
        result = train(run.cfg, run.run_dir, self.strategy, steps=run.steps,
                       progress=self.opts.progress)
        if result.interrupted:
            raise Interrupted(f"training of {run.run_dir} stopped at step {result.step}; rerun "
                              "the same command to resume.")
        info = {"run_dir": str(run.run_dir), "step": result.step, "reused": False,
                "train_seconds": time.time() - t0, "trained_steps": result.step - run.done_step}
        (run.run_dir / "experiment_train_time.json").write_text(json.dumps(info))
        run.done_step = result.step
        return info
