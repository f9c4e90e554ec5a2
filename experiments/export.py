r"""Export a trained generator: ``python -m experiments.export --workdir=RUN --output=DIR``.

Writes DIR/saved_model/ (TF SavedModel: signatures serving_default
uint8 -> uint8 and serving_float [-1, 1] -> [-1, 1], both with an int32
noise_seed), DIR/model.tflite (float32, noise as explicit inputs) and
DIR/export_info.json. See faceres_tf.export for the signatures.

    python -m experiments.export --workdir=runs/tiny --output=exports/tiny --format=both
"""

from __future__ import annotations

import json

from absl import flags

from experiments import cli, options

options.define_workdir_flag()
flags.DEFINE_string("output", None, "Output directory (required; must not exist unless --overwrite; "
                    "--overwrite replaces only an earlier export, never other files).", short_name="o")
flags.DEFINE_enum("format", "both", ["saved_model", "tflite", "both"], "What to export.")
options.define_overwrite_flag()
options.define_ema_flag()
flags.DEFINE_integer("tflite_batch_size", 1, "Fixed batch size of the TFLite model.")
options.define_precision_flag()
flags.adopt_module_key_flags(options)
FLAGS = flags.FLAGS


def export_from_flags() -> None:
    from faceres_tf.export import export_run

    for name in ("workdir", "output"):
        if not FLAGS[name].value:
            raise cli.UserError(f"--{name} is required (see --help).")
    try:
        info = export_run(FLAGS.workdir, FLAGS.output, fmt=FLAGS.format, overwrite=FLAGS.overwrite,
                          use_ema=FLAGS.ema, tflite_batch_size=FLAGS.tflite_batch_size,
                          precision=FLAGS.precision or "auto")
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        raise cli.UserError(e) from None
    print(json.dumps(info, indent=2))


def main(argv):
    del argv
    return cli.run_experiment(export_from_flags)


if __name__ == "__main__":
    cli.run_driver(main)
