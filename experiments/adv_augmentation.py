r"""Table 7: adversarial data augmentation off / on.

    python -m experiments.adv_augmentation --preset=tiny --workdir=runs/table7 --steps=3000
    python -m experiments.adv_augmentation --preset=paper_512 --workdir=runs/table7 \
        --data_dir=/data/ffhq512 --eval_dir=/data/celeba_test512 \
        --lpips_weights=lpips_vgg.npz

Trains ``loss.adv_aug = False`` (row N, in ``WORKDIR/adv_aug_off/seed<k>``) and
``True`` (row Y, ``WORKDIR/adv_aug_on/seed<k>``; the augmentation's policy is
``loss.adv_aug_policy``, DiffAugment-style [ours: the paper does not define
it]), evaluates both on the same degraded inputs (EMA generator, zero noise)
and writes ``WORKDIR/results.md``, ``results.csv``, ``grid.png`` and ``plot.png``.
"""

from __future__ import annotations

from absl import app, flags

from experiments import common

FLAGS = flags.FLAGS
common.define_flags()

# [paper, Table 7] Adv. Aug.: PSNR, SSIM, LPIPS, FID
PAPER_TABLE7 = {"N": (26.48, 0.7021, 0.2574, 20.22), "Y": (26.89, 0.7134, 0.2452, 19.77)}
KEYS = ("psnr", "ssim", "lpips", "fid")
VARIANTS = (("adv_aug_off", False, "N"), ("adv_aug_on", True, "Y"))


def run_experiment(opts: common.ExpOptions) -> dict:
    variants = [(name, {"loss.adv_aug": on}, {"adv_aug": label}) for name, on, label in VARIANTS]
    paper = [[f"{k} ({'adv_aug_on' if k == 'Y' else 'adv_aug_off'})", f"{v[0]:.2f}", f"{v[1]:.4f}",
              f"{v[2]:.4f}", f"{v[3]:.2f}"] for k, v in PAPER_TABLE7.items()]
    return common.table_experiment(
        opts, "Table 7: impact of adversarial data augmentation", variants, KEYS,
        "Table 7", paper, first_col="Adv. Aug.", extra_fields=("adv_aug",), plot_fn=_plot)


def _plot(path, rows, cfg):
    def draw(fig, ax):
        labels = [r["adv_aug"] for r in rows]
        ax.bar(labels, [r["psnr"] or 0.0 for r in rows],
               yerr=[r["psnr_std"] or 0.0 for r in rows], color=["tab:gray", "tab:blue"])
        ax.set_xlabel("adversarial data augmentation")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(f"Table 7 ({cfg.name}, {cfg.model.resolution} px, {cfg.train.steps} steps)",
                     fontsize=9)
        lo = min(r["psnr"] or 0.0 for r in rows)
        ax.set_ylim(max(0.0, lo - 3.0), None)

    return common.plot(path, draw)


def main(argv):
    del argv
    return common.run_main(lambda opts: run_experiment(opts))


if __name__ == "__main__":
    app.run(main)
