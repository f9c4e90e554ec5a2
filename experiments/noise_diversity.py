r"""Appendix C.2 / Fig. 10: how the decoder's noise changes a restoration.

    python -m experiments.noise_diversity --preset=tiny --workdir=runs/skip_ablation \
        --steps=3000 --skips=0,1,2,3 --num_noise_seeds=3

For every n in --skips, the model with model.num_skips = n (training seed 0,
WORKDIR/skips<n>/seed0: the runs of experiments.skip_ablation with the same
--workdir and --steps, reused) restores the same degraded inputs with
--num_noise_seeds noise draws (draw s gives every input its own noise seed,
experiments.evalset.draw_seeds). Reported per n [ours, the paper gives no
numbers]:

* pixel_std: per-pixel standard deviation across the draws (RGB, 0-255),
  averaged over pixels and inputs: 0 means the noise has no effect.
* pairwise_lpips: mean LPIPS between the draws of one input (needs
  --lpips_weights; n/a otherwise).
* id_dist_gt: mean L2 distance between the identity embedding (dlib, 128-d;
  same person usually < 0.6) of each draw and of its ground truth.
* id_dist_between: mean identity distance between the draws of one input.
* psnr: mean PSNR of the draws against the ground truth.

Paper's claim (C.2): fewer skips give more diverse samples at the cost of
identity; the influence of noise diminishes with more skips. Writes
WORKDIR/noise_results.md, noise_results.csv, fig10_grid.png and noise_plot.png.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from absl import flags

from experiments import cli, options, reports
from experiments.cli import UserError
from experiments.evalset import EvalSet, restore, write_pngs
from experiments.run_eval import prepare_evaluation
from experiments.runs import RunKeeper, plan_variants
from experiments.scoring import Scorer
from experiments.variant_table import skip_variants, sweep_main

options.define_training_flags()
options.define_eval_flags()
options.define_skips_flag()
flags.adopt_module_key_flags(options)

FIELDS = ("pixel_std", "pairwise_lpips", "id_dist_gt", "id_dist_between", "psnr")
HEADER = ["n skips", "pixel std across draws (0-255)", "pairwise LPIPS", "identity dist. to GT↓",
          "identity dist. between draws", "PSNR↑ (mean over draws)"]
PAPER_TEXT = ("No numbers: \"(i) The influence of noises diminishes with more skip connections "
              "as seen in Table 6. (ii) Less number of skip connections can generate more "
              "diverse images at the cost of sacrificing face identities, as seen in Table 6 and "
              "Figure 10.\" Expected here: pixel std and identity distance to GT falling as n "
              "grows.")
CSV_FIELDS = ["variant", "num_skips", "status", "steps", "noise_seeds", "eval_images", *FIELDS]


def run_experiment(opts: options.ExpOptions, skips=(0, 1, 2, 4, 6),
                   results_name: str = "noise_results") -> dict:
    """Restores with ``opts.num_noise_seeds`` draws per n in ``skips`` and reports diversity."""
    if opts.num_noise_seeds < 2:
        raise UserError("--num_noise_seeds must be >= 2 to measure diversity")
    cfg0 = options.base_config(opts)
    variants = skip_variants([int(n) for n in skips], cfg0.model.resolution)
    plans = plan_variants(variants, cfg0, opts.workdir, [0])  # training seed 0
    evalset, scorer = prepare_evaluation(opts, cfg0)
    workdir = Path(opts.workdir)
    keeper = RunKeeper(opts)
    rows, samples = [], {}
    for v in variants:
        if v.skipped is not None:
            rows.append({"variant": v.label, **v.fields, "status": "skipped: " + v.skipped})
            continue
        run = plans[v.name][0]
        info = keeper.ensure_trained(run)
        draws = _draws(run.run_dir, evalset, opts.num_noise_seeds, opts.ema)
        samples[v.label] = draws
        row = {"variant": v.label, **v.fields, "status": "ok", "steps": info["step"],
               "noise_seeds": len(draws), "eval_images": len(evalset)}
        row.update(diversity(draws, evalset, scorer))
        rows.append(row)
        print(f"{v.name}: " + ", ".join(f"{k} {row[k]:.4f}" for k in FIELDS
                                        if row.get(k) is not None), flush=True)
    return _write(opts, cfg0, evalset, scorer, rows, samples, workdir, results_name)


def _draws(run_dir, evalset: EvalSet, num_draws: int, use_ema: bool = True) -> list:
    """S restorations, uint8 (D, N, R, R, 3) each, also written as PNGs."""
    from faceres_tf.training import load_generator  # loads TensorFlow: only once the flags are parsed

    generator, _ = load_generator(run_dir, use_ema=use_ema)
    draws = [restore(generator, evalset, s) for s in range(num_draws)]
    for s, images in enumerate(draws):
        write_pngs(Path(run_dir) / "eval" / f"noise_draw{s}", evalset.names, images)
    return draws


def diversity(draws: list, evalset: EvalSet, scorer: Scorer) -> dict:
    """The C.2 numbers of one model's draws (see the module doc); missing ones are None."""
    from faceres_tf.metrics.scorer import score_set

    stack = np.stack(draws)  # (S, D, N, R, R, 3) uint8
    flat = stack.reshape((len(draws), -1) + stack.shape[-3:])  # (S, D*N, R, R, 3)
    face_of = np.tile(np.arange(evalset.num_faces), evalset.num_degradations)  # flat input -> face
    targets = scorer.target[face_of]
    pairs = list(itertools.combinations(range(len(draws)), 2))
    out = {"pixel_std": float(stack.astype(np.float64).std(axis=0, ddof=1).mean()),
           "psnr": score_set(flat.reshape((-1,) + flat.shape[-3:]),
                             np.tile(targets, (len(draws), 1, 1, 1)), ("psnr",)).metrics["psnr"],
           "pairwise_lpips": None, "id_dist_gt": None, "id_dist_between": None}
    model, _ = scorer.lpips_model() if "lpips" in scorer.opts.metrics else (None, None)
    if model is not None:
        out["pairwise_lpips"] = float(np.mean([model.distance_uint8(flat[a], flat[b]).mean()
                                               for a, b in pairs]))
    real, _ = scorer.real_features()
    if real is not None:
        emb, _ = scorer.identity_embedder()
        e = np.stack([emb.embed(list(d)) for d in flat])  # (S, D*N, F)
        out["id_dist_gt"] = float(np.nanmean(np.linalg.norm(e - real[face_of][None], axis=-1)))
        out["id_dist_between"] = float(np.nanmean([np.linalg.norm(e[a] - e[b], axis=-1)
                                                   for a, b in pairs]))
    return out


