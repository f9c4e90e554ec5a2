r"""``faceres-export``: export a training run's generator for serving.

    faceres-export --workdir runs/tiny --output exports/tiny --format both

Writes OUTPUT/saved_model/ (TF SavedModel: signatures serving_default
uint8 -> uint8 and serving_float [-1, 1] -> [-1, 1], both with an int32
noise_seed), OUTPUT/model.tflite (float32, noise as explicit inputs) and
OUTPUT/export_info.json; see :mod:`faceres_tf.export` for the signatures and
:mod:`faceres_tf.export_common` for what ``--overwrite`` may replace.
"""

from __future__ import annotations

import json
import sys

from faceres_tf import cli
from faceres_tf.config_ranges import PRECISION_CHOICES
from faceres_tf.errors import UserError

FORMATS = ("saved_model", "tflite", "both")


def build_parser() -> cli.Parser:
    p = cli.make_parser(
        "faceres-export", __doc__.split("\n\n")[0].split(": ", 1)[1],
        output=dict(required=True, help="output folder; must not exist (or be empty) unless --overwrite"),
        overwrite="replace an earlier export there (never other files)")
    p.add_argument("--workdir", required=True, help="the training run to export (faceres-train's --workdir)")
    p.add_argument("--format", choices=FORMATS, default="both", help="what to export")
    cli.add_switch(p, "ema", "export the EMA generator; --noema exports the raw one", default=True)
    p.add_argument("--tflite_batch_size", type=int, default=1, help="fixed batch size of the TFLite model")
    p.add_argument("--precision", choices=PRECISION_CHOICES, default="auto",
                   help="compute precision of the SavedModel: bf16 (bfloat16), fp32, or auto (bf16 only "
                        "where the CPU has native bf16 arithmetic and it measures faster); the TFLite "
                        "model is always float32")
    return p


def export_command(args) -> int:
    from faceres_tf.export import export_run

    if args.tflite_batch_size < 1:
        raise UserError(f"--tflite_batch_size must be >= 1, got {args.tflite_batch_size}")
    try:
        info = export_run(args.workdir, args.output, fmt=args.format, overwrite=args.overwrite,
                          use_ema=args.ema, tflite_batch_size=args.tflite_batch_size,
                          precision=args.precision)
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        raise UserError(e) from None
    print(json.dumps(info, indent=2))
    return 0


def main(argv=None) -> int:
    """``faceres-export`` / ``python -m faceres_tf.export_cli``; returns the exit status."""
    return cli.run(export_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
