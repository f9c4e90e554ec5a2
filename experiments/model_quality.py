r"""How much a model restores held-out faces: degraded input vs restored.

    # the bundled model (what faceres-restore uses) on the 200 held-out FFHQ faces,
    # both degradation chains, at 128 px and at 256 px (results in runs/quality_rdfr_cpu128)
    python -m experiments.model_quality --model=rdfr_cpu128 \
        --eval_dir=../shared/data/faces_val --eval_resolution=256 \
        --lq_dirs=data/real_lq,../shared/data/gfpgan_cropped_faces
    # the learning curve of a training run: every kept checkpoint, one noise draw
    python -m experiments.model_quality --run_dir=runs/cpu_128 --learning_curve \
        --eval_dir=../shared/data/faces_val --num_eval_faces=100 --workdir=runs/curve_cpu128

Each chain of ``--chains`` builds an evaluation set from ``--eval_dir`` with
D fixed seeds (docs/method.md §7): ``train`` is the model's own training
chain, ``cv2`` an independently written one with the same ranges
(experiments/eval_chains.py); a model that learned degradations rather than
one implementation scores about as well on both. Each set is built at the
model's resolution and, with ``--eval_resolution``, also at that resolution
(ranges scaled; the model restores at its own resolution in between).
Scored for the degraded inputs and the restorations (zero noise and S noise
draws): PSNR, SSIM, identity distance to the ground truth (dlib, 128-d; same
person usually < 0.6), iPrecision / iRecall (k = --k, each degradation set N
vs N) and detail (Laplacian energy / the ground truth's, 1 = as detailed).
Writes WORKDIR/quality.md, quality.json (rewritten after every set),
quality_grid_<chain>_<R>.png (degraded | restored | target; quality_grid.png
is the train chain at the model's resolution) and, per --lq_dirs folder,
real_lq_<name>.png (input | restored) with the mean BRISQUE (no-reference,
lower is better; needs the optional ``brisque`` package) of input and
restored. Progress goes to stderr. With --learning_curve: WORKDIR/curve.csv
and curve.png.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from absl import flags

from experiments import cli, options, quality, reports
from experiments.cli import UserError
from experiments.eval_chains import CHAINS, build_chain_eval_set, config_at, describe_ranges
from experiments.evalset import build_eval_set, restore
from experiments.scoring import Scorer
from faceres_tf import presets, pretrained
from faceres_tf.image_io import float_to_uint8

options.define_workdir_flag()
options.define_eval_flags()
options.define_overwrite_flag()
flags.DEFINE_string("model", None, "Bundled model name (faceres_tf.pretrained.available()); "
                    "default: the bundled default when --run_dir is not given.")
options.define_run_dir_flag()  # instead of a bundled model
flags.DEFINE_string("chain_preset", None, "Take the chains' ranges and switches from this preset's "
                    "data config (scaled to each resolution) instead of the model's, so that two "
                    "models are scored on the same inputs (default: the model's own).")
flags.DEFINE_list("chains", list(CHAINS), "Degradation chains to score on: train (the model's "
                  "own) and cv2 (independent, experiments/eval_chains.py).")
flags.DEFINE_integer("eval_resolution", None, "Also score at this resolution (power of two): "
                     "degrade at it, restore at the model's, resize the output back.")
flags.DEFINE_bool("learning_curve", False, "With --run_dir: score every kept checkpoint "
                  "(EMA generator, noise draw 0) and plot the curve.")
flags.DEFINE_list("lq_dirs", [], "Folders of real low-quality aligned faces: a grid and the "
                  "mean BRISQUE of input and restored.")
flags.DEFINE_integer("lq_per_dir", 6, "Faces per --lq_dirs folder in the grid.")
options.define_quiet_flag()
flags.adopt_module_key_flags(options)
# this driver's defaults: the metrics that run offline, one noise draw (the std over
# draws of the bundled model is ~0.0005 dB)
flags.FLAGS.set_default("metrics", ["psnr", "ssim", "ipr"])
flags.FLAGS.set_default("num_noise_seeds", 1)

FIELDS = ("psnr", "ssim", "id_dist", "iprecision", "irecall")
GRID_FACES = 6
OUTPUTS = ("quality.md", "quality.json")


def summary(score) -> dict:
    out = {k: score.value(k) for k in ("psnr", "ssim", "iprecision", "irecall")}
    out["id_dist"] = quality.identity_distance(score)
    return out


def load_model(model: str | None, run_dir: str | None, checkpoint: str | None = None):
    """(generator, config, description) of a bundled model or a run's EMA generator."""
    if run_dir:
        from faceres_tf.training import load_generator  # loads TensorFlow: only once the flags are parsed

        if not (Path(run_dir) / "config.json").is_file():
            raise UserError(f"--run_dir {run_dir}: no config.json (not a training run directory)")
        generator, cfg = load_generator(run_dir, checkpoint=checkpoint)
        return generator, cfg, f"run {run_dir}" + (f" ({Path(checkpoint).name})" if checkpoint else "")
    name = model or pretrained.DEFAULT_MODEL
    try:
        generator = pretrained.load_pretrained(name)
    except pretrained.PretrainedError as e:
        raise UserError(str(e)) from None
    return generator, generator.faceres_config, f"bundled model {name}"


