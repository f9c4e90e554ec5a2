r"""Table 7: adversarial data augmentation off / on.

    python -m experiments.adv_augmentation --preset=tiny --workdir=runs/table7 --steps=3000
    python -m experiments.adv_augmentation --preset=cpu_128 --workdir=runs/table7_128 \
        --data_dir=../shared/data/faces_train --eval_dir=../shared/data/faces_val \
        --steps=1200 --num_seeds=2 --num_noise_seeds=3 --metrics=psnr,ssim,lpips,ipr \
        --set=train.ema_half_life_images=1000 --set=train.ckpt_every=300 --quiet
    python -m experiments.adv_augmentation --preset=paper_512 --workdir=runs/table7 \
        --data_dir=/data/ffhq512 --eval_dir=/data/celeba_test512 --lpips_weights=lpips_vgg.npz

Trains loss.adv_aug = False (row N, WORKDIR/adv_aug_off/seed<k>) and True
(row Y, WORKDIR/adv_aug_on/seed<k>; the augmentation policy is
loss.adv_aug_policy, DiffAugment-style [ours: the paper does not define it]),
every run to the same --steps, for --num_seeds training seeds each; evaluates
all on the same degraded inputs (zero noise and --num_noise_seeds noise
draws) and writes WORKDIR/results.md (mean over draws and seeds, ± over the
draws, std over the seeds, and the effect Y - N beside the paper's),
results.csv, results_draws.csv, eval_features/<variant>_seed<k>.npz, grid.png
and plot.png. Rerunning reuses finished runs and resumes interrupted ones
(experiments/README.md, "Table 7 and C.4 at 128 px").
"""

from __future__ import annotations

import math

from absl import flags

from experiments import cli, options, reports
from experiments.variant_table import TableSpec, Variant, run_table

options.define_training_flags()
options.define_eval_flags()
flags.adopt_module_key_flags(options)

# [paper, Table 7] Adv. Aug.: PSNR, SSIM, LPIPS, FID
PAPER_TABLE7 = {"N": (26.48, 0.7021, 0.2574, 20.22), "Y": (26.89, 0.7134, 0.2452, 19.77)}
KEYS = ("psnr", "ssim", "lpips", "fid")
EFFECT_KEYS = KEYS + ("iprecision",)
VARIANTS = (Variant("adv_aug_off", "N", {"loss.adv_aug": False}, {"adv_aug": "N"}),
            Variant("adv_aug_on", "Y", {"loss.adv_aug": True}, {"adv_aug": "Y"}))


def run_experiment(opts: options.ExpOptions) -> dict:
    paper = [[k, f"{v[0]:.2f}", f"{v[1]:.4f}", f"{v[2]:.4f}", f"{v[3]:.2f}"]
             for k, v in PAPER_TABLE7.items()]
    return run_table(opts, TableSpec(
        title="Table 7: impact of adversarial data augmentation", variants=VARIANTS, keys=KEYS,
        first_col="Adv. Aug.", paper_title="Table 7", paper_rows=paper,
        extra_fields=("adv_aug",), plot_fn=_plot, seed_keys=("psnr", "ssim", "lpips"),
        sections_fn=effect_section))


def paper_effect(key: str):
    """The paper's Y - N for ``key`` (None where Table 7 has no column)."""
    if key not in KEYS:
        return None
    i = KEYS.index(key)
    return PAPER_TABLE7["Y"][i] - PAPER_TABLE7["N"][i]


def effect(rows: list, key: str) -> dict:
    """Y - N of ``key`` from the results.csv rows: ``diff`` (of the means over
    draws and seeds; None when either arm lacks the metric) and ``se_seeds`` =
    sqrt(s_Y^2 / n_Y + s_N^2 / n_N) from the std over training seeds (None
    unless both arms have >= 2 seeds)."""
    by = {r.get("adv_aug"): r for r in rows}
    n, y = by.get("N"), by.get("Y")
    if n is None or y is None or n.get(key) is None or y.get(key) is None:
        return {"diff": None, "se_seeds": None}
    se = None
    if all(r.get(f"{key}_std_seeds") is not None and r.get("seeds", 0) > 1 for r in (n, y)):
        se = math.sqrt(sum(r[f"{key}_std_seeds"] ** 2 / r["seeds"] for r in (n, y)))
    return {"diff": y[key] - n[key], "se_seeds": se}


def effect_section(rows: list) -> list:
    """Markdown lines: the effect Y - N of every metric, ours beside the paper's."""
    cells = []
    for key in EFFECT_KEYS:
        e, p, digits = effect(rows, key), paper_effect(key), reports.DIGITS[key]
        cells.append([reports.HEADERS[key],
                      "n/a" if e["diff"] is None else f"{e['diff']:+.{digits}f}",
                      reports.fmt_std(e["se_seeds"], digits),
                      "–" if p is None else f"{p:+.{digits}f}"])
    return ["", "Effect of the augmentation, Y − N (positive = higher with augmentation; ± "
            "column: standard error of the difference from the spread over training seeds, "
            "sqrt(s_Y²/n_Y + s_N²/n_N); n/a with one seed per arm):", "",
            reports.markdown_table(["metric", "ours Y − N", "± over training seeds (SE)",
                                    "paper Y − N (quoted, 512 px)"], cells)]


def _plot(path, rows, cfg):
    def draw(fig, ax):
        seeds = rows[0].get("seeds", 1) if rows else 1
        err = [(r["psnr_std_seeds"] if seeds > 1 else r["psnr_std_noise"]) or 0.0 for r in rows]
        ax.bar([r["adv_aug"] for r in rows], [r["psnr"] or 0.0 for r in rows],
               yerr=err, color=["tab:gray", "tab:blue"])
        ax.set_xlabel("adversarial data augmentation")
        ax.set_ylabel("PSNR (dB, ± over training seeds)" if seeds > 1
                      else "PSNR (dB, ± over noise draws)")
        ax.set_title(f"Table 7 ({cfg.name}, {cfg.model.resolution} px, {cfg.train.steps} steps, "
                     f"{seeds} seed(s))", fontsize=9)
        ax.set_ylim(max(0.0, min(r["psnr"] or 0.0 for r in rows) - 3.0), None)

    return reports.plot(path, draw)


def main(argv):
    del argv
    return cli.run_experiment(lambda: run_experiment(options.options_from_flags()))


if __name__ == "__main__":
    cli.run_driver(main)
