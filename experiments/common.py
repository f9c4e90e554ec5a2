"""Shared machinery of the paper-table experiments (Tables 6-8, appendix C.2 / C.4).

Every experiment script (``skip_ablation``, ``adv_augmentation``,
``noise_diversity``, ``alpha_sweep``, ``bfr_comparison``) follows one recipe:

1. **Train** each variant with the library (:func:`faceres_tf.training.train`)
   in ``WORKDIR/<variant>/seed<k>/``. A finished run (latest checkpoint step
   >= the requested steps) is reused without building a trainer; an
   unfinished one resumes; a run directory whose saved config differs from
   the variant's is an error (never silently mixed).
2. **Evaluate** on one deterministic evaluation set, identical for every
   variant: each face of ``--eval_dir`` degraded with ``--num_eval_degradations``
   fixed seeds (:data:`EVAL_SEED` + d), named ``<stem>__d<d>``; an
   ``ids.csv`` ties every copy to its person for iPrecision. Restoration
   uses the EMA generator with zero noise (noise seed -1) unless an
   experiment is about noise. ``restored/``, ``gt/`` and ``degraded/`` PNGs
   are written in ``<run>/eval/`` and scored with
   :func:`faceres_tf.evaluate.evaluate_folders`.
3. **Report**: ``WORKDIR/results.md`` (our table beside the paper's numbers,
   labelled "paper (quoted)"), ``WORKDIR/results.csv`` (one row per variant)
   and PNG figures.

Conventions [ours]:

* Metrics the machine cannot compute (LPIPS / FID without pretrained
  weights, iPrecision with ``--id_net=none``) are reported as ``n/a`` with
  the reason; numbers are never invented.
* iPrecision neighbourhood: the ground-truth set holds each face D =
  ``num_eval_degradations`` times; exact duplicates are neighbours at
  distance 0, so the evaluator is called with ``k + D - 1``, which makes the
  radius the distance to the k-th nearest *other* face (the same radius as
  an evaluation with one copy per face).
* Library code reads no flags: the absl flags are turned into an
  :class:`ExpOptions` by :func:`options_from_flags`; tests build
  :class:`ExpOptions` directly and call each script's ``run_experiment``.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from faceres_tf.training.evaluation import restore_batches, to_uint8  # noqa: F401 (re-used by scripts)

logger = logging.getLogger("faceres_tf.experiments")

EVAL_SEED = 20220601  # base seed of the evaluation degradations [ours]
PAPER_NOTE = ("paper (quoted): numbers copied from the paper's appendix (RDFR, CVPR 2022), "
              "measured by the authors with their 512 px models on their test set; not "
              "produced by this code and not directly comparable to a small-scale run.")
ALL_METRICS = ("psnr", "ssim", "lpips", "fid", "ipr")


# ----------------------------------------------------------------------------- flags
def define_flags() -> None:
    """Defines the flags shared by all experiment scripts (idempotent).

    Reuses ``experiments.train``'s flags (--preset, --workdir, --data_dir,
    --steps, --batch_size, --set, --strategy, --cpu_replicas, --perceptual,
    --vgg_weights, --progress) and adds the evaluation ones.
    """
    from absl import flags

    import experiments.train  # noqa: F401 - defines the training flags

    def once(kind, name, default, help_, **kw):
        if name not in flags.FLAGS:
            getattr(flags, f"DEFINE_{kind}")(name, default, help_, **kw)

    once("string", "eval_dir", "data/val", "Ground-truth faces the variants are evaluated on.")
    once("integer", "num_eval_faces", None, "Use only the first N faces of --eval_dir.")
    once("integer", "num_eval_degradations", 3,
         "Each evaluation face is degraded with this many fixed seeds.")
    once("integer", "num_seeds", 1, "Training seeds per variant (mean +- std over seeds).")
    once("list", "metrics", list(ALL_METRICS), "Metrics to compute (psnr,ssim,lpips,fid,ipr).")
    once("string", "id_net", "dlib", "Identity net for iPrecision: dlib, facenet, inception_v3 "
         "or none (skip iPrecision / identity distances).")
    once("string", "id_weights", None, "Weights for --id_net=facenet / inception_v3.")
    once("integer", "k", 3, "Neighbourhood size k of iPrecision / iRecall.")
    once("string", "lpips_weights", None, "LPIPS .npz (faceres_tf.metrics.convert_lpips_weights); "
         "without it LPIPS is n/a.")
    once("string", "inception_weights", None, "Keras InceptionV3 notop .h5 for FID (default: the "
         "Keras cache); without it FID is n/a.")


def list_flag(name: str, default: Sequence, help_: str) -> None:
    """Defines a comma-list flag once (several scripts share --skips)."""
    from absl import flags

    if name not in flags.FLAGS:
        flags.DEFINE_list(name, [str(v) for v in default], help_)


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
    metrics: Sequence[str] = ALL_METRICS
    id_net: str = "dlib"
    id_weights: str | None = None
    k: int = 3
    lpips_weights: str | None = None
    inception_weights: str | None = None
    progress: bool = True
    command: str | None = None  # the command line, recorded in results.md


def options_from_flags() -> ExpOptions:
    from absl import flags

    f = flags.FLAGS
    if not f.workdir:
        from faceres_tf.errors import ConfigError

        raise ConfigError("--workdir is required (where the runs and results go).")
    return ExpOptions(
        workdir=f.workdir, preset=f.preset, data_dir=f.data_dir, eval_dir=f.eval_dir,
        steps=f.steps, batch_size=f.batch_size, num_seeds=f.num_seeds, strategy=f.strategy,
        cpu_replicas=f.cpu_replicas, overrides=list(f.set), perceptual=f.perceptual,
        vgg_weights=f.vgg_weights, num_eval_faces=f.num_eval_faces,
        num_eval_degradations=f.num_eval_degradations, metrics=list(f.metrics), id_net=f.id_net,
        id_weights=f.id_weights, k=f.k, lpips_weights=f.lpips_weights,
        inception_weights=f.inception_weights, progress=f.progress,
        command=" ".join(["python -m", _module_name(sys.argv[0])] + sys.argv[1:]))


def _module_name(argv0: str) -> str:
    p = Path(argv0)
    return f"experiments.{p.stem}" if p.parent.name == "experiments" else argv0


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)


# ----------------------------------------------------------------------------- configs
def base_config(opts: ExpOptions):
    """Preset + flags + ``--set`` overrides (the config every variant starts from)."""
    from experiments.train import resolve_config

    return resolve_config(opts.preset, list(opts.overrides), data_dir=opts.data_dir,
                          val_dir=opts.eval_dir, steps=opts.steps, batch_size=opts.batch_size,
                          perceptual=opts.perceptual, vgg_weights=opts.vgg_weights)


def variant_config(cfg, updates: dict, seed: int):
    from faceres_tf.config import override

    return override(cfg, dict(updates, **{"train.seed": seed}))


def run_dir_of(workdir, variant: str, seed: int) -> Path:
    """``WORKDIR/<variant>/seed<k>``: the naming every script shares (reuse)."""
    return Path(workdir) / variant / f"seed{seed}"


def skip_variant_name(n: int) -> str:
    """Variant name of ``num_skips = n`` (shared by skip_ablation and noise_diversity)."""
    return f"skips{n}"


def available_skips(resolution: int) -> list:
    from faceres_tf.config import SKIP_RESOLUTIONS

    return [s for s in SKIP_RESOLUTIONS if s < resolution]


def checkpoint_step(run_dir) -> int:
    """Step of the latest checkpoint in ``run_dir/checkpoints`` (0 if none).

    Checkpoints are written as ``ckpt-<step>`` by the trainer.
    """
    from faceres_tf.training.checkpoint import checkpoint_step as step_of
    from faceres_tf.training.checkpoint import latest_checkpoint

    return step_of(latest_checkpoint(Path(run_dir) / "checkpoints"))


def _comparable(d: dict) -> dict:
    d = {k: v for k, v in d.items() if k in ("model", "data", "loss")}
    d.get("loss", {}).pop("vgg_weights", None)
    for key in ("train_dir", "val_dir"):  # paths may be spelled differently
        d.get("data", {}).pop(key, None)
    return d


_STRATEGY = {}


def get_strategy(opts: ExpOptions):
    """One tf.distribute strategy per process (built lazily, reused)."""
    from experiments.train import setup_devices
    from faceres_tf.training import make_strategy

    if opts.strategy not in _STRATEGY:
        setup_devices(opts.cpu_replicas)
        _STRATEGY[opts.strategy] = make_strategy(opts.strategy)
    return _STRATEGY[opts.strategy]


def run_main(experiment) -> int:
    """Body of every script's absl ``main``: logging, flags -> options, run.

    ``experiment(opts)`` runs the experiment; returns the process exit code
    (130 when training was interrupted, 2 for a bad argument).
    """
    from faceres_tf.errors import UserError, report_user_error

    setup_logging()
    try:
        experiment(options_from_flags())
    except Interrupted as e:
        print(e)
        return 130
    except (UserError, ValueError) as e:  # one line on stderr; other errors keep their traceback
        return report_user_error(e)
    return 0


class Interrupted(RuntimeError):
    """A training run was interrupted (Ctrl-C / SIGTERM); rerun to resume."""


def ensure_trained(cfg, run_dir, opts: ExpOptions) -> dict:
    """Trains ``cfg`` in ``run_dir`` up to ``cfg.train.steps`` unless already there.

    Returns ``{"run_dir", "step", "reused"}``. Raises :class:`Interrupted` when
    training was stopped by a signal, ``ValueError`` when ``run_dir`` holds a
    run of a different configuration.
    """
    import json

    from faceres_tf.config import Config

    run_dir = Path(run_dir)
    steps = int(cfg.train.steps)
    saved_path = run_dir / "config.json"
    if saved_path.is_file():
        saved = Config.from_json(saved_path.read_text()).to_dict()
        if _comparable(saved) != _comparable(cfg.to_dict()):
            raise ValueError(
                f"{run_dir} holds a run with a different configuration than this variant "
                f"(model/data/loss differ); use another --workdir or delete {run_dir}.")
    done = checkpoint_step(run_dir)
    if done >= steps:
        print(f"reusing finished run {run_dir} (step {done} >= {steps})", flush=True)
        return {"run_dir": str(run_dir), "step": done, "reused": True}
    from faceres_tf.training import train

    print(f"training {run_dir}: step {done} -> {steps}", flush=True)
    t0 = time.time()
    result = train(cfg, run_dir, get_strategy(opts), steps=steps, progress=opts.progress)
    if result.interrupted:
        raise Interrupted(f"training of {run_dir} stopped at step {result.step}; rerun the same "
                          "command to resume.")
    info = {"run_dir": str(run_dir), "step": result.step, "reused": False,
            "train_seconds": time.time() - t0, "trained_steps": result.step - done}
    (run_dir / "experiment_train_time.json").write_text(json.dumps(info))
    return info


# ----------------------------------------------------------------------------- eval set
@dataclasses.dataclass
class EvalSet:
    """Fixed evaluation pairs: float32 (N, R, R, 3) in [-1, 1] and their names / ids."""

    names: list
    ids: list
    degraded: np.ndarray
    target: np.ndarray
    description: str

    def __len__(self):
        return len(self.names)


def build_eval_set(cfg, eval_dir, num_degradations: int = 3, num_faces: int | None = None,
                   lq_dir=None) -> EvalSet:
    """The same degraded inputs for every variant (depends only on the data config).

    Without ``lq_dir``: every readable face of ``eval_dir`` (sorted, the first
    ``num_faces``) degraded with seeds ``EVAL_SEED + d``, d < ``num_degradations``,
    by ``cfg.data``'s degradation model at ``cfg.model.resolution``. With
    ``lq_dir``: its images (paired with ``eval_dir`` by file stem) are the
    inputs, resized to R.
    """
    from faceres_tf.data.image_io import list_images, load_face, scan_images
    from faceres_tf.image_io import uint8_to_float

    r = int(cfg.model.resolution)
    gt_paths = scan_images(list_images(eval_dir), folder=eval_dir).valid
    if num_faces:
        gt_paths = gt_paths[:num_faces]
    if lq_dir is not None:
        lq = {Path(p).stem: p for p in scan_images(list_images(lq_dir), folder=lq_dir).valid}
        pairs = [(Path(p).stem, p, lq[Path(p).stem]) for p in gt_paths if Path(p).stem in lq]
        if not pairs:
            raise ValueError(f"{lq_dir} and {eval_dir} share no file stems; name each degraded "
                             "input like its ground truth.")
        deg = uint8_to_float(np.stack([load_face(q, r) for _, _, q in pairs]))
        tgt = uint8_to_float(np.stack([load_face(p, r) for _, p, _ in pairs]))
        names = [s for s, _, _ in pairs]
        return EvalSet(names, list(names), deg, tgt,
                       f"{len(names)} given degraded inputs from {lq_dir} at {r} px")
    folder, tmp = Path(eval_dir), None
    if num_faces:  # make_dataset reads a folder: link the chosen faces into a temp folder
        tmp = Path(tempfile.mkdtemp(prefix="faceres_eval_"))
        folder = _link_subset(gt_paths, tmp)
    try:
        return _degrade_folder(cfg, folder, eval_dir, gt_paths, num_degradations, r)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _degrade_folder(cfg, folder, eval_dir, gt_paths, num_degradations, r) -> EvalSet:
    from faceres_tf.data import make_dataset

    stems = [Path(p).stem for p in gt_paths]
    names, ids, degraded, target = [], [], [], []
    for d in range(int(num_degradations)):
        chunks = list(make_dataset(cfg, split="val", batch_size=64, seed=EVAL_SEED + d,
                                   repeat=False, folder=folder))
        deg = np.concatenate([c[0].numpy() for c in chunks])
        tgt = np.concatenate([c[1].numpy() for c in chunks])
        if len(deg) != len(stems):
            raise ValueError(f"{eval_dir}: expected {len(stems)} faces, the pipeline read "
                             f"{len(deg)}")
        degraded.append(deg)
        target.append(tgt)
        names += [f"{s}__d{d}" for s in stems]
        ids += stems
    desc = (f"{len(stems)} faces of {eval_dir} x {num_degradations} fixed degradations "
            f"({cfg.data.degradation}, seeds {EVAL_SEED}+d) = {len(names)} inputs at {r} px")
    return EvalSet(names, ids, np.concatenate(degraded), np.concatenate(target), desc)


def _link_subset(paths, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
        link = folder / Path(p).name
        if not link.exists():
            try:
                os.symlink(p, link)
            except OSError:
                shutil.copy(p, link)
    return folder


# ----------------------------------------------------------------------------- images
def write_pngs(folder, names: Sequence[str], images) -> Path:
    """Writes ``images`` ([-1, 1] float or uint8) as ``folder/<name>.png``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = images if np.asarray(images).dtype == np.uint8 else to_uint8(images)
    for n, im in zip(names, arr):
        Image.fromarray(np.asarray(im)).save(folder / f"{n}.png")
    return folder


