r"""Table 8: blind face restoration, our model next to other methods.

    # train our model here (tiny, CPU), then score it
    python -m experiments.bfr_comparison --preset=tiny --workdir=runs/table8 --steps=3000
    # a model trained elsewhere, plus other methods' outputs
    python -m experiments.bfr_comparison --workdir=runs/table8 --run_dir=runs/paper \
        --eval_dir=/data/celeba_test512 \
        --method=GFPGAN=/out/gfpgan --method=GPEN=/out/gpen --lpips_weights=lpips_vgg.npz

Every method is scored by the same protocol (experiments.scoring) against
the same N distinct ground-truth faces:

* Without --lq_dir the inputs are synthesised (each face of --eval_dir
  degraded with --num_eval_degradations fixed seeds, the model's data config)
  and written to WORKDIR/eval_inputs/degraded/<stem>__d<d>.png (ground truth in
  eval_inputs/gt/<stem>.png): run the other tools on eval_inputs/degraded/ and
  pass their output folders with --method NAME=DIR (files named like the
  inputs; any size, resized to the ground truth's).
* With --lq_dir its images (same stems as --eval_dir) are the inputs (D = 1).

Our model: --run_dir (a run of faceres-train) or, without it, a model
trained here in WORKDIR/rdfr/seed0 (reused when finished); it is evaluated
with zero noise and --num_noise_seeds noise draws. The paper's published rows
are shown beside, labelled quoted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import flags
from PIL import Image

from experiments import cli, options, reports
from experiments.cli import UserError
from experiments.evalset import EvalSet, write_inputs
from experiments.run_eval import evaluate_run, prepare_evaluation, summarize
from experiments.runs import RunKeeper, check_trainable, latest_step, plan_run
from faceres_tf.evaluate import images_by_stem
from faceres_tf.image_io import read_rgb

options.define_training_flags()
options.define_eval_flags()
options.define_run_dir_flag()  # 'Ours'; default: train one here
flags.DEFINE_multi_string("method", [], "NAME=DIR: another method's restored images "
                          "(repeatable).")
flags.DEFINE_string("lq_dir", None, "Degraded inputs (same stems as --eval_dir); default: "
                    "synthesise them from --eval_dir.")
flags.adopt_module_key_flags(options)

# [paper, Table 8] method: (PSNR, LPIPS, iPrecision, preference %)
PAPER_TABLE8 = {"DFDNet": (23.68, 0.434, 0.462, 3.2), "GFPGAN": (24.19, 0.296, 0.711, 5.3),
                "GPEN": (23.91, 0.331, 0.773, 15.1), "RDFR (paper)": (28.01, 0.205, 0.943, 76.41)}
KEYS = ("psnr", "lpips", "iprecision", "ssim", "fid")
HEADER = ["Methods", "PSNR↑", "LPIPS↓", "iPrecision↑", "SSIM↑", "FID↓", "Preference (%)↑",
          "images"]


def parse_methods(items) -> dict:
    """``NAME=DIR`` strings -> {name: folder}; a malformed item is a :class:`UserError`."""
    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--method expects NAME=DIR, got {item!r}")
        name, folder = (s.strip() for s in item.split("=", 1))
        if not Path(folder).is_dir():
            raise UserError(f"--method {name}: {folder} is not a folder of restored images")
        out[name] = folder
    return out


def read_method(folder, evalset: EvalSet) -> tuple:
    """A method's outputs: uint8 (D, N, R, R, 3), the (D, N) mask of usable
    files, and the names of unreadable files with the reason."""
    files = images_by_stem(Path(folder))
    r = evalset.target.shape[1]
    images = np.zeros(evalset.degraded.shape, np.uint8)
    valid = np.zeros(evalset.degraded.shape[:2], bool)
    unreadable = []
    for d in range(evalset.num_degradations):
        for i, stem in enumerate(evalset.stems):
            path = files.get(f"{stem}__d{d}")
            if path is None:
                continue
            try:
                im = read_rgb(path)
            except ValueError as e:
                unreadable.append(f"{path.name}: {reports.short_reason(e)}")
                continue
            if im.shape[:2] != (r, r):
                im = np.asarray(Image.fromarray(im).resize((r, r), Image.BICUBIC))
            images[d, i], valid[d, i] = im, True
    return images, valid, unreadable


def our_model(opts: options.ExpOptions, run_dir):
    """(run, config, description) of 'Ours': ``run_dir`` or a run trained here."""
    from faceres_tf.training.run_dir import load_config  # loads TensorFlow: only once the flags are parsed

    if run_dir is None:
        cfg = options.variant_config(options.base_config(opts), {}, 0)
        run = plan_run("rdfr", 0, cfg, opts.workdir)
        check_trainable([run])
        return run, cfg, f"trained here in `{run.run_dir}`"
    try:
        cfg = load_config(run_dir)
    except FileNotFoundError as e:
        raise UserError(e) from None
    if latest_step(run_dir) == 0:
        raise UserError(f"--run_dir {run_dir} has no checkpoint; train it first.")
    return None, cfg, f"`{run_dir}` (step {latest_step(run_dir)})"


def run_experiment(opts: options.ExpOptions, run_dir=None, methods=None, lq_dir=None) -> dict:
    from faceres_tf.image_io import float_to_uint8

    methods = parse_methods(f"{k}={v}" for k, v in (methods or {}).items())
    run, cfg, source = our_model(opts, run_dir)
    evalset, scorer = prepare_evaluation(opts, cfg, lq_dir)
    write_inputs(Path(opts.workdir) / "eval_inputs", evalset)
    if run is not None:
        RunKeeper(opts).ensure_trained(run)
        run_dir = run.run_dir
    ours = evaluate_run(run_dir, evalset, scorer, opts.num_noise_seeds,
                              use_ema=opts.ema)
    rows = [_row("RDFR (ours, this run)", str(run_dir), [ours], len(evalset))]
    notes = []
    for name, folder in methods.items():
        images, valid, unreadable = read_method(folder, evalset)
        rows.append(_row(name, folder, scorer.score(images, valid), int(valid.sum())))
        notes += [f"{name}: {len(evalset) - int(valid.sum())} of {len(evalset)} inputs have no "
                  "usable output (scored on the rest)"] if not valid.all() else []
        notes += [f"{name}: unreadable {u}" for u in unreadable[:5]]
    base = scorer.score(float_to_uint8(evalset.degraded))
    rows.append(_row("input (degraded)", "eval_inputs/degraded", base, len(evalset)))
    scores = [sc for _, sc in ours.scores] + [base]
    return _write(opts, cfg, evalset, scorer, rows, scores, ours, source, notes)


def _row(name, folder, result, images) -> dict:
    """A table row from a :class:`RunEval` list (ours) or one Score (others)."""
    row = {"method": name, "dir": str(folder), "images": images}
    for k in KEYS:
        if isinstance(result, list):
            s = summarize(result, k)
            row[k], row[f"{k}_std_noise"], row[f"{k}_zero_noise"] = (s["mean"], s["std_noise"],
                                                                     s["zero"])
        else:
            row[k] = result.value(k)
    return row


def _write(opts, cfg, evalset, scorer, rows, scores, ours, source, notes) -> dict:
    workdir = Path(opts.workdir)
    table = [[r["method"], reports.fmt_metric("psnr", r["psnr"], r.get("psnr_std_noise")),
              reports.fmt(r["lpips"], 3), reports.fmt(r["iprecision"], 3),
              reports.fmt(r["ssim"], 4), reports.fmt(r["fid"], 2), "n/a", str(r["images"])]
             for r in rows]
    reasons = reports.collect_na(scores, KEYS, scorer.na_reasons())
    reasons["Preference"] = "a human study (paper appendix D); not measurable by this code"
    paper = [[n, f"{v[0]:.2f}", f"{v[1]:.3f}", f"{v[2]:.3f}", "-", "-", f"{v[3]:.2f}", "-"]
             for n, v in PAPER_TABLE8.items()]
    grid = reports.save_labeled_grid(
        workdir / "grid.png", [[evalset.degraded[0, i], ours.sample[0, i], evalset.target[i]]
                               for i in range(min(3, evalset.num_faces))],
        ["input", "RDFR (ours)", "GT"])
    lines = reports.header_lines("Table 8: comparison on blind face restoration", cfg, opts,
                                 evalset, [f"our model: {source}",
                                           "inputs for other tools: `eval_inputs/degraded/`; "
                                           "ground truth: `eval_inputs/gt/`"])
    lines += ["## Ours (this run): every row scored by the same protocol on the same ground "
              "truth", "", reports.markdown_table(HEADER, table)]
    lines += reports.na_footnotes(reasons)
    if notes:
        lines += ["", "Incomplete method folders:"] + [f"- {n}" for n in notes]
    lines += ["", "## Paper (quoted), Table 8", "", reports.markdown_table(HEADER, paper), "",
              reports.PAPER_NOTE, "", f"Figure: `{grid.name}` (input | ours | GT)."]
    md = reports.write_text(workdir / "results.md", lines)
    csv = reports.write_csv(workdir / "results.csv", rows)
    print(reports.markdown_table(HEADER, table))
    print(f"wrote {md}, {csv}, {grid}")
    return {"rows": rows, "results_md": md, "results_csv": csv, "grid": grid}


def main(argv):
    del argv
    f = flags.FLAGS
    return cli.run_experiment(lambda: run_experiment(
        options.options_from_flags(), f.run_dir, parse_methods(f.method), f.lq_dir))


if __name__ == "__main__":
    cli.run_driver(main)