def default_workdir(model: str | None, run_dir: str | None) -> str:
    """``runs/quality_<model or run name>``: where results go without --workdir."""
    if run_dir:
        return f"runs/quality_{Path(run_dir).resolve().name}"
    return f"runs/quality_{model or pretrained.DEFAULT_MODEL}"


def check_outputs(workdir: Path, overwrite: bool, names=OUTPUTS) -> None:
    existing = [n for n in names if (workdir / n).exists()]
    if existing and not overwrite:
        raise UserError(f"{workdir / existing[0]} exists; pass --overwrite to replace this "
                        "command's earlier results, or choose another --workdir.")


def resolutions(cfg, eval_resolution: int | None) -> list:
    r0 = int(cfg.model.resolution)
    if eval_resolution is None or eval_resolution == r0:
        return [r0]
    if eval_resolution < 16 or eval_resolution & (eval_resolution - 1):
        raise UserError(f"--eval_resolution must be a power of two >= 16, got {eval_resolution}")
    return [r0, int(eval_resolution)]


def chain_config(cfg, chain_preset: str | None):
    """The config whose data settings (and resolution, for range scaling) make
    the evaluation sets: the model's own, or those of ``chain_preset``."""
    if not chain_preset:
        return cfg
    ref = presets.get(chain_preset)
    return dataclasses.replace(cfg, data=ref.data, model=ref.model)