def _na_reasons(opts, scorer: Scorer) -> dict:
    reasons = {}
    if "lpips" not in opts.metrics:
        reasons["pairwise_lpips"] = "not requested in --metrics"
    elif scorer.lpips_model()[0] is None:
        reasons["pairwise_lpips"] = scorer.lpips_model()[1]
    if scorer.real_features()[0] is None:
        reasons["id_dist_gt / id_dist_between"] = scorer.real_features()[1]
    return reasons


def c2_protocol_line(opts) -> str:
    """What the C.2 table's columns are (it has no ± and no iPrecision)."""
    return (f"restoration: EMA generator, S = {opts.num_noise_seeds} noise draws (fresh N(0, 1) "
            "noise per input and draw, as in training); columns: pixel std across the draws "
            "(0-255, ddof 1, mean over pixels and inputs), LPIPS between draws (mean over "
            f"pairs of draws), `{opts.id_net}` identity distance of each draw to its ground "
            "truth and between draws (means), PSNR (mean over draws and inputs)")


def _write(opts, cfg0, evalset, scorer, rows, samples, workdir, results_name) -> dict:
    table = []
    for r in rows:
        if r["status"] != "ok":
            table.append([str(r["num_skips"])] + ["skipped"] * (len(HEADER) - 1))
            continue
        table.append([str(r["num_skips"]), reports.fmt(r["pixel_std"], 3),
                      reports.fmt(r["pairwise_lpips"]), reports.fmt(r["id_dist_gt"]),
                      reports.fmt(r["id_dist_between"]), reports.fmt(r["psnr"], 2)])
    grid = _fig10(workdir / "fig10_grid.png", evalset, samples, opts.num_noise_seeds)
    plot = _plot(workdir / "noise_plot.png", [r for r in rows if r["status"] == "ok"], cfg0)
    lines = reports.header_lines(
        "Appendix C.2: the impact of noise (diversity vs identity)", cfg0, opts, evalset,
        [f"noise draws per input: {opts.num_noise_seeds} (draw s: seed s * inputs + input "
         "index); training seed 0"], protocol=c2_protocol_line(opts))
    lines += ["## Ours (this run)", "", reports.markdown_table(HEADER, table)]
    lines += reports.na_footnotes(_na_reasons(opts, scorer))
    skipped = [r for r in rows if r["status"] != "ok"]
    if skipped:
        lines += ["", "Skipped variants:"] + [f"- {r['variant']}: {r['status'][9:]}"
                                              for r in skipped]
    lines += ["", "## Paper (quoted), appendix C.2", "", PAPER_TEXT, "", reports.PAPER_NOTE, "",
              f"Figures: `{grid.name}` (Fig. 10 layout, one row per n: input | draw 0 | "
              f"draw 1 | ... | GT), `{plot.name}`."]
    md = reports.write_text(workdir / f"{results_name}.md", lines)
    csv = reports.write_csv(workdir / f"{results_name}.csv", rows, CSV_FIELDS)
    print(reports.markdown_table(HEADER, table))
    print(f"wrote {md}, {csv}, {grid}, {plot}")
    return {"rows": rows, "results_md": md, "results_csv": csv, "grid": grid, "plot": plot}


def _fig10(path, evalset: EvalSet, samples: dict, num_draws: int, face: int = 0):
    cols = ["input"] + [f"draw {s}" for s in range(num_draws)] + ["GT"]
    rows = [[evalset.degraded[0, face]] + [d[0, face] for d in draws] + [evalset.target[face]]
            for draws in samples.values()]
    return reports.save_labeled_grid(path, rows, cols, list(samples))


def _plot(path, rows, cfg):
    def draw(fig, ax):
        ax.plot([r["num_skips"] for r in rows], [r["pixel_std"] for r in rows], "o-",
                label="pixel std across noise draws")
        ax.set_xlabel("number of skip connections n")
        ax.set_ylabel("pixel std (0-255)")
        ax.set_title(f"C.2 noise diversity ({cfg.name}, {cfg.model.resolution} px)", fontsize=9)
        reports.plot_right_axis(ax, rows, "num_skips", "id_dist_gt", "identity distance to GT",
                                "identity distance to GT")
        ax.legend(fontsize=7, loc="upper right")

    return reports.plot(path, draw)


main = sweep_main(run_experiment, "skips", options.int_list)


if __name__ == "__main__":
    cli.run_driver(main)
