r"""How much a model restores held-out faces: degraded input vs restored.

    # the bundled model (what faceres-restore uses) on the 200 held-out FFHQ faces
    python -m experiments.model_quality --model=rdfr_cpu128 \
        --eval_dir=../shared/data/faces_val --workdir=runs/quality_cpu128 \
        --lq_dirs=data/real_lq,../shared/data/gfpgan_cropped_faces
    # the learning curve of a training run: every kept checkpoint, one noise draw
    python -m experiments.model_quality --run_dir=runs/cpu_128 --learning_curve \
        --eval_dir=../shared/data/faces_val --num_eval_faces=100 --workdir=runs/curve_cpu128

The evaluation set is the model's own degradation chain applied to
``--eval_dir`` with D fixed seeds (docs/method.md §7). Scored for the degraded
inputs and for the restorations (zero noise and S noise draws): PSNR, SSIM,
identity distance to the ground truth (dlib, 128-d; same person usually
< 0.6) and iPrecision / iRecall (k = --k, each degradation set N vs N).
Writes WORKDIR/quality.md, quality.json, quality_grid.png (degraded |
restored | target) and, per --lq_dirs folder, real_lq_<name>.png (input |
restored). With --learning_curve: WORKDIR/curve.csv and curve.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from absl import flags

from experiments import cli, options, reports
from experiments.cli import UserError
from experiments.evalset import ZERO_NOISE, build_eval_set, restore
from experiments.scoring import Scorer

options.define_workdir_flag()
options.define_eval_flags()
flags.DEFINE_string("model", None, "Bundled model name (faceres_tf.pretrained.available()); "
                    "default: the bundled default when --run_dir is not given.")
options.define_run_dir_flag()  # instead of a bundled model
flags.DEFINE_bool("learning_curve", False, "With --run_dir: score every kept checkpoint "
                  "(EMA generator, noise draw 0) and plot the curve.")
flags.DEFINE_list("lq_dirs", [], "Folders of real low-quality aligned faces for a visual grid.")
flags.DEFINE_integer("lq_per_dir", 6, "Faces per --lq_dirs folder in the grid.")
flags.adopt_module_key_flags(options)

FIELDS = ("psnr", "ssim", "id_dist", "iprecision", "irecall")
GRID_FACES = 6


def identity_distance(score) -> float | None:
    """Mean L2 distance between each restored face's identity feature and its GT's."""
    if score.features is None:
        return None
    real, restored = score.features["real"], score.features["restored"]  # (N, F), (D, N, F)
    dist = np.linalg.norm(restored - real[None], axis=-1)  # (D, N); NaN where no face
    return float(np.nanmean(dist)) if np.isfinite(dist).any() else None


def summary(score) -> dict:
    out = {k: score.value(k) for k in ("psnr", "ssim", "iprecision", "irecall")}
    out["id_dist"] = identity_distance(score)
    return out


def load_model(model: str | None, run_dir: str | None, checkpoint: str | None = None):
    """(generator, config, description) of a bundled model or a run's EMA generator."""
    if run_dir:
        from faceres_tf.training import load_generator

        if not (Path(run_dir) / "config.json").is_file():
            raise UserError(f"--run_dir {run_dir}: no config.json (not a training run directory)")
        generator, cfg = load_generator(run_dir, checkpoint=checkpoint)
        return generator, cfg, f"run {run_dir}" + (f" ({Path(checkpoint).name})" if checkpoint else "")
    from faceres_tf import pretrained

    name = model or pretrained.DEFAULT_MODEL
    try:
        generator = pretrained.load_pretrained(name)
    except pretrained.PretrainedError as e:
        raise UserError(str(e)) from None
    return generator, generator.faceres_config, f"bundled model {name}"


def mean_std(rows: list, key: str) -> tuple:
    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), (float(np.std(vals, ddof=1)) if len(vals) > 1 else None)