def write_ids_csv(path, names, ids) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "id"])
        w.writerows(zip(names, ids))
    return path


def write_eval_folders(out_dir, evalset: EvalSet, restored) -> dict:
    """``out_dir/{restored,gt,degraded}/<name>.png`` and ``out_dir/ids.csv``."""
    out_dir = Path(out_dir)
    return {
        "restored": write_pngs(out_dir / "restored", evalset.names, restored),
        "gt": write_pngs(out_dir / "gt", evalset.names, evalset.target),
        "degraded": write_pngs(out_dir / "degraded", evalset.names, evalset.degraded),
        "ids": write_ids_csv(out_dir / "ids.csv", evalset.names, evalset.ids),
    }


def _label_strip(width: int, text: str, height: int = 14) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), (255, 255, 255))
    ImageDraw.Draw(im).text((2, 1), text, fill=(0, 0, 0))
    return np.asarray(im)


def save_labeled_grid(path, rows: Sequence[Sequence[np.ndarray]], col_labels: Sequence[str],
                      row_labels: Sequence[str] | None = None) -> Path:
    """A grid of equal-size images ([-1, 1] float or uint8 HxWx3) with column
    headers (and optional row labels on top of each row's first cell)."""
    from PIL import Image, ImageDraw

    cells = [[im if im.dtype == np.uint8 else to_uint8(im) for im in row] for row in rows]
    h, w = cells[0][0].shape[:2]
    cw = max(w, 64)  # room for a label

    def pad(im):
        if im.shape[1] == cw:
            return im
        out = np.full((h, cw, 3), 255, np.uint8)
        out[:, (cw - w) // 2:(cw - w) // 2 + w] = im
        return out

    header = np.concatenate([_label_strip(cw, lab) for lab in col_labels], axis=1)
    body = []
    for i, row in enumerate(cells):
        line = np.concatenate([pad(im) for im in row], axis=1)
        if row_labels:
            body.append(_label_strip(line.shape[1], row_labels[i]))
        body.append(line)
    grid = np.concatenate([header] + body, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    del ImageDraw
    return path


# ----------------------------------------------------------------------------- scoring
class Scorer:
    """Scores folders with :func:`faceres_tf.evaluate.evaluate_folders`; keeps the
    identity embedder and the ground truth's FID statistics between calls."""

    def __init__(self, opts: ExpOptions, num_degradations: int = 1, cache_dir=None):
        self.opts = opts
        self.metrics = [m for m in opts.metrics if m != "ipr" or opts.id_net != "none"]
        self.k_eff = int(opts.k) + max(1, int(num_degradations)) - 1
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._embedder = None
        self._embedder_error = None

    @property
    def embedder(self):
        if self._embedder is None and self._embedder_error is None and self.opts.id_net != "none":
            from faceres_tf.metrics.identity import get_embedder

            try:
                self._embedder = get_embedder(self.opts.id_net, weights=self.opts.id_weights)
            except Exception as e:  # noqa: BLE001 - reported as n/a
                self._embedder_error = f"{type(e).__name__}: {e}"
        return self._embedder

    def na_reasons(self) -> dict:
        """Metrics that are not computed at all, with the reason."""
        out = {}
        if "ipr" not in self.metrics:
            out["iprecision"] = ("--id_net=none" if self.opts.id_net == "none"
                                 else "not requested in --metrics")
        for m in ("psnr", "ssim", "lpips", "fid"):
            if m not in self.metrics:
                out[m] = "not requested in --metrics"
        return out

    def score(self, restored_dir, gt_dir, ids_csv=None) -> dict:
        from faceres_tf.evaluate import evaluate_folders

        metrics = list(self.metrics)
        emb = self.embedder if "ipr" in metrics else None
        errors = {}
        if "ipr" in metrics and emb is None:
            metrics.remove("ipr")
            errors["ipr"] = self._embedder_error or "identity network unavailable"
        stats = None
        if self.cache_dir is not None and "fid" in metrics:
            stats = str(self.cache_dir / f"fid_stats_gt_{_folder_key(gt_dir)}.npz")
        rep = evaluate_folders(restored_dir, gt_dir, metrics=metrics, id_net=self.opts.id_net,
                               k=self.k_eff, ids_csv=ids_csv, lpips_weights=self.opts.lpips_weights,
                               inception_weights=self.opts.inception_weights,
                               id_weights=self.opts.id_weights, embedder=emb, gt_fid_stats=stats,
                               progress=False)
        rep.setdefault("errors", {}).update(errors)
        return rep


def _folder_key(folder) -> str:
    """Content key of a ground-truth folder (names and bytes), for the FID statistics cache:
    every variant writes its own copy of the same ground truth."""
    import hashlib

    h = hashlib.sha1()
    for p in sorted(Path(folder).iterdir()):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def metric_value(report: dict, key: str):
    """The metric's value, or None (then :func:`metric_reason` says why)."""
    v = report.get("metrics", {}).get(key)
    return None if v is None else float(v)


def metric_reason(report: dict, key: str, na: dict | None = None) -> str:
    src = "ipr" if key in ("iprecision", "irecall", "precision", "recall") else key
    errs = report.get("errors", {})
    if src in errs:
        return short_reason(errs[src])
    if na and key in na:
        return na[key]
    return "not computed"


def short_reason(text: str) -> str:
    one = " ".join(str(text).split())
    return one if len(one) <= 300 else one[:297] + "..."


# ----------------------------------------------------------------------------- tables
def fmt(v, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}f}"


def fmt_pm(values: Sequence[float], digits: int = 2) -> str:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{np.mean(vals):.{digits}f} ± {np.std(vals, ddof=1):.{digits}f}"


def mean_or_none(values: Iterable) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path, rows: Sequence[dict], fields: Sequence[str] | None = None) -> Path:
    path = Path(path)
    fields = list(fields or [k for r in rows for k in r if k])
    fields = list(dict.fromkeys(fields))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in fields})
    return path


