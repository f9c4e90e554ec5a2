"""How far bf16 restorations are from fp32 ones, on the bundled faces.

    python -m benchmarks.bench_precision_quality --checkpoint RUN_DIR
    python -m benchmarks.bench_precision_quality --model rdfr_cpu256 --json

Loads the EMA generator of a training run and restores, through the restore
CLI's runner (:class:`faceres_tf.face.generator_runner.GeneratorRunner`, uint8
in and out): the bundled validation faces (``data/val``, degraded as in
training evaluation) and the bundled real low-quality faces (``data/real_lq``,
resized to the model's resolution), each with seed 0 and with zero noise. It
reports the PSNR of every bf16 output against the fp32 output of the same face
and seed (goal: >= 40 dB), and of the fp32 folded graph against the training
graph (PSNR from the package's scorer: identical outputs score its cap,
100 dB). Writes ``benchmarks/results/precision_quality.md`` unless ``--json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from benchmarks.machine import cpu_info, emit  # noqa: E402
from faceres_tf.metrics.scorer import pair_values  # noqa: E402 - the package's one PSNR (capped)


def bundled_faces(cfg) -> np.ndarray:
    import cv2

    from faceres_tf import image_io
    from faceres_tf.data import load_validation_pairs

    r = cfg.model.resolution
    degraded, _ = load_validation_pairs(cfg, folder=str(ROOT / "data" / "val"), num=64)
    faces = [np.round((np.clip(degraded, -1, 1) + 1) * 127.5).astype(np.uint8)]
    for path in sorted((ROOT / "data" / "real_lq").glob("*.png")):
        rgb = image_io.read_image(path).rgb
        faces.append(cv2.resize(rgb, (r, r), interpolation=cv2.INTER_AREA)[None])
    return np.concatenate(faces)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="training run directory (config.json + checkpoints/)")
    src.add_argument("--model", help="a bundled model instead (faceres_tf.pretrained name, e.g. rdfr_cpu256)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()

    from faceres_tf.config import Config
    from faceres_tf.face.generator_runner import GeneratorRunner
    from faceres_tf.training import load_generator

    if args.model:
        from faceres_tf import pretrained

        generator = pretrained.load_pretrained(args.model)
        cfg = Config.from_dict(pretrained.model_info(args.model)["config"])
    else:
        generator, cfg = load_generator(args.checkpoint)
    faces = bundled_faces(cfg)
    res = {"benchmark": "precision_quality", "checkpoint": args.checkpoint or f"bundled {args.model}",
           "preset": cfg.name,
           "resolution": cfg.model.resolution, "faces": len(faces), **cpu_info(),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    runners = {
        "training": GeneratorRunner.from_keras(generator, fold=False),
        "fp32": GeneratorRunner.from_keras(generator),
        "bf16": GeneratorRunner.from_keras(generator, precision="bf16"),
    }
    for seed in (0, -1):
        out = {k: run(faces, seed) for k, run in runners.items()}
        tag = "seed0" if seed == 0 else "zero_noise"
        p_bf = pair_values("psnr", out["bf16"], out["fp32"])[0]
        p_fold = pair_values("psnr", out["fp32"], out["training"])[0]
        res[f"bf16_vs_fp32_psnr_min_{tag}"] = round(float(min(p_bf)), 2)
        res[f"bf16_vs_fp32_psnr_mean_{tag}"] = round(float(np.mean(p_bf)), 2)
        res[f"bf16_vs_fp32_max_abs_diff_{tag}"] = int(np.abs(out["bf16"].astype(int) - out["fp32"]).max())
        res[f"folded_vs_training_psnr_min_{tag}"] = round(float(min(p_fold)), 2)
        res[f"folded_vs_training_max_abs_diff_{tag}"] = int(
            np.abs(out["fp32"].astype(int) - out["training"]).max())
    emit([res], markdown(res), ROOT / "benchmarks" / "results" / "precision_quality.md", args.json)


def markdown(res) -> str:
    lines = [
        f"# bf16 vs fp32 restorations ({res['preset']}, {res['resolution']} px, {res['faces']} bundled faces)",
        "",
        f"`python -m benchmarks.bench_precision_quality --checkpoint {res['checkpoint']}` on {res['cpu']} "
        f"(AVX-512 BF16 {res['avx512_bf16']}, AMX {res['amx_bf16']}), {res['date']}. Faces: data/val degraded "
        "as in training evaluation + data/real_lq resized; uint8 outputs of the restore runner.",
        "",
        "| | seed 0 | zero noise |",
        "|---|---|---|",
        f"| bf16 vs fp32: PSNR min / mean | {res['bf16_vs_fp32_psnr_min_seed0']} / "
        f"{res['bf16_vs_fp32_psnr_mean_seed0']} dB | {res['bf16_vs_fp32_psnr_min_zero_noise']} / "
        f"{res['bf16_vs_fp32_psnr_mean_zero_noise']} dB |",
        f"| bf16 vs fp32: max abs. difference (grey levels) | {res['bf16_vs_fp32_max_abs_diff_seed0']} | "
        f"{res['bf16_vs_fp32_max_abs_diff_zero_noise']} |",
        f"| folded fp32 vs training graph: PSNR min | {res['folded_vs_training_psnr_min_seed0']} dB | "
        f"{res['folded_vs_training_psnr_min_zero_noise']} dB |",
        f"| folded fp32 vs training graph: max abs. difference | {res['folded_vs_training_max_abs_diff_seed0']} | "
        f"{res['folded_vs_training_max_abs_diff_zero_noise']} |",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
