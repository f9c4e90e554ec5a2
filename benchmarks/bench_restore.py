"""Where the time of whole-photo restoration goes: network vs everything else.

For a 512 px generator (``paper_512`` preset, random weights: timing only) it
measures, per photo and per face:

* network: the generator call (uint8 in/out, one batched call per photo);
* detection (MTCNN on a copy downscaled to 1024 px), alignment (similarity fit
  + warp), colour correction, paste-back (feathered inverse warp), and file
  read / write.

and reports the share of the pipeline that is not the network (goal < 10%).

    python -m benchmarks.bench_restore [--preset paper_512] [--repeats 3] [--precision bf16]

``--precision`` is the generator's compute precision (the folded inference
graph restore runs, in fp32 or bf16). Writes ``benchmarks/results/restore.md``
(fp32) or ``restore_bf16.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from faceres_tf.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's first import: its C++ start-up log stays hidden

import numpy as np  # noqa: E402

from benchmarks.machine import cpu_info, emit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PHOTOS = [
    ("one face", DATA / "deepface_test_photos" / "img1.jpg"),
    ("several faces", DATA / "deepface_test_photos" / "selfie-many-people.jpg"),
    ("two faces, 2280x1588", DATA / "deepface_test_photos" / "couple.jpg"),
]
STAGES = ("read", "detect", "align", "network", "color", "paste", "write")


class Timed:
    """Wraps a callable and accumulates its wall time."""

    def __init__(self, fn):
        self.fn, self.total = fn, 0.0

    def __call__(self, *a, **k):
        t = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            self.total += time.perf_counter() - t


def _default_out(args) -> Path:
    """restore.md / restore_bf16.md for paper_512 (the names of earlier results), else per preset."""
    name = {"fp32": "restore.md", "bf16": "restore_bf16.md"}[args.precision] if args.preset == "paper_512" \
        else f"restore_{args.preset}_{args.precision}.md"
    return ROOT / "benchmarks" / "results" / name


def _parse_args():
    ap = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--preset", default="paper_512", help="generator preset (random weights; timing only)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per photo (the median is reported)")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="compute precision")
    ap.add_argument("--out", default=None, help="markdown file to write (default: benchmarks/results/"
                    "restore.md for paper_512 fp32, else restore_<preset>_<precision>.md)")
    ap.add_argument("--json", action="store_true", help="print one JSON line per photo (nothing written)")
    return ap.parse_args()


def _time_network(runner, r: int, repeats: int) -> float:
    """Median seconds of one generator call on one random r x r face (after a trace)."""
    face = np.random.default_rng(0).integers(0, 256, (1, r, r, 3), dtype=np.uint8)
    runner(face, [0])  # trace
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        runner(face, [0])
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _time_stages(pipe, runner, detector, path, out_path) -> tuple:
    """One restoration of the photo at ``path``: ({stage: seconds}, job, image)."""
    from faceres_tf import image_io

    det_t = Timed(detector.detect)
    run_t = Timed(runner.fn)
    pipe.detector.detect = det_t
    runner.fn = run_t
    t0 = time.perf_counter()
    img = image_io.read_image(path)
    t1 = time.perf_counter()
    job = pipe.prepare(img)
    t2 = time.perf_counter()
    pipe.restore([job])
    t3 = time.perf_counter()
    out = pipe.compose(job)
    t4 = time.perf_counter()
    image_io.write_image(out_path, out, overwrite=True)
    t5 = time.perf_counter()
    runner.fn = run_t.fn
    del pipe.detector.detect
    stages = {"read": t1 - t0, "detect": det_t.total, "align": t2 - t1 - det_t.total,
              "network": run_t.total, "color": t3 - t2 - run_t.total, "paste": t4 - t3,
              "write": t5 - t4}
    return stages, job, img


def _time_photo(pipe, runner, detector, label: str, path: Path, repeats: int, tmp: Path) -> dict:
    """The report row of one photo: median seconds per stage and the non-network shares."""
    stage = {k: [] for k in STAGES}
    for rep in range(repeats):
        stages, job, img = _time_stages(pipe, runner, detector, path, tmp / f"{rep}.jpg")
        for k, v in stages.items():
            stage[k].append(v)
    n_faces = len(job.faces)
    med = {k: float(np.median(v)) for k, v in stage.items()}
    compute = sum(v for k, v in med.items() if k not in ("read", "write"))
    total = sum(med.values())
    h, w = img.rgb.shape[:2]
    row = dict(label=label, file=path.name, size=f"{w}x{h}", faces=n_faces, **med,
               non_net_share=(compute - med["network"]) / compute,
               non_net_share_io=(total - med["network"]) / total)
    print(f"{label} ({path.name}, {w}x{h}, {n_faces} faces): "
          + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in med.items())
          + f" | not network: {row['non_net_share']:.1%} (with file I/O {row['non_net_share_io']:.1%})",
          file=sys.stderr, flush=True)
    return row


def _markdown(args, rows: list, r: int, build_s: float, net1: float) -> list:
    import tensorflow as tf

    info = cpu_info()
    cpu = f"{info['cpu']}, AVX-512 BF16 {info['avx512_bf16']}, AMX {info['amx_bf16']}"
    lines = [
        f"# Whole-photo restoration: time per stage ({args.precision})",
        "",
        f"`python -m benchmarks.bench_restore --preset {args.preset} --repeats {args.repeats} "
        f"--precision {args.precision}` on {os.cpu_count()} CPU cores ({cpu}), TF {tf.__version__}, CPU only; "
        f"{args.preset} generator with random weights (R = {r}; timing only), median of "
        f"{args.repeats} runs. Generator build: {build_s:.1f} s. Load average at the end: "
        f"{os.getloadavg()[0]:.1f} (numbers on a shared machine vary; compare shares, not ms).",
        "",
        f"Network alone, one {r} px face per call: **{net1 * 1000:.0f} ms**.",
        "",
        "| photo | size | faces | read | detect | align | network | colour | paste-back | write | "
        "not network (compute) | not network (incl. I/O) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} (`{row['file']}`) | {row['size']} | {row['faces']} | "
            + " | ".join(f"{row[k] * 1000:.0f} ms" for k in STAGES)
            + f" | **{row['non_net_share']:.1%}** | {row['non_net_share_io']:.1%} |"
        )
    lines += [
        "",
        "\"not network (compute)\" = (detect + align + colour + paste-back) / (the same + network); "
        "file reading/writing (JPEG decode/encode) is listed separately because it depends on the "
        "format, not on the pipeline. All faces of a photo go through the network in one batched call.",
    ]
    return lines


def main() -> None:
    args = _parse_args()

    import faceres_tf
    from faceres_tf.face.detection import FaceDetector
    from faceres_tf.face.generator_runner import GeneratorRunner
    from faceres_tf.face.pipeline import FacePipeline

    cfg = faceres_tf.presets.get(args.preset)
    r = cfg.model.resolution
    t = time.perf_counter()
    gen = faceres_tf.build_generator(cfg)
    runner = GeneratorRunner.from_keras(gen, batch_size=8, precision=args.precision)
    build_s = time.perf_counter() - t
    detector = FaceDetector()
    pipe = FacePipeline(runner, detector, seeds=(0,), color_correction=True)

    net1 = _time_network(runner, r, args.repeats)
    print(f"network, batch 1: {net1 * 1000:.0f} ms / face (median of {args.repeats})", file=sys.stderr)
    rows = []
    tmp = Path(tempfile.mkdtemp())
    for label, path in PHOTOS:
        if not path.exists():
            print(f"skip {path}: missing", file=sys.stderr)
            continue
        rows.append(_time_photo(pipe, runner, detector, label, path, args.repeats, tmp))

    results = [{"benchmark": "restore", "preset": args.preset, "precision": args.precision,
                "network_s_per_face": net1, **row} for row in rows]
    emit(results, "\n".join(_markdown(args, rows, r, build_s, net1)),
         Path(args.out) if args.out else _default_out(args), args.json)


if __name__ == "__main__":
    main()
