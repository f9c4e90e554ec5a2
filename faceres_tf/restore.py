"""Restore the faces of real photos: ``faceres-restore``.

Usage::

    faceres-restore --input PHOTO_OR_FOLDER --output OUT \\
        [--model NAME | --checkpoint RUN_DIR | --saved_model DIR] [--aligned] [--seed N] \\
        [--num_samples K] [--only_center_face] [--upscale S] [--ext png|jpg] \\
        [--overwrite] [--no_color_correction] [--batch_size B] \\
        [--min_face_size PX] [--min_confidence C] [--quiet] [--verbose]

(``python -m faceres_tf.restore`` is the same command.)

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
never stops the run: it gets one message on stderr (as do notes about a
photo); the summary is the last line, on stdout, and the exit code is 1 when
any input failed (2, with one ``error: ...`` line on stderr, for usage / model
errors; see :mod:`faceres_tf.cli`).

Trust: ``--checkpoint`` reads only weights into a network built by this code
(safe for any file). ``--saved_model`` executes the graph stored in the
SavedModel, which can do anything a TensorFlow program can (read or write
files); load only SavedModels you exported yourself or otherwise trust.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

from faceres_tf import cli, image_io
from faceres_tf.config_ranges import PRECISION_CHOICES
from faceres_tf.errors import UserError
from faceres_tf.image_io import ImageReadError

# Photos held in memory at once waiting for their faces to be restored.
MAX_PENDING_PHOTOS = 8
MAX_PENDING_PIXELS = 60_000_000


def build_parser() -> cli.Parser:
    p = cli.make_parser(
        "faceres-restore",
        "Restore faces in photos (or aligned face crops) with an RDFR generator.",
        input=dict(required=True, help="an image file or a folder (searched recursively)"),
        output=dict(required=True, help="output folder (created if missing)"),
        overwrite="replace existing output files (never an input file)", quiet=True)
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
    p.add_argument("--color_correction", dest="color_correction", action="store_true", default=True,
                   help="match restored colours to the input (on by default)")
    p.add_argument("--no_color_correction", dest="color_correction", action="store_false",
                   help="keep the network's colours")
    p.add_argument("--batch_size", type=int, default=8, help="faces per network call")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="fp32",
                   help="compute precision of a --checkpoint generator (bf16: bfloat16, faster on "
                        "CPUs with AVX-512 BF16/AMX; auto: bf16 where it measures faster; a "
                        "--saved_model keeps its export precision)")
    p.add_argument("--min_face_size", type=float, default=20.0,
                   help="leave faces smaller than this (box side, input pixels) untouched")
    p.add_argument("--min_confidence", type=float, default=0.9,
                   help="leave faces with a lower detector score untouched")
    p.add_argument("--detection_max_side", type=int, default=1024,
                   help="photos are downscaled to this longer side for detection (0 = never)")
    return p


# ----------------------------------------------------------------------------- inputs
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


def check_args(args) -> None:
    """Raises :class:`UserError` for option values no run can use."""
    if args.num_samples < 1:
        raise UserError("--num_samples must be >= 1")
    if args.seed < 0 and args.num_samples > 1:
        raise UserError("--seed < 0 means zero noise, which has one sample; use --num_samples 1 or a "
                        "seed >= 0")
    for name in ("upscale", "min_face_size", "min_confidence"):
        if not math.isfinite(getattr(args, name)):
            raise UserError(f"--{name} must be a finite number, got {getattr(args, name)}")
    if args.batch_size < 1 or args.upscale <= 0:
        raise UserError("--batch_size must be >= 1 and --upscale > 0")
    if args.min_face_size < 0 or not 0 <= args.min_confidence <= 1:
        raise UserError("--min_face_size must be >= 0 and --min_confidence in [0, 1]")
    if args.detection_max_side < 0:
        raise UserError("--detection_max_side must be >= 0 (0 = never downscale)")


def find_inputs(in_path: Path, out_root: Path, say) -> dict:
    """Input image -> output base name; raises :class:`UserError` when there is
    nothing to read or the paths clash."""
    if not in_path.exists():
        raise UserError(f"--input {in_path} does not exist")
    problem = check_paths(in_path, out_root)
    if problem:
        raise UserError(problem)
    if not in_path.is_dir():
        return _output_names([in_path], None)
    inputs, ignored = image_io.list_images(in_path, exclude=_excluded_from_inputs(in_path, out_root))
    if ignored:
        say(f"ignoring {len(ignored)} file(s) without an image extension, e.g. {ignored[0]}")
    if not inputs:
        raise UserError(f"no image files in {in_path}")
    return _output_names(inputs, in_path)


# ----------------------------------------------------------------------------- model
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


def build_pipeline(args):
    """The model (ModelLoadError is a UserError), the detector and the pipeline."""
    from faceres_tf.face.pipeline import FacePipeline

    runner = _load_runner(args)
    detector = None
    if not args.aligned:
        from faceres_tf.face.detection import FaceDetector

        detector = FaceDetector(max_side=args.detection_max_side, threshold=min(0.8, args.min_confidence))
    return FacePipeline(
        runner, detector, aligned=args.aligned, seeds=[args.seed + k for k in range(args.num_samples)],
        only_center_face=args.only_center_face, upscale=args.upscale,
        color_correction=args.color_correction, min_face_size=args.min_face_size,
        min_confidence=args.min_confidence)


# ----------------------------------------------------------------------------- the run
@dataclasses.dataclass
class RunStats:
    """Counts of one run; :meth:`summary` is its last line."""

    ok: int = 0
    failed: int = 0
    faces: int = 0
    skipped: int = 0
    started: float = dataclasses.field(default_factory=time.time)

    def summary(self, kept: int, out_root: Path) -> str:
        text = (f"{self.ok} succeeded, {self.failed} failed, {self.faces} faces restored, "
                f"{self.skipped} skipped faces")
        if kept:
            text += f", {kept} existing files kept"
        return f"{text} ({time.time() - self.started:.1f} s; outputs in {out_root})"


class PhotoBatcher:
    """Holds prepared photos until their faces fill a network batch (or the
    photo / pixel limits of memory are reached)."""

    def __init__(self, batch_size: int, samples: int):
        self.batch_size, self.samples = batch_size, samples
        self.pending: list = []  # (path, PhotoJob)

    def add(self, path: Path, job) -> bool:
        """Adds a photo; True when the pending photos should be restored now."""
        self.pending.append((path, job))
        n_faces = sum(len(j.faces) for _, j in self.pending) * self.samples
        n_pixels = sum(j.image.rgb.size // 3 for _, j in self.pending)
        return (n_faces >= self.batch_size or len(self.pending) >= MAX_PENDING_PHOTOS
                or n_pixels >= MAX_PENDING_PIXELS)

    def take(self) -> list:
        batch, self.pending = self.pending, []
        return batch


def _photo_notes(loaded, job, aligned: bool) -> list:
    notes = list(loaded.notes) + job.notes
    if not aligned and not job.faces:
        notes.append("no face restored; the photo is written unchanged"
                     + (f" (upscaled x{job.upscale:g})" if job.upscale != 1 else ""))
    for det, reason in job.skipped:
        x0, y0, x1, y1 = det.box
        notes.append(f"face at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f}) skipped: {reason}")
    return notes


class Restorer:
    """The per-photo steps; a failing photo is counted and named, never fatal."""

    def __init__(self, pipeline, outputs: _Outputs, names: dict, stats: RunStats, say):
        self.pipeline, self.outputs, self.names, self.stats, self.say = pipeline, outputs, names, stats, say
        seeds = pipeline.seeds
        self.suffixes = [f"_seed{s}" for s in seeds] if len(seeds) > 1 else [""]

    def prepare(self, path: Path):
        """Reads and detects / aligns one photo; None when it failed."""
        try:
            loaded = image_io.read_image(path)
        except ImageReadError as e:
            return self._failed(str(e))
        try:
            job = self.pipeline.prepare(loaded)
        except Exception as e:  # noqa: BLE001 - one bad photo never stops the batch
            return self._failed(f"{path}: face detection/alignment failed: {type(e).__name__}: {e}")
        notes = _photo_notes(loaded, job, self.pipeline.aligned)
        if notes:
            self.say(f"{path}: " + "; ".join(notes))
        return job

    def restore(self, batch: list) -> None:
        """Runs the network on the faces of ``batch`` and writes each photo's outputs."""
        if not batch:
            return
        try:
            self.pipeline.restore([job for _, job in batch])
        except Exception as e:  # noqa: BLE001 - a network error fails these photos only
            for path, _ in batch:
                self._failed(f"{path}: restoration failed: {type(e).__name__}: {e}")
            return
        for path, job in batch:
            try:
                self._write(self.names[path], job)
            except Exception as e:  # noqa: BLE001
                self._failed(f"{path}: could not write outputs: {type(e).__name__}: {e}")
                continue
            self.stats.ok += 1
            self.stats.faces += len(job.faces)
            self.stats.skipped += len(job.skipped)

    def _write(self, name: str, job) -> None:
        from faceres_tf.face.pipeline import comparison_grid

        aligned, write = self.pipeline.aligned, self.outputs.write
        for i, face in enumerate(job.faces):
            fname = name if aligned else f"{name}_{i:02d}"
            for suffix, restored in zip(self.suffixes, face.restored):
                write("restored_faces", fname + suffix, restored)
            write("cmp", fname, comparison_grid(face.crop, face.restored))
        if aligned:
            return
        canvas = self.pipeline.base_canvas(job)
        if not job.faces:
            write("restored_imgs", name, canvas)
            return
        for k, suffix in enumerate(self.suffixes):
            last = k == len(self.suffixes) - 1
            write("restored_imgs", name + suffix, self.pipeline.compose(job, k, canvas, in_place=last))

    def _failed(self, message: str) -> None:
        self.say(f"FAILED {message}")
        self.stats.failed += 1


def restore_photos(args) -> int:
    """The command: checks, loads the model, restores every input, prints the summary."""
    from tqdm import tqdm

    def say(msg: str) -> None:
        tqdm.write(msg, file=sys.stderr)

    check_args(args)
    out_root = Path(args.output)
    names = find_inputs(Path(args.input), out_root, say)
    cli.import_tensorflow_quietly(args.verbose)
    pipeline = build_pipeline(args)
    outputs = _Outputs(out_root, args.ext, args.overwrite, say, names)
    stats = RunStats()
    restorer = Restorer(pipeline, outputs, names, stats, say)
    batcher = PhotoBatcher(args.batch_size, args.num_samples)
    for path in tqdm(list(names), desc="restoring", unit="img", disable=args.quiet, file=sys.stderr):
        job = restorer.prepare(path)
        if job is not None and batcher.add(path, job):
            restorer.restore(batcher.take())
    restorer.restore(batcher.take())
    print(stats.summary(outputs.kept, out_root), flush=True)
    return 1 if stats.failed else 0


def main(argv=None) -> int:
    """``faceres-restore`` / ``python -m faceres_tf.restore``; returns the exit status."""
    return cli.run(restore_photos, build_parser(), argv, tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
