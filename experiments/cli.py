"""The command-line contract every ``experiments/`` driver shares (absl).

The same convention as the installed argparse commands (:mod:`faceres_tf.cli`,
which this module takes its TensorFlow, logging and error handling from):

* ``--help`` / ``-h`` / ``--helpshort`` print the driver's docstring and its
  own flags with their defaults, then exit 0 (absl exits 1); ``--helpfull``
  lists every flag, absl's own included.
* Shared names: ``--output/-o``, ``--overwrite``, ``--quiet`` (no progress
  bar; ``--noquiet`` is the default), ``--verbose`` (TensorFlow's own log).
* A flag that does not parse, and any :class:`UserError` raised before or
  during the run, is one line ``error: ...`` on stderr and exit status 2.
  Drivers check their inputs before creating anything, so a user error leaves
  no files behind.
* A training run stopped by Ctrl-C / SIGTERM (:class:`Interrupted`) exits 130
  after a checkpoint was written; rerunning the same command resumes.
* Anything else is a bug and keeps its traceback.
* Results on stdout; log messages and progress bars on stderr.
* TensorFlow's C++ start-up log is silenced unless ``--verbose``
  (:func:`faceres_tf.cli.import_tensorflow_quietly`).

Usage in a driver::

    def main(argv):
        return cli.run_experiment(lambda: my_experiment(options_from_flags()))

    if __name__ == "__main__":
        cli.run_driver(main)
"""

from __future__ import annotations

import sys
from typing import Callable

from absl import app, flags

# One hierarchy of user mistakes for the package and the drivers: a ConfigError,
# RunLockedError, ... raised by faceres_tf is a UserError here too.
from faceres_tf.cli import EXIT_INTERRUPTED, EXIT_USAGE, fail, import_tensorflow_quietly, log_to_stderr, renamed_hint
from faceres_tf.errors import UserError, one_line

__all__ = ["EXIT_INTERRUPTED", "EXIT_USAGE", "Interrupted", "UserError", "fail", "one_line", "run_driver",
           "run_experiment"]

SHORT_HELP = ("--help", "-h", "-?", "--helpshort")
FULL_HELP = ("--helpfull",)


class Interrupted(RuntimeError):
    """A training run was interrupted (Ctrl-C / SIGTERM); rerun to resume."""


def _parse_flags(argv):
    """absl's flags_parser with this module's help and error conventions."""
    args = argv[1:]
    if any(a in FULL_HELP for a in args):
        app.usage(shorthelp=False, writeto_stdout=True, exitcode=0)
    if any(a in SHORT_HELP for a in args):
        app.usage(shorthelp=True, writeto_stdout=True, exitcode=0)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        sys.exit(fail(f"{e}{renamed_hint(str(e))} (see --help)"))


def run_driver(main: Callable) -> None:
    """``absl.app.run(main)`` with the conventions above; ``main`` returns the exit status."""
    def quiet_main(argv):
        import_tensorflow_quietly(flags.FLAGS["verbose"].value if "verbose" in flags.FLAGS else False)
        return main(argv)

    app.run(quiet_main, flags_parser=_parse_flags)


def run_experiment(body: Callable[[], object]) -> int:
    """Runs ``body()`` and maps its outcome to an exit status (0, 2 or 130)."""
    try:
        with log_to_stderr("verbose" in flags.FLAGS and flags.FLAGS["verbose"].value):
            body()
    except UserError as e:
        return fail(e)
    except Interrupted as e:
        print(one_line(e), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return 0
