"""The command-line contract every ``experiments/`` driver shares.

* ``--help`` / ``-h`` / ``--helpshort`` print the driver's docstring and its
  own flags with their defaults, then exit 0 (absl exits 1); ``--helpfull``
  lists every flag, absl's own included.
* A flag that does not parse, and any :class:`UserError` raised before or
  during the run, is one line ``error: ...`` on stderr and exit status 2.
  Drivers check their inputs before creating anything, so a user error leaves
  no files behind.
* A training run stopped by Ctrl-C / SIGTERM (:class:`Interrupted`) exits 130
  after a checkpoint was written; rerunning the same command resumes.
* Anything else is a bug and keeps its traceback.
* TensorFlow's C++ start-up log (oneDNN notes, "failed call to cuInit" on a
  CPU machine) is silenced: TensorFlow is imported, and its devices listed,
  with stderr redirected to /dev/null (``TF_CPP_MIN_LOG_LEVEL`` no longer
  reaches these messages in TF 2.21). Set ``FACERES_TF_VERBOSE=1`` to see it.

Usage in a driver::

    def main(argv):
        return cli.run_experiment(lambda: my_experiment(options_from_flags()))

    if __name__ == "__main__":
        cli.run(main)
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHORT_HELP = ("--help", "-h", "-?", "--helpshort")
FULL_HELP = ("--helpfull",)
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# One hierarchy of user mistakes for the package and the drivers: a ConfigError,
# RunLockedError, ... raised by faceres_tf is a UserError here too.
from faceres_tf.errors import UserError  # noqa: E402


class Interrupted(RuntimeError):
    """A training run was interrupted (Ctrl-C / SIGTERM); rerun to resume."""


def one_line(text) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())


def fail(message) -> int:
    """Prints ``error: message`` as one line on stderr; returns exit status 2."""
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def _parse_flags(argv):
    """absl's flags_parser with this module's help and error conventions."""
    from absl import app, flags

    args = argv[1:]
    if any(a in FULL_HELP for a in args):
        app.usage(shorthelp=False, writeto_stdout=True, exitcode=0)
    if any(a in SHORT_HELP for a in args):
        app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        sys.exit(fail(f"{e} (see --help)"))


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and lists its devices with file descriptor 2 sent to
    /dev/null, so its C++ start-up messages do not bury our own output. An
    import error still raises (after stderr is restored)."""
    if os.environ.get("FACERES_TF_VERBOSE") == "1" or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run(main: Callable) -> None:
    """``absl.app.run(main)`` with the conventions above; ``main`` returns the exit status."""
    from absl import app

    def quiet_main(argv):
        import_tensorflow_quietly()
        return main(argv)

    app.run(quiet_main, flags_parser=_parse_flags)


def setup_logging() -> None:
    """Progress messages on stdout, one line each."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)


def run_experiment(body: Callable[[], object]) -> int:
    """Runs ``body()`` and maps its outcome to an exit status (0, 2 or 130)."""
    setup_logging()
    try:
        body()
    except UserError as e:
        return fail(e)
    except Interrupted as e:
        print(one_line(e), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return 0
