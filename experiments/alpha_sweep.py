r"""Appendix C.4: the adversarial weight alpha (L = L_REC + alpha * L_ADV).

    python -m experiments.alpha_sweep --preset=tiny --workdir=runs/alpha --steps=3000
    python -m experiments.alpha_sweep --preset=paper_512 --workdir=runs/alpha \
        --data_dir=/data/ffhq512 --eval_dir=/data/celeba_test512 --alphas=0.1,0.3,1,3

Trains one model per alpha in ``--alphas`` (``loss.alpha``; runs in
``WORKDIR/alpha<a>/seed<k>``), evaluates them on the same degraded inputs and
writes ``WORKDIR/results.md``, ``results.csv``, ``grid.png`` and ``plot.png``
(PSNR vs FID, one point per alpha; PSNR vs alpha when FID is unavailable).
Paper's claim: larger alpha -> better FID, worse PSNR; smaller alpha -> better
PSNR but blurrier.
"""

from __future__ import annotations

from absl import app, flags

from experiments import common

FLAGS = flags.FLAGS
common.define_flags()
common.list_flag("alphas", [0.1, 0.3, 1, 3], "Values of loss.alpha to compare (C.4).")

KEYS = ("psnr", "ssim", "fid")


def variant_name(alpha: float) -> str:
    return f"alpha{alpha:g}"


def run_experiment(opts: common.ExpOptions, alphas=(0.1, 0.3, 1.0, 3.0)) -> dict:
    alphas = [float(a) for a in alphas]
    if any(a < 0 for a in alphas):
        raise ValueError(f"alphas must be >= 0, got {alphas}")
    variants = [(variant_name(a), {"loss.alpha": a}, {"alpha": a}) for a in alphas]
    paper = [["larger α", "worse (lower)", "-", "better (lower)"],
             ["smaller α", "better (higher), blurry", "-", "worse (higher)"],
             ["α = 1.0", "paper default", "-", "-"]]
    return common.table_experiment(
        opts, "Appendix C.4: impact of the adversarial weight α", variants, KEYS,
        "appendix C.4 (qualitative only, no numbers published)", paper, first_col="α",
        extra_fields=("alpha",), plot_fn=_plot)


def _plot(path, rows, cfg):
    have_fid = all(r.get("fid") is not None for r in rows)

    def draw(fig, ax):
        title = f"C.4 ({cfg.name}, {cfg.model.resolution} px, {cfg.train.steps} steps)"
        if have_fid:
            ax.plot([r["fid"] for r in rows], [r["psnr"] for r in rows], "o-")
            for r in rows:
                ax.annotate(f"α={r['alpha']:g}", (r["fid"], r["psnr"]), fontsize=7)
            ax.set_xlabel("FID (lower is better)")
            ax.set_ylabel("PSNR (dB)")
        else:
            ax.errorbar([r["alpha"] for r in rows], [r["psnr"] for r in rows],
                        yerr=[r["psnr_std"] or 0.0 for r in rows], marker="o")
            ax.set_xscale("log")
            ax.set_xlabel("α (log scale)")
            ax.set_ylabel("PSNR (dB)")
            title += "\nFID unavailable (no Inception weights): PSNR vs α instead"
        ax.set_title(title, fontsize=8)

    return common.plot(path, draw)


def main(argv):
    del argv
    return common.run_main(lambda opts: run_experiment(opts, [float(a) for a in FLAGS.alphas]))


if __name__ == "__main__":
    app.run(main)
