"""Writes a folder of aligned faces to TFRecord shards.

    python -m faceres_tf.data.prepare --input DIR --output DIR --resolution R \
        [--shard_size 1000] [--format png|jpeg] [--quality 95]

Every readable image under ``--input`` (recursive) is centre-cropped to a
square, resized to R x R and stored (PNG by default: lossless). Unreadable
files are skipped with one warning each; images smaller than R are upscaled
with a warning. The faces must already be aligned (FFHQ-style); this tool does
not detect or align faces. Point ``data.train_dir`` at ``--output`` to train
from the shards. A ``prepare.json`` summary is written next to them.
"""

from __future__ import annotations

import argparse
import logging
import sys

from faceres_tf.data.image_io import DataError
from faceres_tf.data.tfrecords import prepare_tfrecords


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m faceres_tf.data.prepare",
        description="Write aligned face images to TFRecord shards for training.",
    )
    parser.add_argument("--input", required=True, help="folder of aligned face images (recursive)")
    parser.add_argument("--output", required=True, help="folder for faces-NNNNN.tfrecord shards")
    parser.add_argument("--resolution", type=int, required=True, help="stored side R in pixels")
    parser.add_argument("--shard_size", type=int, default=1000, help="faces per shard")
    parser.add_argument("--format", choices=("png", "jpeg"), default="png", dest="image_format")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (with --format jpeg)")
    parser.add_argument("--no_progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = prepare_tfrecords(args.input, args.output, args.resolution, args.shard_size,
                                    args.image_format, args.quality, progress=not args.no_progress)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {summary['written']} faces at {summary['resolution']}px to "
          f"{len(summary['shards'])} shard(s) in {args.output}; skipped {len(summary['skipped'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
