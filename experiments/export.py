r"""Export a trained generator: ``python -m experiments.export --workdir RUN --out DIR``.

Writes ``DIR/saved_model/`` (TF SavedModel: signatures ``serving_default``
uint8 -> uint8 and ``serving_float`` [-1, 1] -> [-1, 1], both with an int32
``noise_seed``), ``DIR/model.tflite`` (float32, noise as explicit inputs) and
``DIR/export_info.json``. See :mod:`faceres_tf.export` for the signatures.

    python -m experiments.export --workdir=runs/tiny --out=exports/tiny --format=both
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
if "workdir" not in FLAGS:  # shared with experiments.train when both are imported (tests)
    flags.DEFINE_string("workdir", None, "Training run directory (config.json + checkpoints/).")
flags.DEFINE_string("out", None, "Output directory (must not exist unless --overwrite).")
flags.DEFINE_enum("format", "both", ["saved_model", "tflite", "both"], "What to export.")
if "overwrite" not in FLAGS:
    flags.DEFINE_bool("overwrite", False, "Replace an existing output directory.")
flags.DEFINE_bool("ema", True, "Export the EMA generator (default) or the raw one.")
flags.DEFINE_integer("tflite_batch_size", 1, "Fixed batch size of the TFLite model.")
if "precision" not in FLAGS:  # experiments.train defines it too (default: the preset's)
    flags.DEFINE_enum("precision", "fp32", ["fp32", "bf16"],
                      "Compute precision of the SavedModel (the TFLite model is always float32).")
flags.mark_flags_as_required(["workdir", "out"])


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from faceres_tf.export import export_run

    try:
        info = export_run(FLAGS.workdir, FLAGS.out, fmt=FLAGS.format, overwrite=FLAGS.overwrite,
                          use_ema=FLAGS.ema, tflite_batch_size=FLAGS.tflite_batch_size,
                          precision=FLAGS.precision or "fp32")
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
