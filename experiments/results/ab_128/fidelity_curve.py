"""PSNR / SSIM of a knob-trained run's EMA generator over w on the run's 48 validation pairs."""
import json
import sys

import numpy as np

from faceres_tf import data as fdata
from faceres_tf.config import Config
from faceres_tf.metrics.psnr_ssim import psnr
from faceres_tf.training.checkpoint import load_generator

run = sys.argv[1]
cfg = Config.from_json(open(f"{run}/config.json").read())
deg, tgt = fdata.load_validation_pairs(cfg)
G, _ = load_generator(run, use_ema=True)
seeds = -np.ones(len(deg), np.int32)
def to01(x):
    return np.clip((np.asarray(x) + 1) / 2, 0, 1)
rows = []
for w in (0.0, 0.25, 0.5, 0.75, 1.0):
    out = G({"image": deg, "noise_seed": seeds, "fidelity": np.full(len(deg), w, np.float32)}).numpy()
    p = float(np.mean([psnr(to01(a), to01(b), data_range=1.0) for a, b in zip(out, tgt)]))
    rows.append({"w": w, "psnr": round(p, 3)})
print(json.dumps(rows))
