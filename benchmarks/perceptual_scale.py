"""How large the perceptual terms are against L1, in value and in gradient.

For N faces degraded by the training chain (``faceres_tf.data.degradations.bfr``
with the preset's ranges), restored by a generator (fresh at init, a bundled
model, or a run's checkpoint), prints for each loss term its mean value and the
global L2 norm of its gradient with respect to the generator's trainable
variables (the scale the optimizer sees), each also as a ratio to L1's. The
perceptual terms are taken unweighted (lambda = 1), so the ratio of gradient
norms is the lambda that makes the term's gradient as large as L1's.

  nice -n 15 python -m benchmarks.perceptual_scale --preset=tiny --model=init
  nice -n 15 python -m benchmarks.perceptual_scale --preset=cpu_128 --model=rdfr_cpu128 \\
      --set=loss.perceptual_resolution=64
  nice -n 15 python -m benchmarks.perceptual_scale --preset=cpu_128 --resolution=256 --model=init \\
      --set=loss.perceptual_resolution=128

Loss settings come from the preset plus ``--set`` (default: hed_vgg16, lpips
norm, layer weights 1,1,1,0,0). Output: one JSON line (``--json``) or a table.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import tensorflow as tf  # noqa: E402

from benchmarks.machine import emit  # noqa: E402
from faceres_tf import losses, presets  # noqa: E402
from faceres_tf.config import override  # noqa: E402
from faceres_tf.data.degradations import degrade_pair  # noqa: E402
from faceres_tf.data.faces import list_faces, load_face  # noqa: E402
from faceres_tf.models import build_generator  # noqa: E402

DEFAULT_LOSS = {"loss.perceptual": "hed_vgg16", "loss.perceptual_norm": "lpips",
                "loss.perceptual_layer_weights": "1,1,1,0,0"}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="tiny", help="model, data chain and loss (default: %(default)s)")
    ap.add_argument("--resolution", type=int, default=0, help="override model.resolution (0: preset's)")
    ap.add_argument("--model", default="init",
                    help="'init' (fresh G, seeded), a bundled model name, or a run directory "
                         "(its newest checkpoint's EMA generator) (default: %(default)s)")
    ap.add_argument("--faces", default="../shared/data/faces_val", help="folder of clean faces")
    ap.add_argument("--num", type=int, default=16, help="faces (one batch) (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="init and degradation seed")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    ap.add_argument("--json", action="store_true", help="one JSON line instead of a table (nothing written)")
    ap.add_argument("--out", default=None, help="also write the markdown table to this file")
    return ap.parse_args()


def _config(args):
    cfg = presets.get(args.preset)
    updates = dict(DEFAULT_LOSS)
    if args.resolution:
        r = args.resolution
        updates["model.resolution"] = r
        if r != cfg.model.resolution:  # scale the pixel-sized blur like the presets do
            s = r / cfg.model.resolution
            updates["data.blur_sigma"] = f"{cfg.data.blur_sigma[0]},{cfg.data.blur_sigma[1] * s}"
            updates["data.blur_kernel_size"] = str(int(cfg.data.blur_kernel_size * s) | 1)
    updates.update(kv.split("=", 1) for kv in args.set)
    return override(cfg, updates)


def _pairs(cfg, folder, num, seed):
    paths = list_faces(folder)[:num]
    if not paths:
        raise SystemExit(f"error: no images in {folder}")
    r = cfg.model.resolution
    lq, hq = [], []
    for i, p in enumerate(paths):
        clean = tf.convert_to_tensor(load_face(p, r), tf.float32) / 255.0
        d, t = degrade_pair(clean, tf.constant([seed, i]), cfg.data, r)
        lq.append(d * 2 - 1)
        hq.append(t * 2 - 1)
    return tf.stack(lq), tf.stack(hq)


def _generator(cfg, spec, seed):
    if spec == "init":
        tf.keras.utils.set_random_seed(seed)
        return build_generator(cfg)
    if Path(spec).is_dir():
        ckpt = tf.train.latest_checkpoint(str(Path(spec) / "checkpoints"))
        if not ckpt:
            raise SystemExit(f"error: no checkpoint under {spec}/checkpoints")
        g = build_generator(cfg)
        tf.train.Checkpoint(generator_ema=g).restore(ckpt).expect_partial()
        return g
    from faceres_tf.pretrained import load_pretrained

    return load_pretrained(spec)


def _terms(cfg, extractor, fake, target):
    rec = losses.reconstruction_loss(fake, target, cfg.loss, extractor=extractor)
    return {"l1": rec["pixel"], "feature": rec["feature"], "style": rec["style"]}


def measure(cfg, G, extractor, lq, hq) -> dict:
    """Mean value and generator-gradient norm of each term (and image-gradient norm)."""
    seeds = tf.zeros([lq.shape[0]], tf.int32)
    out = {}
    with tf.GradientTape(persistent=True) as tape:
        fake = tf.cast(G({"image": lq, "noise_seed": seeds}, training=True), tf.float32)
        tape.watch(fake)
        terms = {k: tf.reduce_mean(v) for k, v in _terms(cfg, extractor, fake, hq).items()}
    for k, v in terms.items():
        g_params = [g for g in tape.gradient(v, G.trainable_variables) if g is not None]
        g_image = tape.gradient(v, fake)
        out[k] = {"value": float(v), "grad_G": float(tf.linalg.global_norm(g_params)),
                  "grad_image": float(tf.norm(g_image)) if g_image is not None else 0.0}
    l1 = out["l1"]
    for k in ("feature", "style"):
        for q in ("value", "grad_G", "grad_image"):
            out[k][f"{q}_over_l1"] = out[k][q] / l1[q] if l1[q] else float("nan")
    out["psnr_restored"] = float(tf.reduce_mean(tf.image.psnr(fake, hq, 2.0)))
    return out


def main():
    args = parse_args()
    cfg = _config(args)
    lq, hq = _pairs(cfg, args.faces, args.num, args.seed)
    G = _generator(cfg, args.model, args.seed)
    extractor = losses.build_perceptual_extractor(cfg.loss)
    res = {"preset": args.preset, "resolution": cfg.model.resolution, "model": args.model,
           "num": int(lq.shape[0]), "loss": dataclasses.asdict(cfg.loss)}
    res["restored"] = measure(cfg, G, extractor, lq, hq)
    # The degraded input as the "restoration" (what the terms are on an identity G).
    res["degraded_input"] = {k: float(tf.reduce_mean(v))
                             for k, v in _terms(cfg, extractor, lq, hq).items()}
    emit([res], _markdown(res, cfg, args), args.out, args.json)


def _markdown(res: dict, cfg, args) -> str:
    lines = [f"{args.preset} R={cfg.model.resolution} model={args.model} N={res['num']} "
             f"perceptual={cfg.loss.perceptual}/{cfg.loss.perceptual_norm} "
             f"weights={cfg.loss.perceptual_layer_weights} at {cfg.loss.perceptual_resolution or 'full'}", "",
             f"restored PSNR {res['restored']['psnr_restored']:.2f} dB; degraded input: "
             + ", ".join(f"{k} {v:.4g}" for k, v in res["degraded_input"].items()), "",
             "| term | value | grad_G | grad_image | value/L1 | grad_G/L1 | grad_image/L1 |",
             "|---|---|---|---|---|---|---|"]
    for k in ("l1", "feature", "style"):
        m = res["restored"][k]
        lines.append(f"| {k} | {m['value']:.4g} | {m['grad_G']:.4g} | {m['grad_image']:.4g} | "
                     f"{m.get('value_over_l1', 1):.3g} | {m.get('grad_G_over_l1', 1):.3g} | "
                     f"{m.get('grad_image_over_l1', 1):.3g} |")
    return "\n".join(lines)

if __name__ == "__main__":
    main()