def header_lines(title: str, cfg, opts: ExpOptions, evalset: EvalSet | None, extra=()) -> list:
    from faceres_tf.training.run_dir import git_commit

    lines = [f"# {title}", "",
             f"- preset: `{cfg.name}` ({cfg.model.resolution} px, batch {cfg.train.batch_size}, "
             f"perceptual loss {cfg.loss.perceptual}, alpha {cfg.loss.alpha:g})",
             f"- steps per variant: {cfg.train.steps}; training seeds per variant: {opts.num_seeds}",
             f"- training data: `{cfg.data.train_dir}`"]
    if evalset is not None:
        lines.append(f"- evaluation set: {evalset.description}")
        ident = ("iPrecision off (`--id_net=none`)" if opts.id_net == "none" else
                 f"iPrecision with the `{opts.id_net}` identity net, k = {opts.k} distinct "
                 "other faces")
        lines.append(f"- restoration: EMA generator, zero noise unless stated; {ident}")
    if opts.command:
        lines.append(f"- command: `{opts.command}`")
    if opts.overrides:
        lines.append(f"- overrides: {', '.join(f'`{o}`' for o in opts.overrides)}")
    lines += [f"- {e}" for e in extra]
    lines += [f"- code commit: `{git_commit()}`",
              f"- written: {time.strftime('%Y-%m-%d %H:%M:%S')}", ""]
    return lines


