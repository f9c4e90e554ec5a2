r"""Table 6 / Fig. 9: the number n of encoder->decoder skip connections.

    python -m experiments.skip_ablation --preset=tiny --workdir=runs/skip_ablation \
        --steps=3000 --skips=0,1,2,3
    python -m experiments.skip_ablation --preset=paper_512 --workdir=runs/table6 \
        --data_dir=/data/ffhq512 --eval_dir=/data/celeba_test512 --num_seeds=3 \
        --lpips_weights=lpips_vgg.npz

Trains one model per n in ``--skips`` (``model.num_skips = n``; runs in
``WORKDIR/skips<n>/seed<k>``, reused when finished), evaluates each on the same
degraded inputs (EMA generator, zero noise) and writes ``WORKDIR/results.md``,
``results.csv``, ``fig9_grid.png`` (input | n=... | GT) and ``table6_plot.png``.
A value of n that the resolution cannot have (e.g. 6 at 64 px, which only has
the 8/16/32 px skip nodes) is reported as skipped, with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from experiments import common

FLAGS = flags.FLAGS
common.define_flags()
common.list_flag("skips", [0, 1, 2, 4, 6], "Values of model.num_skips to compare (Table 6).")

# [paper, Table 6] n: (PSNR, PSNR std, LPIPS, SSIM, FID, iPrecision)
PAPER_TABLE6 = {
    0: (21.16, 0.45, 0.3358, 0.5754, 24.30, 0.321),
    1: (24.75, 0.12, 0.3098, 0.6668, 20.49, 0.902),
    2: (26.15, 0.04, 0.2543, 0.6915, 19.17, 0.945),
    4: (27.43, 0.03, 0.2349, 0.7316, 19.19, 0.982),
    6: (27.07, 0.04, 0.3112, 0.6707, 27.17, 0.931),
}
KEYS = ("psnr", "lpips", "ssim", "fid", "iprecision")


def run_experiment(opts: common.ExpOptions, skips=(0, 1, 2, 4, 6)) -> dict:
    """Trains/evaluates every n in ``skips``; returns {"rows", "results_md", ...}."""
    workdir = Path(opts.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg0 = common.base_config(opts)
    nodes = common.available_skips(cfg0.model.resolution)
    evalset = common.build_eval_set(cfg0, opts.eval_dir, opts.num_eval_degradations,
                                    opts.num_eval_faces)
    scorer = common.Scorer(opts, opts.num_eval_degradations, cache_dir=workdir)
    variants, skipped = [], {}
    for n in [int(s) for s in skips]:
        if n > len(nodes) or n < 0:
            skipped[n] = (f"resolution {cfg0.model.resolution} px has only {len(nodes)} skip "
                          f"node(s) {tuple(nodes)}; n = {n} is impossible")
            print(f"skipping n={n}: {skipped[n]}", flush=True)
            continue
        variants.append((common.skip_variant_name(n), {"model.num_skips": n}))
    reports = common.run_variants(opts, variants, evalset, scorer, cfg0)
    base = common.score_degraded(workdir, evalset, scorer)

    rows, table = [], []
    na = scorer.na_reasons()
    for n in [int(s) for s in skips]:
        if n in skipped:
            rows.append({"variant": f"n={n}", "num_skips": n, "status": "skipped: " + skipped[n]})
            table.append([str(n)] + ["skipped"] * 5)
            continue
        reps = reports[common.skip_variant_name(n)]
        vals = {k: [common.metric_value(r, k) for r in reps] for k in KEYS}
        psnrs = [v for v in vals["psnr"] if v is not None]
        row = {"variant": f"n={n}", "num_skips": n, "status": "ok", "seeds": len(reps),
               "psnr_mean": common.mean_or_none(vals["psnr"]),
               "psnr_std": float(np.std(psnrs, ddof=1)) if len(psnrs) > 1 else None,
               "steps": reps[0]["train"]["step"], "eval_images": len(evalset),
               "irecall": common.mean_or_none(common.metric_value(r, "irecall") for r in reps)}
        for k in KEYS[1:]:
            row[k] = common.mean_or_none(vals[k])
        rows.append(row)
        table.append([str(n), common.fmt_pm(vals["psnr"]), common.fmt(row["lpips"]),
                      common.fmt(row["ssim"]), common.fmt(row["fid"], 2),
                      common.fmt(row["iprecision"], 3)])
    base_row = {"variant": "degraded input", "status": "baseline",
                **{k: common.metric_value(base, k) for k in KEYS}}
    base_row["psnr_mean"] = base_row.pop("psnr")
    rows.append(base_row)
    table.append(["input", common.fmt(base_row["psnr_mean"], 2), common.fmt(base_row["lpips"]),
                  common.fmt(base_row["ssim"]), common.fmt(base_row["fid"], 2),
                  common.fmt(base_row["iprecision"], 3)])

    files = {}
    files["grid"] = _fig9(workdir / "fig9_grid.png", evalset, reports, skips, skipped)
    files["plot"] = _plot(workdir / "table6_plot.png", rows, cfg0)
    all_reps = [r for reps in reports.values() for r in reps] + [base]
    reasons = common.collect_na(all_reps, KEYS, na)
    header = ["No. (n skips)", "PSNR↑ (mean ± std over seeds)", "LPIPS↓", "SSIM↑", "FID↓",
              "iPrecision↑"]
    paper = [[str(n), f"{p[0]:.2f} ± {p[1]:.2f}", f"{p[2]:.4f}", f"{p[3]:.4f}", f"{p[4]:.2f}",
              f"{p[5]:.3f}"] for n, p in PAPER_TABLE6.items()]
    lines = common.header_lines("Table 6: impact of the number of skip connections", cfg0, opts,
                                evalset)
    lines += ["## Ours (this run)", "", common.markdown_table(header, table)]
    lines += common.na_footnotes(reasons)
    if skipped:
        lines += ["", "Skipped variants:"] + [f"- n = {n}: {why}" for n, why in skipped.items()]
    lines += ["", "## Paper (quoted), Table 6", "", common.markdown_table(header, paper), "",
              common.PAPER_NOTE, "",
              f"Figures: `{files['grid'].name}` (Fig. 9 layout: input | n = ... | GT), "
              f"`{files['plot'].name}`."]
    md = common.write_text(workdir / "results.md", lines)
    csv = common.write_csv(workdir / "results.csv", rows,
                           ["variant", "num_skips", "status", "seeds", "steps", "eval_images",
                            "psnr_mean", "psnr_std", "lpips", "ssim", "fid", "iprecision",
                            "irecall"])
    print(common.markdown_table(header, table))
    print(f"wrote {md}, {csv}, {files['grid']}, {files['plot']}")
    return {"rows": rows, "results_md": md, "results_csv": csv, "reports": reports, **files}


def _fig9(path, evalset, reports, skips, skipped, faces: int = 3):
    idx = list(range(min(faces, len(evalset))))
    cols = ["input"] + [f"n={int(n)}" for n in skips if int(n) not in skipped] + ["GT"]
    rows = []
    for i in idx:
        row = [evalset.degraded[i]]
        row += [reports[common.skip_variant_name(int(n))][0]["restored_array"][i]
                for n in skips if int(n) not in skipped]
        row.append(evalset.target[i])
        rows.append(row)
    return common.save_labeled_grid(path, rows, cols)


def _plot(path, rows, cfg):
    ok = [r for r in rows if r.get("status") == "ok"]

    def draw(fig, ax):
        ns = [r["num_skips"] for r in ok]
        ax.errorbar(ns, [r["psnr_mean"] for r in ok],
                    yerr=[r["psnr_std"] or 0.0 for r in ok], marker="o", label="ours PSNR")
        pn = [n for n in PAPER_TABLE6]
        ax.plot(pn, [PAPER_TABLE6[n][0] for n in pn], "s--", color="gray",
                label="paper PSNR (quoted, 512 px)")
        ax.set_xlabel("number of skip connections n")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"Table 6 ({cfg.name}, {cfg.model.resolution} px, {cfg.train.steps} steps)",
                     fontsize=9)
        ip = [(r["num_skips"], r["iprecision"]) for r in ok if r.get("iprecision") is not None]
        if ip:
            ax2 = ax.twinx()
            ax2.plot([a for a, _ in ip], [b for _, b in ip], "^-", color="tab:red",
                     label="ours iPrecision")
            ax2.set_ylabel("iPrecision", color="tab:red")
            ax2.set_ylim(0, 1.05)
        ax.legend(fontsize=7, loc="lower right")

    return common.plot(path, draw)


def main(argv):
    del argv
    return common.run_main(lambda opts: run_experiment(opts, [int(s) for s in FLAGS.skips]))


if __name__ == "__main__":
    app.run(main)
