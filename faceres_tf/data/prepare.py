"""Writes a folder of aligned faces to TFRecord shards: ``faceres-prepare``.

    faceres-prepare --input DIR --output DIR --resolution R \
        [--shard_size 1000] [--format png|jpeg] [--quality 95] [--quiet] [--verbose]

(``python -m faceres_tf.data.prepare`` is the same command.) Every readable
image under ``--input`` (recursive) is centre-cropped to a square, resized to
R x R and stored (PNG by default: lossless). Unreadable files are skipped with
one warning each; images smaller than R are upscaled with a warning. The faces
must already be aligned (FFHQ-style); this tool does not detect or align
faces. Point ``data.train_dir`` at ``--output`` to train from the shards. A
``prepare.json`` summary is written next to them; the last line (stdout)
counts what was written.
"""

from __future__ import annotations

import sys

from faceres_tf import cli
from faceres_tf.errors import UserError


def build_parser() -> cli.Parser:
    p = cli.make_parser(
        "faceres-prepare", "Write aligned face images to TFRecord shards for training.",
        input=dict(required=True, help="folder of aligned face images (recursive)"),
        output=dict(required=True, help="folder for faces-NNNNN.tfrecord shards"), quiet=True)
    p.add_argument("--resolution", type=int, required=True, help="stored side R in pixels")
    p.add_argument("--shard_size", type=int, default=1000, help="faces per shard")
    p.add_argument("--format", choices=("png", "jpeg"), default="png", dest="image_format",
                   help="how each face is stored (png: lossless)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (with --format jpeg)")
    return p


def prepare_command(args) -> int:
    """The command: checks the numbers, writes the shards, prints the summary."""
    # the command boundary: TensorFlow is loaded (quietly, by cli.run) before this import
    from faceres_tf.data.tfrecords import prepare_tfrecords

    for name in ("resolution", "shard_size"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if not 1 <= args.quality <= 100:
        raise UserError(f"--quality must be in [1, 100], got {args.quality}")
    summary = prepare_tfrecords(args.input, args.output, args.resolution, args.shard_size,
                                args.image_format, args.quality, progress=not args.quiet)
    print(f"wrote {summary['written']} faces at {summary['resolution']}px to "
          f"{len(summary['shards'])} shard(s) in {args.output}; skipped {len(summary['skipped'])}")
    return 0


def main(argv=None) -> int:
    """``faceres-prepare`` / ``python -m faceres_tf.data.prepare``; returns the exit status."""
    return cli.run(prepare_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
