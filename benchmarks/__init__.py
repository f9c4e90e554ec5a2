"""Speed and cost benchmarks of faceres_tf, run from a checkout as modules::

    python -m benchmarks.bench_generator [--json]
    python -m benchmarks.bench_train --preset cpu_128 --json

Each prints its results through the one writer :func:`benchmarks.machine.emit`
(a markdown page, also written under ``benchmarks/results/``, or ``--json``
lines) with the machine it ran on (:mod:`benchmarks.machine`), and silences
TensorFlow's C++ start-up log (:func:`faceres_tf.cli.import_tensorflow_quietly`).
Importing this package imports neither TensorFlow nor Keras.
"""
