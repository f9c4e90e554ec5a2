r"""Table 8: blind face restoration, our model next to other methods.

    # train our model here (tiny, CPU), then score it
    python -m experiments.bfr_comparison --preset=tiny --workdir=runs/table8 --steps=3000
    # a model trained elsewhere, plus other methods' outputs
    python -m experiments.bfr_comparison --workdir=runs/table8 --run_dir=runs/paper \
        --eval_dir=/data/celeba_test512 \
        --method=GFPGAN=/out/gfpgan --method=GPEN=/out/gpen --lpips_weights=lpips_vgg.npz

Every method is scored by the same evaluation suite
(:func:`faceres_tf.evaluate.evaluate_folders`) against the same ground truth:

* Without ``--lq_dir`` the inputs are synthesised: each face of ``--eval_dir``
  degraded with ``--num_eval_degradations`` fixed seeds (the model's data
  config). They are written to ``WORKDIR/eval/degraded/<stem>__d<d>.png`` with
  the ground truth in ``WORKDIR/eval/gt/`` and ``WORKDIR/eval/ids.csv``: run
  the other tools on ``WORKDIR/eval/degraded/`` and pass their output folders
  with ``--method NAME=DIR`` (files named like the inputs; any size, resized to
  the ground truth's).
* With ``--lq_dir`` its images (same stems as ``--eval_dir``) are the inputs.

Our model: ``--run_dir`` (a run of ``experiments.train``) or, without it, a
model trained here in ``WORKDIR/rdfr/seed0`` (reused when finished). The
paper's published rows are shown beside, labelled quoted.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags

from experiments import common

FLAGS = flags.FLAGS
common.define_flags()
if "run_dir" not in FLAGS:
    flags.DEFINE_string("run_dir", None, "Trained run to evaluate as 'Ours' (default: train one).")
if "method" not in FLAGS:
    flags.DEFINE_multi_string("method", [], "NAME=DIR: another method's restored images.")
if "lq_dir" not in FLAGS:
    flags.DEFINE_string("lq_dir", None, "Degraded inputs (same stems as --eval_dir); default: "
                        "synthesise them from --eval_dir.")

# [paper, Table 8] method: (PSNR, LPIPS, iPrecision, preference %)
PAPER_TABLE8 = {"DFDNet": (23.68, 0.434, 0.462, 3.2), "GFPGAN": (24.19, 0.296, 0.711, 5.3),
                "GPEN": (23.91, 0.331, 0.773, 15.1), "RDFR (paper)": (28.01, 0.205, 0.943, 76.41)}
KEYS = ("psnr", "lpips", "iprecision", "ssim", "fid")


def parse_methods(items) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--method expects NAME=DIR, got {item!r}")
        name, folder = (s.strip() for s in item.split("=", 1))
        if not Path(folder).is_dir():
            raise ValueError(f"--method {name}: {folder} is not a folder of restored images")
        out[name] = folder
    return out


def run_experiment(opts: common.ExpOptions, run_dir=None, methods=None, lq_dir=None) -> dict:
    methods = dict(methods or {})
    for name, folder in methods.items():
        if not Path(folder).is_dir():
            raise ValueError(f"method {name}: {folder} is not a folder of restored images")
    workdir = Path(opts.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if run_dir is None:
        cfg = common.variant_config(common.base_config(opts), {}, 0)
        run_dir = common.run_dir_of(workdir, "rdfr", 0)
        common.ensure_trained(cfg, run_dir, opts)
        source = f"trained here in `{run_dir}`"
    else:
        from faceres_tf.training.run_dir import load_config

        cfg = load_config(run_dir)
        source = f"`{run_dir}` (step {common.checkpoint_step(run_dir)})"
    ndeg = 1 if lq_dir else opts.num_eval_degradations
    evalset = common.build_eval_set(cfg, opts.eval_dir, ndeg, opts.num_eval_faces, lq_dir=lq_dir)
    scorer = common.Scorer(opts, ndeg, cache_dir=workdir)
    inputs = common.write_eval_folders(workdir / "eval", evalset, evalset.degraded)
    from faceres_tf.training import load_generator

    gen, _ = load_generator(run_dir, use_ema=True)
    restored = common.restore_batches(gen, evalset.degraded)
    ours_dir = common.write_pngs(workdir / "ours" / "restored", evalset.names, restored)
    entries = [("RDFR (ours, this run)", ours_dir)] + list(methods.items())
    entries.append(("input (degraded)", inputs["degraded"]))
    rows, table, reports = [], [], []
    for name, folder in entries:
        rep = scorer.score(folder, inputs["gt"], ids_csv=inputs["ids"])
        reports.append(rep)
        row = {"method": name, "dir": str(folder), "n_pairs": rep.get("n_pairs", 0),
               "unmatched_gt": len(rep.get("unmatched_gt", [])),
               **{k: common.metric_value(rep, k) for k in KEYS}}
        rows.append(row)
        table.append([name, common.fmt(row["psnr"], 2), common.fmt(row["lpips"], 3),
                      common.fmt(row["iprecision"], 3), common.fmt(row["ssim"], 4),
                      common.fmt(row["fid"], 2), "n/a", str(row["n_pairs"])])
        print(f"{name}: " + ", ".join(f"{k} {common.fmt(row[k])}" for k in KEYS), flush=True)
    reasons = common.collect_na(reports, KEYS, scorer.na_reasons())
    reasons["Preference"] = "a human study (paper appendix D); not measurable by this code"
    header = ["Methods", "PSNR↑", "LPIPS↓", "iPrecision↑", "SSIM↑", "FID↓", "Preference (%)↑",
              "pairs"]
    paper = [[n, f"{v[0]:.2f}", f"{v[1]:.3f}", f"{v[2]:.3f}", "-", "-", f"{v[3]:.2f}", "-"]
             for n, v in PAPER_TABLE8.items()]
    n_show = min(3, len(evalset))
    grid = common.save_labeled_grid(
        workdir / "grid.png",
        [[evalset.degraded[i], restored[i], evalset.target[i]] for i in range(n_show)],
        ["input", "RDFR (ours)", "GT"])
    lines = common.header_lines("Table 8: comparison on blind face restoration", cfg, opts,
                                evalset, [f"our model: {source}",
                                          "inputs for other tools: `eval/degraded/`; ground "
                                          "truth: `eval/gt/`; identities: `eval/ids.csv`"])
    lines += ["## Ours (this run): every row scored by the same suite on the same ground truth",
              "", common.markdown_table(header, table)]
    lines += common.na_footnotes(reasons)
    missing = [r for r in rows if r["unmatched_gt"]]
    if missing:
        lines += ["", "Incomplete method folders (ground truths without a restored file; "
                  "scored on the pairs present):"]
        lines += [f"- {r['method']}: {r['unmatched_gt']} missing" for r in missing]
    lines += ["", "## Paper (quoted), Table 8", "", common.markdown_table(header, paper), "",
              common.PAPER_NOTE, "", f"Figure: `{grid.name}` (input | ours | GT)."]
    md = common.write_text(workdir / "results.md", lines)
    csv = common.write_csv(workdir / "results.csv", rows,
                           ["method", "dir", "n_pairs", "unmatched_gt", *KEYS])
    print(common.markdown_table(header, table))
    print(f"wrote {md}, {csv}, {grid}")
    return {"rows": rows, "results_md": md, "results_csv": csv, "grid": grid}


def main(argv):
    del argv
    return common.run_main(lambda opts: run_experiment(opts, FLAGS.run_dir, parse_methods(FLAGS.method), FLAGS.lq_dir))


if __name__ == "__main__":
    app.run(main)
