r"""Table 7: adversarial data augmentation off / on.

    python -m experiments.adv_augmentation --preset=tiny --workdir=runs/table7 --steps=3000
    python -m experiments.adv_augmentation --preset=paper_512 --workdir=runs/table7 \
        --data_dir=/data/ffhq512 --eval_dir=/data/celeba_test512 --lpips_weights=lpips_vgg.npz

Trains loss.adv_aug = False (row N, WORKDIR/adv_aug_off/seed<k>) and True
(row Y, WORKDIR/adv_aug_on/seed<k>; the augmentation policy is
loss.adv_aug_policy, DiffAugment-style [ours: the paper does not define it]),
evaluates both on the same degraded inputs (zero noise and --num_noise_seeds
noise draws) and writes WORKDIR/results.md, results.csv, results_draws.csv,
grid.png and plot.png.
"""

from __future__ import annotations

from absl import flags

from experiments import cli, options, reports
from experiments.variant_table import TableSpec, Variant, run_table

options.define_training_flags()
options.define_eval_flags()
flags.adopt_module_key_flags(options)

# [paper, Table 7] Adv. Aug.: PSNR, SSIM, LPIPS, FID
PAPER_TABLE7 = {"N": (26.48, 0.7021, 0.2574, 20.22), "Y": (26.89, 0.7134, 0.2452, 19.77)}
KEYS = ("psnr", "ssim", "lpips", "fid")
VARIANTS = (Variant("adv_aug_off", "N", {"loss.adv_aug": False}, {"adv_aug": "N"}),
            Variant("adv_aug_on", "Y", {"loss.adv_aug": True}, {"adv_aug": "Y"}))


def run_experiment(opts: options.ExpOptions) -> dict:
    paper = [[k, f"{v[0]:.2f}", f"{v[1]:.4f}", f"{v[2]:.4f}", f"{v[3]:.2f}"]
             for k, v in PAPER_TABLE7.items()]
    return run_table(opts, TableSpec(
        title="Table 7: impact of adversarial data augmentation", variants=VARIANTS, keys=KEYS,
        first_col="Adv. Aug.", paper_title="Table 7", paper_rows=paper,
        extra_fields=("adv_aug",), plot_fn=_plot))


def _plot(path, rows, cfg):
    def draw(fig, ax):
        ax.bar([r["adv_aug"] for r in rows], [r["psnr"] or 0.0 for r in rows],
               yerr=[r["psnr_std_noise"] or 0.0 for r in rows], color=["tab:gray", "tab:blue"])
        ax.set_xlabel("adversarial data augmentation")
        ax.set_ylabel("PSNR (dB, ± over noise draws)")
        ax.set_title(f"Table 7 ({cfg.name}, {cfg.model.resolution} px, {cfg.train.steps} steps)",
                     fontsize=9)
        ax.set_ylim(max(0.0, min(r["psnr"] or 0.0 for r in rows) - 3.0), None)

    return reports.plot(path, draw)


def main(argv):
    del argv
    return cli.run_experiment(lambda: run_experiment(options.options_from_flags()))


if __name__ == "__main__":
    cli.run_driver(main)