def evaluate(opts, flags_) -> dict:
    generator, cfg, described = load_model(flags_.model, flags_.run_dir)
    evalset = build_eval_set(cfg, opts.eval_dir, opts.num_eval_degradations, opts.num_eval_faces)
    workdir = Path(opts.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    from faceres_tf.image_io import float_to_uint8 as to_uint8

    scorer = Scorer(opts, to_uint8(evalset.target))
    degraded = to_uint8(evalset.degraded)
    inputs = summary(scorer.score(degraded))
    zero_images = restore(generator, evalset, ZERO_NOISE)
    zero = summary(scorer.score(zero_images))
    draws, sample = [], zero_images
    for s in range(opts.num_noise_seeds):
        images = restore(generator, evalset, s)
        draws.append(summary(scorer.score(images)))
        if s == 0:
            sample = images
        print(f"noise draw {s}: " + ", ".join(f"{k} {v:.4f}" for k, v in draws[-1].items()
                                                if v is not None), flush=True)
    result = {"model": described, "faces": evalset.num_faces,
              "degradations": evalset.num_degradations, "noise_draws": len(draws),
              "input": inputs, "zero_noise": zero,
              "noise": {k: mean_std(draws, k) for k in FIELDS}, "draws": draws}
    (workdir / "quality.json").write_text(json.dumps(result, indent=1))
    _write_markdown(workdir / "quality.md", result, cfg, opts)
    rows = [[degraded[0, i], sample[0, i], to_uint8(evalset.target[i])]
            for i in range(min(GRID_FACES, evalset.num_faces))]
    reports.save_labeled_grid(workdir / "quality_grid.png", rows,
                              ["degraded", "restored", "target"])
    for folder in flags_.lq_dirs:
        _real_lq_grid(generator, cfg, folder, workdir, flags_.lq_per_dir)
    return result


def _write_markdown(path, res: dict, cfg, opts) -> None:
    def cell(v, digits=4):
        return reports.fmt(v, digits)

    noise = res["noise"]
    rows = [["degraded input"] + [cell(res["input"][k]) for k in FIELDS],
            [f"restored, mean ± std over {res['noise_draws']} noise draws"]
            + [reports.fmt_pm(*noise[k], digits=4) if noise[k][0] is not None else "n/a"
               for k in FIELDS],
            ["restored, zero noise"] + [cell(res["zero_noise"][k]) for k in FIELDS]]
    gain = {k: (noise[k][0] - res["input"][k]) if noise[k][0] is not None
            and res["input"][k] is not None else None for k in FIELDS}
    rows.append(["gain (restored with noise − input)"] + [cell(gain[k]) for k in FIELDS])
    lines = [f"# Restoration quality: {res['model']}", "",
             f"- evaluation: {res['faces']} faces of `{opts.eval_dir}` x {res['degradations']} "
             f"fixed degradations ({cfg.data.degradation} chain of the model's config, "
             f"{cfg.model.resolution} px)",
             f"- identity: {opts.id_net}, k = {opts.k}; iPrecision/iRecall per degradation set "
             "(N vs N), then the mean", f"- command: `{opts.command}`", "",
             reports.markdown_table(["", "PSNR↑", "SSIM↑", "identity dist.↓", "iPrecision↑",
                                     "iRecall↑"], rows), ""]
    reports.write_text(path, lines)


def _real_lq_grid(generator, cfg, folder, workdir: Path, count: int) -> None:
    from faceres_tf.image_io import float_to_uint8 as to_uint8
    from faceres_tf.image_io import list_images, read_image
    from faceres_tf.image_io import uint8_to_float as from_uint8

    r = cfg.model.resolution
    paths = list_images(folder).images[:count] if Path(folder).is_dir() else []
    if not paths:
        print(f"warning: --lq_dirs {folder}: no images; grid skipped", flush=True)
        return
    import cv2

    faces = []
    for p in paths:
        rgb = read_image(p).rgb
        interp = cv2.INTER_AREA if min(rgb.shape[:2]) > r else cv2.INTER_CUBIC
        faces.append(cv2.resize(rgb, (r, r), interpolation=interp))
    x = from_uint8(np.stack(faces))
    y = generator({"image": x, "noise_seed": np.zeros(len(x), np.int32)}, training=False)
    rows = [[f, o] for f, o in zip(faces, to_uint8(np.asarray(y)))]
    reports.save_labeled_grid(workdir / f"real_lq_{Path(folder).name}.png", rows,
                              ["input", "restored"])


def learning_curve(opts, flags_) -> list:
    import tensorflow as tf

    run_dir = Path(flags_.run_dir)
    state = tf.train.get_checkpoint_state(str(run_dir / "checkpoints"))
    paths = list(state.all_model_checkpoint_paths) if state else []
    if not paths:
        raise UserError(f"--run_dir {run_dir}: no checkpoints")
    _, cfg, _ = load_model(None, str(run_dir))
    evalset = build_eval_set(cfg, opts.eval_dir, opts.num_eval_degradations, opts.num_eval_faces)
    workdir = Path(opts.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    from faceres_tf.image_io import float_to_uint8 as to_uint8

    scorer = Scorer(opts, to_uint8(evalset.target))
    base = summary(scorer.score(to_uint8(evalset.degraded)))
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
            workdir=f.workdir, eval_dir=f.eval_dir, num_eval_faces=f.num_eval_faces,
            num_eval_degradations=f.num_eval_degradations, num_noise_seeds=f.num_noise_seeds,
            metrics=list(f.metrics), id_net=f.id_net, id_weights=f.id_weights, k=f.k,
            lpips_weights=f.lpips_weights, inception_weights=f.inception_weights,
            command=options.command_line())
        options.check_options(opts)
        if f.learning_curve:
            if not f.run_dir:
                raise UserError("--learning_curve needs --run_dir")
            return learning_curve(opts, f)
        if f.model and f.run_dir:
            raise UserError("give --model or --run_dir, not both")
        return evaluate(opts, f)

    return cli.run_experiment(body)


if __name__ == "__main__":
    cli.run(main)