def evaluate(opts, flags_, progress) -> dict:
    """Scores the model on every chain at every resolution; writes the report."""
    progress("loading the model")
    generator, cfg, described = load_model(flags_.model, flags_.run_dir)
    sizes = resolutions(cfg, flags_.eval_resolution)
    workdir = Path(opts.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result = {"model": described, "faces": None, "degradations": opts.num_eval_degradations,
              "noise_draws": opts.num_noise_seeds, "evaluations": [], "real_lq": []}
    embedder, r0 = quality.identity_embedder(opts, progress), int(cfg.model.resolution)
    chain_preset = getattr(flags_, "chain_preset", None)
    chain_cfg = chain_config(cfg, chain_preset)
    if chain_preset:
        result["chain_preset"] = chain_preset
    for size in sizes:
        for chain in flags_.chains:
            label = f"{chain} chain at {size} px"
            cfg_r = config_at(chain_cfg, size)
            progress(f"{label}: degrading the faces of {opts.eval_dir}")
            evalset = build_chain_eval_set(chain, cfg_r, opts.eval_dir, opts.num_eval_degradations,
                                           opts.num_eval_faces)
            scorer = Scorer(opts, float_to_uint8(evalset.target), embedder=embedder)
            entry, sample = quality.score_evaluation(generator, r0, evalset, scorer,
                                                     opts.num_noise_seeds, progress, label)
            embedder = embedder or scorer.identity_embedder()[0]
            result["faces"] = evalset.num_faces
            result["evaluations"].append({"chain": chain, "resolution": size, "restored_at": r0,
                                          "ranges": describe_ranges(cfg_r.data), **entry})
            _grids(workdir, evalset, sample, chain, size, first=(size == r0 and chain == "train"))
            _write(workdir, result, opts)
    for folder in flags_.lq_dirs:
        progress(f"real low-quality faces of {folder}: restoring, BRISQUE")
        item = quality.real_lq(generator, r0, folder, workdir / f"real_lq_{Path(folder).name}.png",
                               flags_.lq_per_dir)
        if item is None:
            progress(f"warning: --lq_dirs {folder}: no images; skipped")
            continue
        result["real_lq"].append(item)
        _write(workdir, result, opts)
    print("\n".join(quality.markdown(result, opts)), flush=True)
    return result




def _grids(workdir: Path, evalset, sample, chain: str, size: int, first: bool) -> None:
    rows = [[float_to_uint8(evalset.degraded[0, i]), sample[0, i], float_to_uint8(evalset.target[i])]
            for i in range(min(GRID_FACES, evalset.num_faces))]
    names = [f"quality_grid_{chain}_{size}.png"] + (["quality_grid.png"] if first else [])
    for name in names:
        reports.save_labeled_grid(workdir / name, rows, ["degraded", "restored", "target"])


def _write(workdir: Path, result: dict, opts) -> None:
    (workdir / "quality.json").write_text(json.dumps(result, indent=1))
    reports.write_text(workdir / "quality.md", quality.markdown(result, opts))


def learning_curve(opts, flags_) -> list:
    import tensorflow as tf  # loads TensorFlow: only once the flags are parsed

    run_dir = Path(flags_.run_dir)
    state = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    paths = list(state.all_model_checkpoint_paths) if state else []
    if not paths:
        raise UserError(f"--run_dir {run_dir}: no checkpoints")
    _, cfg, _ = load_model(None, str(run_dir))
    evalset = build_eval_set(cfg, opts.eval_dir, opts.num_eval_degradations, opts.num_eval_faces)
    workdir = Path(opts.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    scorer = Scorer(opts, float_to_uint8(evalset.target))
    base = summary(scorer.score(float_to_uint8(evalset.degraded)))
    rows = []
    for path in sorted(paths, key=lambda p: int(p.rsplit("-", 1)[-1])):
        step = int(path.rsplit("-", 1)[-1])
        generator, _, _ = load_model(None, str(run_dir), checkpoint=path)
        row = {"step": step, "images": step * cfg.train.batch_size,
               **summary(scorer.score(restore(generator, evalset, 0)))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    rows.append({"step": 0, "images": 0, "label": "degraded input", **base})
    reports.write_csv(workdir / "curve.csv", rows, ["step", "images", "label", *FIELDS])
    _plot_curve(workdir / "curve.png", rows[:-1], base, schedule_changes(run_dir, cfg.train.batch_size))
    return rows


def schedule_changes(run_dir: Path, batch_size: int) -> list:
    """``[(images, "loss.alpha 0.1→0.02, ...")]``: the training-setting changes
    accepted on resume (``run_info.json`` ``config_history``), for the plot."""
    info = Path(run_dir) / "run_info.json"
    history = json.loads(info.read_text()).get("config_history", []) if info.is_file() else []
    marks = []
    for h in history:
        fields = h.get("training_fields_changed", [])
        if fields:
            text = ", ".join(f"{k.split('.')[-1]} {h['changes'][k]['old']:g}→{h['changes'][k]['new']:g}"
                             for k in fields if isinstance(h["changes"][k]["new"], (int, float)))
            marks.append((int(h["step"]) * batch_size, text))
    return marks


def _plot_curve(path, rows, base, marks=()) -> None:
    panels = [("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("id_dist", "identity distance (dlib)")]

    def draw(fig, ax):
        fig.set_size_inches(12, 3.6)
        ax.remove()
        images = [r["images"] / 1000 for r in rows]
        for i, (key, label) in enumerate(panels):
            a = fig.add_subplot(1, 3, i + 1)
            a.plot(images, [r[key] if r[key] is not None else np.nan for r in rows], "o-",
                   label="restored (EMA G)")
            if base.get(key) is not None:
                a.axhline(base[key], color="gray", ls="--", label="degraded input")
            for images_at, text in marks:
                a.axvline(images_at / 1000, color="tab:red", ls=":", lw=1)
                if i == 0:
                    a.annotate(text, (images_at / 1000, 0.02), xycoords=("data", "axes fraction"),
                               rotation=90, fontsize=7, color="tab:red", ha="right", va="bottom")
            a.set_xlabel("training images (thousands)")
            a.set_ylabel(label)
            a.grid(alpha=0.3)
        a.legend(fontsize=8)
        fig.tight_layout()

    reports.plot(path, draw)


def main(argv):
    del argv

    def body():
        f = flags.FLAGS
        opts = options.ExpOptions(
            workdir=f.workdir or default_workdir(f.model, f.run_dir), eval_dir=f.eval_dir,
            num_eval_faces=f.num_eval_faces, num_eval_degradations=f.num_eval_degradations,
            num_noise_seeds=f.num_noise_seeds, metrics=list(f.metrics), id_net=f.id_net,
            id_weights=f.id_weights, k=f.k, lpips_weights=f.lpips_weights,
            inception_weights=f.inception_weights, progress=not f.quiet,
            command=options.command_line())
        options.check_options(opts)
        unknown = sorted(set(f.chains) - set(CHAINS))
        if unknown or not f.chains:
            raise UserError(f"--chains: unknown {unknown}; choose from {','.join(CHAINS)}")
        if f.chain_preset and f.chain_preset not in presets.names():
            raise UserError(f"--chain_preset: unknown preset {f.chain_preset!r}; choose from "
                            f"{', '.join(presets.names())}")
        if f.learning_curve:
            if not f.run_dir:
                raise UserError("--learning_curve needs --run_dir")
            check_outputs(Path(opts.workdir), f.overwrite, ("curve.csv", "curve.png"))
            return learning_curve(opts, f)
        if f.model and f.run_dir:
            raise UserError("give --model or --run_dir, not both")
        check_outputs(Path(opts.workdir), f.overwrite)
        return evaluate(opts, f, quality.Progress(f.quiet))

    return cli.run_experiment(body)


if __name__ == "__main__":
    cli.run_driver(main)
