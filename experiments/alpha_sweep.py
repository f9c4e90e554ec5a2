r"""Appendix C.4: the adversarial weight alpha (L = L_REC + alpha * L_ADV).

    python -m experiments.alpha_sweep --preset=tiny --workdir=runs/alpha --steps=3000
    python -m experiments.alpha_sweep --preset=cpu_128 --workdir=runs/alpha_128 \
        --data_dir=../shared/data/faces_train --eval_dir=../shared/data/faces_val \
        --steps=1200 --alphas=0.02,0.1,1 --num_noise_seeds=3 --metrics=psnr,ssim,lpips,ipr \
        --set=train.ema_half_life_images=1000 --set=train.ckpt_every=300 --quiet
    python -m experiments.alpha_sweep --preset=paper_512 --workdir=runs/alpha \
        --data_dir=/data/ffhq512 --eval_dir=/data/celeba_test512 --alphas=0.1,0.3,1,3

One model per alpha in --alphas (loss.alpha; runs in WORKDIR/alpha<a>/seed<k>),
all trained to the same --steps and evaluated on the same degraded inputs;
writes WORKDIR/results.md, results.csv, results_draws.csv,
eval_features/alpha<a>_seed<k>.npz, grid.png and plot.png (PSNR vs FID, one
point per alpha; PSNR vs alpha when FID is unavailable). Paper's claim
(C.4, no numbers): larger alpha -> better FID, worse PSNR; smaller alpha ->
better PSNR but blurrier. With the cpu_128 preset (alpha 0.1, adv_aug on),
alpha0.1/seed0 is the same model as Table 7's adv_aug_on/seed0: a symlink
reuses it (experiments/README.md, "Table 7 and C.4 at 128 px").
"""

from __future__ import annotations

from absl import flags

from experiments import cli, options, reports
from experiments.cli import UserError
from experiments.variant_table import TableSpec, Variant, run_table, sweep_main

options.define_training_flags()
options.define_eval_flags()
flags.DEFINE_list("alphas", ["0.1", "0.3", "1", "3"], "Values of loss.alpha to compare (C.4).")
flags.adopt_module_key_flags(options)

KEYS = ("psnr", "ssim", "lpips", "fid")
PAPER_ROWS = [["larger α", "worse (lower)", "-", "-", "better (lower)"],
              ["smaller α", "better (higher), blurry", "-", "-", "worse (higher)"],
              ["α = 1.0", "paper default", "-", "-", "-"]]
# [paper, C.4], verbatim: its only statement of the effect (no numbers)
PAPER_QUOTE = ("Larger α helps FID but harms PSNR. In contrast, smaller α can improve PSNR "
               "but generates blurry samples. In this work, we simply use α = 1.0 by default.")


def variant_name(alpha: float) -> str:
    return f"alpha{alpha:g}"


def run_experiment(opts: options.ExpOptions, alphas=(0.1, 0.3, 1.0, 3.0)) -> dict:
    alphas = [float(a) for a in alphas]
    if any(a < 0 for a in alphas):
        raise UserError(f"--alphas must be >= 0, got {alphas}")
    variants = [Variant(variant_name(a), variant_name(a), {"loss.alpha": a}, {"alpha": a})
                for a in alphas]
    return run_table(opts, TableSpec(
        title="Appendix C.4: impact of the adversarial weight α", variants=variants, keys=KEYS,
        first_col="α", paper_title="appendix C.4 (qualitative only, no numbers published)",
        paper_rows=PAPER_ROWS, extra_fields=("alpha",), plot_fn=_plot,
        seed_keys=("psnr", "ssim", "lpips"), notes=(f"paper, C.4 (verbatim): \"{PAPER_QUOTE}\"",)))


def _plot(path, rows, cfg):
    have_fid = all(r.get("fid") is not None for r in rows)

    def draw(fig, ax):
        title = f"C.4 ({cfg.name}, {cfg.model.resolution} px, {cfg.train.steps} steps)"
        if have_fid:
            ax.plot([r["fid"] for r in rows], [r["psnr"] for r in rows], "o-")
            for r in rows:
                ax.annotate(f"α={r['alpha']:g}", (r["fid"], r["psnr"]), fontsize=7)
            ax.set_xlabel("FID (lower is better)")
        else:
            ax.errorbar([r["alpha"] for r in rows], [r["psnr"] for r in rows],
                        yerr=[r["psnr_std_noise"] or 0.0 for r in rows], marker="o", capsize=3)
            ax.set_xscale("log")
            ax.set_xlabel("α (log scale)")
            title += "\nFID unavailable (no Inception weights): PSNR vs α instead"
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(title, fontsize=8)

    return reports.plot(path, draw)


main = sweep_main(run_experiment, "alphas", options.float_list)


if __name__ == "__main__":
    cli.run_driver(main)