def na_footnotes(reasons: dict) -> list:
    """'n/a' explanations: {metric: reason} -> markdown lines."""
    if not reasons:
        return []
    out = ["", "**n/a** means the metric was not computed on this machine:"]
    out += [f"- {k}: {v}" for k, v in sorted(reasons.items())]
    return out


def collect_na(reports: Iterable[dict], keys: Sequence[str], na: dict | None = None) -> dict:
    out = {}
    for rep in reports:
        for key in keys:
            if metric_value(rep, key) is None and key not in out:
                out[key] = metric_reason(rep, key, na)
    return out


def write_text(path, lines: Sequence[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def plot(path, draw: Callable) -> Path:
    """Runs ``draw(fig, ax)`` on a matplotlib Agg figure and saves it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    draw(fig, ax)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def evaluate_variant(run_dir, evalset: EvalSet, scorer: Scorer, noise_seed: int = -1) -> dict:
    """Restores the eval set with ``run_dir``'s EMA generator, writes the PNG
    folders in ``run_dir/eval/`` and scores them. Returns the evaluator report
    plus ``restored`` (the [-1, 1] array)."""
    from faceres_tf.training import load_generator

    generator, _ = load_generator(run_dir, use_ema=True)
    # one noise seed for every input: seed -1 = zero noise
    restored = restore_batches(generator, evalset.degraded, seed=noise_seed)
    dirs = write_eval_folders(Path(run_dir) / "eval", evalset, restored)
    rep = scorer.score(dirs["restored"], dirs["gt"], ids_csv=dirs["ids"])
    rep["restored_array"] = restored
    return rep


def score_degraded(workdir, evalset: EvalSet, scorer: Scorer) -> dict:
    """The degraded inputs scored like a method (the table's baseline row)."""
    dirs = write_eval_folders(Path(workdir) / "eval_inputs", evalset, evalset.degraded)
    return scorer.score(dirs["degraded"], dirs["gt"], ids_csv=dirs["ids"])


def run_variants(opts: ExpOptions, variants: Sequence[tuple], evalset: EvalSet, scorer: Scorer,
                 cfg0, noise_seed: int = -1) -> dict:
    """Trains (or reuses) and evaluates ``variants`` = [(name, updates)] over
    ``opts.num_seeds`` seeds. Returns {name: [report per seed]}."""
    out = {}
    for name, updates in variants:
        out[name] = []
        for seed in range(int(opts.num_seeds)):
            cfg = variant_config(cfg0, updates, seed)
            rdir = run_dir_of(opts.workdir, name, seed)
            info = ensure_trained(cfg, rdir, opts)
            rep = evaluate_variant(rdir, evalset, scorer, noise_seed)
            rep["train"] = info
            out[name].append(rep)
            print(f"{name} seed {seed}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in rep["metrics"].items()), flush=True)
    return out


# ----------------------------------------------------------------------------- generic table
HEADERS = {"psnr": "PSNR↑", "ssim": "SSIM↑", "lpips": "LPIPS↓", "fid": "FID↓",
           "iprecision": "iPrecision↑", "irecall": "iRecall↑"}
DIGITS = {"psnr": 2, "ssim": 4, "lpips": 4, "fid": 2, "iprecision": 3, "irecall": 3}


def table_experiment(opts: ExpOptions, title: str, variants: Sequence[tuple],
                     keys: Sequence[str], paper_title: str, paper_rows: Sequence[Sequence[str]],
                     first_col: str = "variant", extra_fields: Sequence[str] = (),
                     plot_fn: Callable | None = None, extra_lines: Sequence[str] = ()) -> dict:
    """Trains/evaluates ``variants`` = [(label, updates, extra_row_fields)] and
    writes results.md / results.csv / a grid (input | each variant | GT) / a plot.

    Columns: ``keys`` (evaluator metric names, PSNR with ± over seeds). The
    paper's rows (strings, same columns) are shown beside, labelled quoted.
    ``plot_fn(path, rows, cfg)`` draws the figure.
    """
    workdir = Path(opts.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg0 = base_config(opts)
    evalset = build_eval_set(cfg0, opts.eval_dir, opts.num_eval_degradations, opts.num_eval_faces)
    scorer = Scorer(opts, opts.num_eval_degradations, cache_dir=workdir)
    reports = run_variants(opts, [(v[0], v[1]) for v in variants], evalset, scorer, cfg0)
    base = score_degraded(workdir, evalset, scorer)
    rows, table = [], []
    for label, _, extra in variants:
        reps = reports[label]
        row = {"variant": label, **extra, "status": "ok", "seeds": len(reps),
               "steps": reps[0]["train"]["step"], "eval_images": len(evalset)}
        psnrs = [metric_value(r, "psnr") for r in reps]
        finite = [p for p in psnrs if p is not None]
        row["psnr_std"] = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
        for k in keys:
            row[k] = mean_or_none(metric_value(r, k) for r in reps)
        rows.append(row)
        table.append([label] + [fmt_pm(psnrs) if k == "psnr" else fmt(row[k], DIGITS.get(k, 4))
                                for k in keys])
    base_row = {"variant": "degraded input", "status": "baseline",
                **{k: metric_value(base, k) for k in keys}}
    rows.append(base_row)
    table.append(["input (degraded)"] + [fmt(base_row[k], DIGITS.get(k, 4)) for k in keys])
    header = [first_col] + [HEADERS.get(k, k) + (" (mean ± std over seeds)"
                                                 if k == "psnr" and opts.num_seeds > 1 else "")
                            for k in keys]
    grid_rows = [[evalset.degraded[i]] + [reports[v[0]][0]["restored_array"][i] for v in variants]
                 + [evalset.target[i]] for i in range(min(3, len(evalset)))]
    grid = save_labeled_grid(workdir / "grid.png", grid_rows,
                             ["input"] + [v[0] for v in variants] + ["GT"])
    files = {"grid": grid}
    if plot_fn is not None:
        files["plot"] = plot_fn(workdir / "plot.png", [r for r in rows if r["status"] == "ok"],
                                cfg0)
    all_reps = [r for reps in reports.values() for r in reps] + [base]
    reasons = collect_na(all_reps, keys, scorer.na_reasons())
    lines = header_lines(title, cfg0, opts, evalset, extra_lines)
    lines += ["## Ours (this run)", "", markdown_table(header, table)]
    lines += na_footnotes(reasons)
    paper_header = [first_col] + [HEADERS.get(k, k) for k in keys]
    lines += ["", f"## Paper (quoted), {paper_title}", "", markdown_table(paper_header, paper_rows),
              "", PAPER_NOTE, "",
              "Figures: " + ", ".join(f"`{p.name}`" for p in files.values())
              + " (grid: input | each variant | GT)."]
    md = write_text(workdir / "results.md", lines)
    csv_path = write_csv(workdir / "results.csv", rows,
                         ["variant", *extra_fields, "status", "seeds", "steps", "eval_images",
                          *keys, "psnr_std"])
    print(markdown_table(header, table))
    print(f"wrote {md}, {csv_path}, " + ", ".join(str(p) for p in files.values()))
    return {"rows": rows, "results_md": md, "results_csv": csv_path, "reports": reports,
            "evalset": evalset, **files}
