"""Restore the faces of real photos: ``python -m faceres_tf.restore``.

Usage::

    python -m faceres_tf.restore --input PHOTO_OR_FOLDER --output OUT \\
        [--model NAME | --checkpoint RUN_DIR | --saved_model DIR] [--aligned] [--seed N] \\
        [--num_samples K] [--only_center_face] [--upscale S] [--ext png|jpg] \\
        [--overwrite] [--no_color_correction] [--batch_size B] \\
        [--min_face_size PX] [--min_confidence C]

Inputs: one image file, or a folder searched **recursively** for image files
(by extension; hidden files, other files and the output folder are skipped).
Outputs (sub-folders of ``--output`` mirror the input's sub-folders):

* ``restored_faces/NAME_II.EXT`` - each restored aligned face (II = face index,
  largest face first); with ``--aligned``: ``restored_faces/NAME.EXT``;
* ``restored_imgs/NAME.EXT`` - the whole photo, upscaled by ``--upscale``, with
  the restored faces pasted back (not with ``--aligned``). Photos without a
  usable face are written too, unchanged (but upscaled), so the folder is
  complete;
* ``cmp/NAME_II.EXT`` - input crop | restoration(s) side by side.

With ``--num_samples K`` each face is restored K times with seeds ``seed``,
``seed+1``, ..., and file names get ``_seedS`` (``NAME_00_seed3.png``,
``NAME_seed3.png``). ``--seed -1`` = zero noise (deterministic, one sample).

Existing files are never replaced unless ``--overwrite`` (each kept file is
named). An output path is never an input path: ``--input`` inside the output
tree (``OUT/restored_faces``, ``OUT/restored_imgs``, ``OUT/cmp``) is refused,
and a folder input never reads those sub-folders (so ``--input S --output S``
twice restores the same photos twice, not its own outputs). One bad input
never stops the run; the last line is a summary and the exit code is 1 when
any input failed (2 for usage / model errors).

Trust: ``--checkpoint`` reads only weights into a network built by this code
(safe for any file). ``--saved_model`` executes the graph stored in the
SavedModel, which can do anything a TensorFlow program can (read or write
files); load only SavedModels you exported yourself or otherwise trust.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from faceres_tf import image_io  # noqa: E402
from faceres_tf.image_io import ImageReadError  # noqa: E402

# Photos held in memory at once waiting for their faces to be restored.
MAX_PENDING_PHOTOS = 8
MAX_PENDING_PIXELS = 60_000_000


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="faceres-restore",
        description="Restore faces in photos (or aligned face crops) with an RDFR generator.",
    )
    p.add_argument("--input", required=True, help="an image file or a folder (searched recursively)")
    p.add_argument("--output", required=True, help="output folder")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default=None,
                     help="bundled model name (the default when neither --checkpoint nor "
                          "--saved_model is given: rdfr_cpu128, 128 px); only weights are read")
    src.add_argument("--checkpoint", help="training run directory (config.json + "
                     "checkpoints/); EMA generator. The safe default route: only weights are read, "
                     "the network is built by this code")
    src.add_argument("--saved_model", help="SavedModel directory written by experiments.export. "
                     "Loading a SavedModel runs the TensorFlow graph stored in it, which can read "
                     "and write files: load only SavedModels you exported yourself or trust")
    p.add_argument("--aligned", action="store_true", help="inputs are aligned face crops (no detection)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the first sample; -1 = zero noise")
    p.add_argument("--num_samples", type=int, default=1, help="restorations per face (seeds seed, seed+1, ...)")
    p.add_argument("--only_center_face", action="store_true", help="restore only the face nearest the centre")
    p.add_argument("--upscale", type=float, default=1.0, help="resize factor of the whole output photo")
    p.add_argument("--ext", choices=("png", "jpg"), default="png", help="output image format")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--color_correction", dest="color_correction", action="store_true", default=True,
                   help="match restored colours to the input (default)")
    p.add_argument("--no_color_correction", dest="color_correction", action="store_false")
    p.add_argument("--batch_size", type=int, default=8, help="faces per network call")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="compute precision of a --checkpoint generator (bf16: bfloat16, faster on "
                        "CPUs with AVX-512 BF16/AMX; a --saved_model keeps its export precision)")
    p.add_argument("--min_face_size", type=float, default=20.0,
                   help="leave faces smaller than this (box side, input pixels) untouched")
    p.add_argument("--min_confidence", type=float, default=0.9,
                   help="leave faces with a lower detector score untouched")
    p.add_argument("--detection_max_side", type=int, default=1024,
                   help="photos are downscaled to this longer side for detection (0 = never)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


OUTPUT_SUBDIRS = ("restored_faces", "restored_imgs", "cmp")


def _inside(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies below it (both resolved)."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_paths(in_path: Path, out_root: Path) -> str:
    """"" when ``--input`` / ``--output`` may be used together, else the error.

    Refused: an output that is an existing file, and an input inside the
    output tree (it would be read as input and could be replaced by an output).
    """
    if out_root.exists() and not out_root.is_dir():
        return f"--output {out_root} is a file; give a folder (created if missing)"
    for sub in OUTPUT_SUBDIRS:
        if _inside(in_path, out_root / sub):
            return (f"--input {in_path} lies inside the output tree of --output {out_root} "
                    f"({out_root / sub}); outputs could replace inputs. Choose another --output "
                    "or move the inputs.")
    return ""


def _excluded_from_inputs(in_path: Path, out_root: Path) -> tuple:
    """Folders not to search for inputs: the output folder when it is below the
    input folder, else (same folder or above) its output sub-folders."""
    if _inside(out_root, in_path) and out_root.resolve() != in_path.resolve():
        return (out_root,)
    return tuple(out_root / sub for sub in OUTPUT_SUBDIRS)


class _Outputs:
    """Naming and writing of the output files, counting kept files."""

    def __init__(self, root: Path, ext: str, overwrite: bool, say, inputs=()):
        self.root, self.ext, self.overwrite, self.say = root, ext, overwrite, say
        self.written = 0
        self.kept = 0
        self.inputs = {Path(p).resolve() for p in inputs}

    def write(self, sub: str, name: str, rgb: np.ndarray) -> None:
        path = self.root / sub / f"{name}.{self.ext}"
        if path.resolve() in self.inputs:  # never replace an input, even with --overwrite
            raise OSError(f"{path} is one of the inputs; it is never overwritten")
        if image_io.write_image(path, rgb, overwrite=self.overwrite):
            self.written += 1
        else:
            self.kept += 1
            self.say(f"  kept existing {path} (use --overwrite to replace it)")


def _output_names(inputs: list[Path], root: Path | None) -> dict:
    """Input path -> output base name (relative, without extension), unique."""
    names = {}
    for p in inputs:
        rel = p.relative_to(root) if root is not None else Path(p.name)
        names[p] = rel.with_suffix("").as_posix()
    counts = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    for p, n in names.items():
        if counts[n] > 1:  # x.jpg and x.png in one folder
            names[p] = f"{n}_{p.suffix.lstrip('.').lower()}"
    return names


def _number_problem(args) -> str:
    """"" when the numeric options are finite and in range, else the error."""
    for name in ("upscale", "min_face_size", "min_confidence"):
        if not math.isfinite(getattr(args, name)):
            return f"--{name} must be a finite number, got {getattr(args, name)}"
    if args.batch_size < 1 or args.upscale <= 0:
        return "--batch_size must be >= 1 and --upscale > 0"
    if args.min_face_size < 0 or not 0 <= args.min_confidence <= 1:
        return "--min_face_size must be >= 0 and --min_confidence in [0, 1]"
    if args.detection_max_side < 0:
        return "--detection_max_side must be >= 0 (0 = never downscale)"
    return ""


def _load_runner(args):
    from faceres_tf.face.generator_runner import GeneratorRunner

    if args.saved_model:
        return GeneratorRunner.from_saved_model(args.saved_model, batch_size=args.batch_size,
                                                precision=args.precision)
    if args.checkpoint:
        return GeneratorRunner.from_checkpoint(args.checkpoint, batch_size=args.batch_size,
                                               precision=args.precision)
    return GeneratorRunner.from_pretrained(args.model, batch_size=args.batch_size,
                                           precision=args.precision)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    def say(msg: str) -> None:
        tqdm.write(msg, file=sys.stdout)

    # ---- validate ------------------------------------------------------------
    if args.num_samples < 1:
        say("error: --num_samples must be >= 1")
        return 2
    if args.seed < 0 and args.num_samples > 1:
        say("error: --seed < 0 means zero noise, which has one sample; use --num_samples 1 or a seed >= 0")
        return 2
    problem = _number_problem(args)
    if problem:
        say(f"error: {problem}")
        return 2
    in_path = Path(args.input)
    out_root = Path(args.output)
    problem = check_paths(in_path, out_root) if in_path.exists() else ""
    if problem:
        say(f"error: {problem}")
        return 2
    if in_path.is_dir():
        excluded = _excluded_from_inputs(in_path, out_root)
        inputs, ignored = image_io.list_images(in_path, exclude=excluded)
        names = _output_names(inputs, in_path)
        if ignored:
            say(f"ignoring {len(ignored)} file(s) without an image extension, e.g. {ignored[0]}")
    elif in_path.exists():
        inputs = [in_path]
        names = _output_names(inputs, None)
    else:
        say(f"error: --input {in_path} does not exist")
        return 2
    if not inputs:
        say(f"error: no image files in {in_path}")
        return 2

    # ---- model + detector ------------------------------------------------------
    from faceres_tf.face.generator_runner import ModelLoadError
    from faceres_tf.face.pipeline import FacePipeline, comparison_grid

    try:
        runner = _load_runner(args)
    except ModelLoadError as e:
        say(f"error: {e}")
        return 2
    detector = None
    if not args.aligned:
        from faceres_tf.face.detection import FaceDetector

        detector = FaceDetector(max_side=args.detection_max_side, threshold=min(0.8, args.min_confidence))
    seeds = [args.seed + k for k in range(args.num_samples)]
    pipeline = FacePipeline(
        runner, detector, aligned=args.aligned, seeds=seeds, only_center_face=args.only_center_face,
        upscale=args.upscale, color_correction=args.color_correction,
        min_face_size=args.min_face_size, min_confidence=args.min_confidence,
    )
    outputs = _Outputs(out_root, args.ext, args.overwrite, say, inputs)
    multi = len(seeds) > 1

    def suffix(k: int) -> str:
        return f"_seed{seeds[k]}" if multi else ""

    stats = {"ok": 0, "failed": 0, "faces": 0, "skipped": 0}
    t_start = time.time()

    def finish(path: Path, job) -> None:
        name = names[path]
        for i, face in enumerate(job.faces):
            fname = name if args.aligned else f"{name}_{i:02d}"
            for k in range(len(seeds)):
                outputs.write("restored_faces", fname + suffix(k), face.restored[k])
            outputs.write("cmp", fname, comparison_grid(face.crop, face.restored))
        if not args.aligned:
            if len(job.faces) == 0:
                outputs.write("restored_imgs", name, pipeline.base_canvas(job))
            else:
                canvas = pipeline.base_canvas(job)
                for k in range(len(seeds)):
                    last = k == len(seeds) - 1
                    outputs.write("restored_imgs", name + suffix(k), pipeline.compose(job, k, canvas, in_place=last))
        stats["faces"] += len(job.faces)
        stats["skipped"] += len(job.skipped)

    pending: list = []  # (path, PhotoJob)

    def flush() -> None:
        if not pending:
            return
        batch = list(pending)
        pending.clear()
        try:
            pipeline.restore([job for _, job in batch])
        except Exception as e:  # noqa: BLE001 - a network error fails these photos only
            for path, _ in batch:
                say(f"FAILED {path}: restoration failed: {type(e).__name__}: {e}")
                stats["failed"] += 1
            return
        for path, job in batch:
            try:
                finish(path, job)
                stats["ok"] += 1
            except Exception as e:  # noqa: BLE001
                say(f"FAILED {path}: could not write outputs: {type(e).__name__}: {e}")
                stats["failed"] += 1

    bar = tqdm(inputs, desc="restoring", unit="img", disable=args.quiet, file=sys.stderr)
    for path in bar:
        try:
            loaded = image_io.read_image(path)
        except ImageReadError as e:
            say(f"FAILED {e}")
            stats["failed"] += 1
            continue
        try:
            job = pipeline.prepare(loaded)
        except Exception as e:  # noqa: BLE001
            say(f"FAILED {path}: face detection/alignment failed: {type(e).__name__}: {e}")
            stats["failed"] += 1
            continue
        notes = list(loaded.notes) + job.notes
        if not args.aligned and not job.faces:
            notes.append("no face restored; the photo is written unchanged" +
                         (f" (upscaled x{job.upscale:g})" if job.upscale != 1 else ""))
        for det, reason in job.skipped:
            x0, y0, x1, y1 = det.box
            notes.append(f"face at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f}) skipped: {reason}")
        if notes:
            say(f"{path}: " + "; ".join(notes))
        pending.append((path, job))
        n_faces = sum(len(j.faces) for _, j in pending) * len(seeds)
        n_pixels = sum(j.image.rgb.size // 3 for _, j in pending)
        if n_faces >= args.batch_size or len(pending) >= MAX_PENDING_PHOTOS or n_pixels >= MAX_PENDING_PIXELS:
            flush()
    flush()
    bar.close()

    summary = (
        f"{stats['ok']} succeeded, {stats['failed']} failed, {stats['faces']} faces restored, "
        f"{stats['skipped']} skipped faces"
    )
    if outputs.kept:
        summary += f", {outputs.kept} existing files kept"
    say(f"{summary} ({time.time() - t_start:.1f} s; outputs in {out_root})")
    return 1 if stats["failed"] else 0


def run() -> None:
    """Console-script entry point (``faceres-restore``)."""
    sys.exit(main())


if __name__ == "__main__":
    run()
