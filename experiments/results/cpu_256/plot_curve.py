"""In-run validation PSNR of the two cpu_256 runs over training images (their
train_metrics.jsonl; 48 faces_val faces, own chain, EMA generator, zero noise).

    python experiments/results/cpu_256/plot_curve.py   # writes curve.png beside it
"""
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
BATCH = 8
RUNS = {  # label: (records, phase changes (step, text))
    "run B = rdfr_cpu256": (HERE / "train_metrics.jsonl", [(859, "α 0"), (2562, "lr 5e-4")]),
    "run A (not bundled)": (HERE.parent / "cpu_256_run_a" / "train_metrics.jsonl",
                            [(1023, "+perc."), (1930, "α .02"), (2562, "w=1"), (4318, "−perc."),
                             (5295, "lr 3e-4")]),
}


def evals(path):
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pts = {r["step"]: r["eval"] for r in rows if "eval" in r}
    return sorted(pts.items())


fig, ax = plt.subplots(figsize=(7, 4))
for (label, (path, phases)), color in zip(RUNS.items(), ("tab:blue", "tab:orange")):
    pts = evals(path)
    ax.plot([s * BATCH for s, _ in pts], [e["psnr_restored"] for _, e in pts], "o-", ms=3, color=color,
            label=label)
    for step, text in phases:
        ax.axvline(step * BATCH, color=color, ls=":", lw=0.8)
        ax.text(step * BATCH, ax.get_ylim()[0], text, color=color, fontsize=7, rotation=90, va="bottom")
ax.axhline(24.44, color="grey", ls="--", lw=0.8, label="grown start (rdfr_cpu128 upsampled)")
ax.axhline(pts[0][1]["psnr_degraded"], color="k", ls="-.", lw=0.8, label="degraded input")
ax.set_xlabel("training images")
ax.set_ylabel("PSNR (dB), 48 faces_val faces, own chain")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()
fig.savefig(HERE / "curve.png", dpi=110)
print(HERE / "curve.png")
