"""Restore the faces of real photos and videos: ``faceres-restore``.

Usage::

    faceres-restore -i PHOTO_OR_VIDEO_OR_FOLDER -o OUT \\
        [--model NAME | --checkpoint RUN_DIR | --saved_model DIR] [-w W] [-s S] \\
        [--aligned] [--seed N] [--num_samples K] [--only_center_face] [--suffix X] \\
        [--ext auto|png|jpg] [--mask landmarks|square] [--overwrite] \\
        [--no_color_correction] [--batch_size B] [--min_face_size PX] \\
        [--min_confidence C] [--quiet] [--verbose]

(``python -m faceres_tf.restore`` is the same command.)

Inputs: one image or video file (.mp4, .mov, .avi, .mkv), or a folder searched
**recursively** for them (by extension; hidden files, other files and the
output folder are skipped). Outputs: the layout of
:mod:`faceres_tf.face.outputs` (``cropped_faces/``, ``restored_faces/``,
``restored_imgs/``, ``cmp/``, ``restored_videos/``), mirroring the input's
sub-folders; videos: :mod:`faceres_tf.face.video`.

Flags shared with GFPGAN / CodeFormer: ``-s/--upscale``, ``-w/--fidelity``
(a model with the fidelity knob only), ``--suffix``, ``--ext auto``,
``--only_center_face``, ``--has_aligned`` (= ``--aligned``). Differences:
``--upscale`` defaults to 1 (GFPGAN: 2), ``--ext`` to png (GFPGAN: auto).

With ``--num_samples K`` each face is restored K times with seeds ``seed``,
``seed+1``, ..., and file names get ``_seedS`` (``NAME_00_seed3.png``,
``NAME_seed3.png``). ``--seed -1`` = zero noise (deterministic, one sample).

Existing files are never replaced unless ``--overwrite`` (each kept file is
named). An output path is never an input path: ``--input`` inside the output
tree is refused, and a folder input never reads the output sub-folders. The
output folder is checked for writing and locked before the model loads: a
second restore into the same folder is refused. One bad input never stops
the run: it gets one message on stderr; a full disk stops it ("no space
left", files written before are complete). The summary is the last line, on
stdout, and the exit code is 1 when any input failed (2, with one
``error: ...`` line on stderr, for usage / model errors; see
:mod:`faceres_tf.cli`).

Trust: ``--checkpoint`` reads only weights into a network built by this code
(safe for any file). ``--saved_model`` executes the graph stored in the
SavedModel, which can do anything a TensorFlow program can (read or write
files); load only SavedModels you exported yourself or otherwise trust.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from tqdm import tqdm

from faceres_tf import cli, image_io
from faceres_tf.config_ranges import PRECISION_CHOICES
from faceres_tf.errors import UserError
from faceres_tf.face import face_mask, video
from faceres_tf.face import outputs as out_files
from faceres_tf.face.detection import FaceDetector
from faceres_tf.face.pipeline import FacePipeline
from faceres_tf.face.restore_run import PhotoBatcher, Restorer, RunStats, StopRun
from faceres_tf.pretrained import DEFAULT_MODEL

INT32_MAX = 2**31 - 1
UPSCALE_RANGE = (0.1, 16.0)
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv")


def _default_model_help() -> str:
    return (f"bundled model name (the default when neither --checkpoint nor --saved_model is given: "
            f"{DEFAULT_MODEL}); only weights are read")


def build_parser() -> cli.Parser:
    p = cli.make_parser(
        "faceres-restore",
        "Restore faces in photos, videos or aligned face crops with an RDFR generator.",
        input=dict(required=True, help="an image or video file, or a folder (searched recursively)"),
        output=dict(required=True, help="output folder (created if missing)"),
        overwrite="replace existing output files (never an input file)", quiet=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default=None, help=_default_model_help())
    src.add_argument("--checkpoint", help="training run directory (config.json + "
                     "checkpoints/); EMA generator. The safe default route: only weights are read, "
                     "the network is built by this code")
    src.add_argument("--saved_model", help="SavedModel directory written by faceres-export. "
                     "Loading a SavedModel runs the TensorFlow graph stored in it, which can read "
                     "and write files: load only SavedModels you exported yourself or trust")
    p.add_argument("-w", "--fidelity", type=float, default=1.0,
                   help="skip strength w in [0, 1] of a model with the fidelity knob: 1 = the paper's model "
                        "(closest to the input, the setting trained most), lower = more generated detail; "
                        "a model without the knob runs only at 1")
    p.add_argument("--aligned", "--has_aligned", dest="aligned", action="store_true",
                   help="inputs are aligned face crops (no detection)")
    p.add_argument("--seed", type=int, default=0,
                   help=f"noise seed of the first sample, 0..{INT32_MAX}; -1 = zero noise")
    p.add_argument("--num_samples", type=int, default=1, help="restorations per face (seeds seed, seed+1, ...)")
    p.add_argument("--only_center_face", action="store_true", help="restore only the face nearest the centre")
    p.add_argument("-s", "--upscale", type=float, default=1.0,
                   help=f"resize factor of the whole output photo, {UPSCALE_RANGE[0]:g}..{UPSCALE_RANGE[1]:g}")
    p.add_argument("--suffix", default="", help="appended to restored file names (NAME_SUFFIX.png)")
    p.add_argument("--ext", choices=("auto", "png", "jpg"), default="png",
                   help="output image format; auto = jpg for JPEG inputs, png otherwise")
    p.add_argument("--mask", choices=("landmarks", "square"), default="landmarks",
                   help="paste-back mask: the face from dlib's 68 landmarks (square where they fail or "
                        "dlib is missing), or a feathered square")
    p.add_argument("--color_correction", dest="color_correction", action="store_true", default=True,
                   help="match restored colours to the input (on by default)")
    p.add_argument("--no_color_correction", dest="color_correction", action="store_false",
                   help="keep the network's colours")
    p.add_argument("--batch_size", type=int, default=8, help="faces per network call")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                   help="compute precision of a --checkpoint / --model generator: auto = bf16 where the "
                        "CPU has native bfloat16 (AVX-512 BF16/AMX) and it measures faster, else fp32 "
                        "(the choice is logged); fp32 gives the reference faces; a --saved_model "
                        "keeps its export precision")
    p.add_argument("--min_face_size", type=float, default=20.0,
                   help="leave faces smaller than this (box side, input pixels) untouched")
    p.add_argument("--min_confidence", type=float, default=0.9,
                   help="leave faces with a lower detector score untouched")
    p.add_argument("--detection_max_side", type=int, default=1024,
                   help="photos are downscaled to this longer side for detection (0 = never)")
    return p


# ----------------------------------------------------------------------------- checks
def check_args(args) -> None:
    """Raises :class:`UserError` for option values no run can use."""
    if args.num_samples < 1:
        raise UserError("--num_samples must be >= 1")
    if args.seed < 0 and args.num_samples > 1:
        raise UserError("--seed < 0 means zero noise, which has one sample; use --num_samples 1 or a "
                        "seed >= 0")
    if args.seed < -1 or args.seed + args.num_samples - 1 > INT32_MAX:
        raise UserError(f"--seed must be -1 (zero noise) or 0..{INT32_MAX} with seed + num_samples - 1 "
                        f"<= {INT32_MAX}; got --seed {args.seed} --num_samples {args.num_samples}")
    for name in ("upscale", "min_face_size", "min_confidence", "fidelity"):
        if not math.isfinite(getattr(args, name)):
            raise UserError(f"--{name} must be a finite number, got {getattr(args, name)}")
    lo, hi = UPSCALE_RANGE
    if not lo <= args.upscale <= hi:
        raise UserError(f"--upscale must be in [{lo:g}, {hi:g}], got {args.upscale:g}")
    if not 0.0 <= args.fidelity <= 1.0:
        raise UserError(f"--fidelity must be in [0, 1], got {args.fidelity:g}")
    if args.batch_size < 1:
        raise UserError("--batch_size must be >= 1")
    if args.min_face_size < 0 or not 0 <= args.min_confidence <= 1:
        raise UserError("--min_face_size must be >= 0 and --min_confidence in [0, 1]")
    if args.detection_max_side < 0:
        raise UserError("--detection_max_side must be >= 0 (0 = never downscale)")
    if len(args.suffix) > out_files.MAX_SUFFIX_CHARS or any(c in args.suffix for c in "/\\\0"):
        raise UserError(f"--suffix must be at most {out_files.MAX_SUFFIX_CHARS} characters without / or \\")


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def find_inputs(in_path: Path, out_root: Path, say) -> dict:
    """Input image or video -> output base name; raises :class:`UserError`
    when there is nothing to read or the paths clash."""
    if not in_path.exists():
        raise UserError(f"--input {in_path} does not exist")
    problem = out_files.check_paths(in_path, out_root)
    if problem:
        raise UserError(problem)
    if not in_path.is_dir():
        return out_files.output_names([in_path], None)
    inputs, ignored = image_io.list_images(in_path, exclude=out_files.excluded_from_inputs(in_path, out_root))
    videos = [p for p in ignored if is_video(p)]
    ignored = [p for p in ignored if not is_video(p)]
    if ignored:
        say(f"ignoring {len(ignored)} file(s) without an image or video extension, e.g. {ignored[0]}")
    if not inputs and not videos:
        raise UserError(f"no image or video files in {in_path}")
    return out_files.output_names(sorted(inputs + videos, key=lambda p: p.as_posix()), in_path)


# ----------------------------------------------------------------------------- model
def _load_runner(args):
    """The generator runner of ``--model`` / ``--checkpoint`` / ``--saved_model``
    at ``--fidelity`` (:class:`ModelLoadError`, a UserError, when it cannot)."""
    # The command boundary: this module imports TensorFlow only here, after
    # cli.import_tensorflow_quietly (so --help and argument errors stay fast and quiet).
    from faceres_tf.face.generator_runner import GeneratorRunner

    if args.saved_model:
        runner = GeneratorRunner.from_saved_model(args.saved_model, batch_size=args.batch_size,
                                                  precision=args.precision)
    elif args.checkpoint:
        runner = GeneratorRunner.from_checkpoint(args.checkpoint, batch_size=args.batch_size,
                                                 precision=args.precision)
    else:
        runner = GeneratorRunner.from_pretrained(args.model, batch_size=args.batch_size,
                                                 precision=args.precision)
    return runner.set_fidelity(args.fidelity)


def build_pipeline(args, runner=None):
    """The model, the detector and the pipeline."""
    runner = runner or _load_runner(args)
    detector = None
    if not args.aligned:
        detector = FaceDetector(max_side=args.detection_max_side, threshold=min(0.8, args.min_confidence))
    return FacePipeline(
        runner, detector, aligned=args.aligned, seeds=[args.seed + k for k in range(args.num_samples)],
        only_center_face=args.only_center_face, upscale=args.upscale,
        color_correction=args.color_correction, min_face_size=args.min_face_size,
        min_confidence=args.min_confidence, mask=args.mask)


# ----------------------------------------------------------------------------- the run
def _check_videos(names: dict, args) -> None:
    if any(is_video(p) for p in names) and (args.aligned or args.num_samples > 1):
        raise UserError("videos are restored as whole frames with one sample: drop --aligned / "
                        "--num_samples for video inputs")


def restore_photos(args) -> int:
    """The command: checks, locks the output, loads the model, restores every
    input, prints the summary."""
    def say(msg: str) -> None:
        tqdm.write(msg, file=sys.stderr)

    check_args(args)
    out_root = Path(args.output)
    names = find_inputs(Path(args.input), out_root, say)
    _check_videos(names, args)
    out_files.check_writable(out_root)
    with out_files.OutputLock(out_root):
        cli.import_tensorflow_quietly(args.verbose)
        pipeline = build_pipeline(args)
        if args.mask == "landmarks" and not args.aligned and face_mask.unavailable_reason():
            say(f"note: square paste-back mask ({face_mask.unavailable_reason()}; "
                "pip install dlib-bin face-recognition-models for the face-shaped one)")
        outputs = out_files.Outputs(out_root, args.ext, args.overwrite, say, names, args.suffix)
        stats = RunStats()
        restorer = Restorer(pipeline, outputs, names, stats, say)
        batcher = PhotoBatcher(args.batch_size, args.num_samples)
        try:
            for path in tqdm(list(names), desc="restoring", unit="file", disable=args.quiet, file=sys.stderr):
                if is_video(path):
                    _restore_video(path, names[path], pipeline, outputs, stats, args, say)
                    continue
                job = restorer.prepare(path)
                if job is not None and batcher.add(path, job):
                    restorer.restore(batcher.take())
            restorer.restore(batcher.take())
        except StopRun as e:
            say(f"error: {e}")
        print(stats.summary(outputs.kept, out_root), flush=True)
    return 1 if stats.failed else 0


def _restore_video(path, name, pipeline, outputs, stats, args, say) -> None:
    video.restore_video_file(path, name, pipeline, outputs, stats, say, quiet=args.quiet)


def main(argv=None) -> int:
    """``faceres-restore`` / ``python -m faceres_tf.restore``; returns the exit status."""
    return cli.run(restore_photos, build_parser(), argv, tensorflow=False)


if __name__ == "__main__":
    sys.exit(main())
