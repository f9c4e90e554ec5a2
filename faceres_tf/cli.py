"""The command-line convention every command shares.

Two parser libraries, one convention. The installed commands
(``faceres-restore``, ``faceres-evaluate``, ``faceres-train``, ``faceres-export``,
``faceres-bundle``, ``faceres-prepare``, ``faceres-convert-lpips``) parse with
argparse through this module; the paper's table drivers in ``experiments/``
parse with absl through ``experiments/cli.py``, which takes its TensorFlow, logging and error handling
from here.

* The same name for the same thing: ``--input/-i`` (what is read),
  ``--output/-o`` (what is written), ``--overwrite`` (replace existing
  outputs), ``--quiet`` (no progress bar), ``--verbose`` (show TensorFlow's
  own log). Flag names are exact (no abbreviations; absl has none).
* ``--help`` lists every flag with its default and exits 0.
* A flag that does not parse, and any :class:`~faceres_tf.errors.UserError`,
  is ONE line ``error: ...`` on stderr and exit status 2. Anything else is a
  bug and keeps its traceback. Ctrl-C exits 130.
* Results on stdout; progress bars, notes, warnings and errors on stderr.
* TensorFlow's C++ log is silenced unless ``--verbose`` (or
  ``FACERES_TF_VERBOSE=1``): its start-up messages (oneDNN notes, "Could not
  find cuda drivers", "failed call to cuInit" on a CPU machine) by importing
  TensorFlow, and listing its devices, with file descriptor 2 sent to
  /dev/null (``TF_CPP_MIN_LOG_LEVEL`` does not reach them in TF 2.21); later
  ones by ``TF_CPP_MIN_LOG_LEVEL=3`` (unless set by the user); absl's INFO
  records by :func:`log_to_stderr`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Callable

from faceres_tf.errors import UserError, report_user_error

# Before anything imports TensorFlow; remembered so that --verbose can undo it.
# 3 also hides C++ ERROR lines that are not errors of the run (e.g. grappler's
# "remapper failed" while tracing the training step); real failures raise.
_USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

VERBOSE_ENV = "FACERES_TF_VERBOSE"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Flags renamed for this convention -> the new name (named in the error).
RENAMED_FLAGS = {
    "--out": "--output", "--no_progress": "--quiet", "--noprogress": "--quiet",
    "--progress": "--noquiet", "--folder": "--output",
    "--src": "--input", "--dst": "--output",
}


def fail(message) -> int:
    """Prints ``error: message`` as one line on stderr; returns exit status 2."""
    return report_user_error(message)


def renamed_hint(text: str) -> str:
    """`` (--out is now --output)`` for each renamed flag mentioned in ``text``."""
    names = set()
    for word in text.split():
        word = word.strip(",.:;()")
        if word[:1] in ("'", '"'):  # absl quotes the bare flag name
            word = "--" + word.strip("'\"")
        names.add(word.split("=")[0])
    hints = [f"{old} is now {new}" for old, new in RENAMED_FLAGS.items() if old in names]
    return f" ({'; '.join(hints)})" if hints else ""


# ----------------------------------------------------------------------------- TensorFlow
def import_tensorflow_quietly(verbose: bool = False) -> None:
    """Imports TensorFlow and lists its devices with file descriptor 2 sent to
    /dev/null, so its C++ start-up messages do not bury our own output.
    ``verbose`` (or ``FACERES_TF_VERBOSE=1``) shows them instead. An import
    error still raises (after stderr is restored)."""
    verbose = verbose or os.environ.get(VERBOSE_ENV) == "1"
    if "tensorflow" in sys.modules:
        return
    if verbose:
        if _USER_TF_LOG_LEVEL is None:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
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


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests replace it)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass

    def format(self, record):
        text = super().format(record)
        return text if record.levelno == logging.INFO else f"{record.levelname.lower()}: {text}"


class _WarningsAndAbove(logging.Filter):
    """Drops records below WARNING (attached to a logger, it holds even when a
    library resets that logger's level or adds a root handler, as TensorFlow's
    SavedModel / TFLite writers do)."""

    def filter(self, record):
        return record.levelno >= logging.WARNING


QUIET_LOGGERS = ("absl", "tensorflow")


@contextlib.contextmanager
def log_to_stderr(verbose: bool = False):
    """While a command runs, the package's log records (logger ``faceres_tf``)
    go to stderr, one line each (INFO plain, others ``warning: ...``), and only
    there; INFO records of absl and TensorFlow's Python side (e.g. "Sharding
    callback duration", "Assets written to") are hidden unless ``verbose``,
    by a filter on those loggers that survives a library resetting their
    level. absl's root handler (``I1130 12:00:00.0 file.py:12] ...`` lines)
    is removed, and so is any root handler added while the command runs."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler).__name__ == "ABSLHandler":
            root.removeHandler(handler)
    package, absl_logger, handler = logging.getLogger("faceres_tf"), logging.getLogger("absl"), _StderrHandler()
    saved = package.level, package.propagate, absl_logger.level
    root_handlers = list(root.handlers)
    quiet = _WarningsAndAbove()
    package.addHandler(handler)
    package.setLevel(logging.INFO)
    package.propagate = False
    if not verbose:
        absl_logger.setLevel(logging.WARNING)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).addFilter(quiet)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(saved[0])
        package.propagate = saved[1]
        absl_logger.setLevel(saved[2])
        for name in QUIET_LOGGERS:
            logging.getLogger(name).removeFilter(quiet)
        for extra in [h for h in root.handlers if h not in root_handlers]:
            root.removeHandler(extra)  # e.g. a basicConfig() inside TensorFlow's writers


# ----------------------------------------------------------------------------- argparse
class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the description's line breaks; appends ``(default: X)`` to every
    flag that takes a value and has a default (not to required flags, switches
    or ``None``: their help says what happens without them)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.required or action.nargs == 0 or action.default in (None, argparse.SUPPRESS)
                or "%(default)" in text or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with this convention: exact flag names, defaults in --help,
    a parse error is one line ``error: ...`` on stderr and exit status 2."""

    def __init__(self, prog: str, description: str, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(prog=prog, description=description, allow_abbrev=False, **kwargs)

    def error(self, message):  # argparse: usage + "prog: error: ..." on several lines
        sys.exit(fail(f"{message}{renamed_hint(message)} (see {self.prog} --help)"))


def make_parser(prog: str, description: str, epilog: str | None = None, *, input: dict | None = None,
                output: dict | None = None, overwrite: str | None = None,
                quiet: bool = False) -> Parser:
    """A :class:`Parser` with the shared flags of the convention.

    ``input`` / ``output``: keyword arguments of ``add_argument`` (``help``,
    ``required``, ``default``) for ``--input/-i`` / ``--output/-o``, or None
    when the command has no such flag. ``overwrite``: help of ``--overwrite``.
    ``quiet``: the command shows a progress bar (adds ``--quiet``).
    ``--verbose`` is always there.
    """
    p = Parser(prog, description, epilog=epilog)
    if input is not None:
        p.add_argument("-i", "--input", **input)
    if output is not None:
        p.add_argument("-o", "--output", **output)
    common = p.add_argument_group("shared options")
    if overwrite is not None:
        common.add_argument("--overwrite", action="store_true", help=overwrite)
    if quiet:
        common.add_argument("--quiet", action="store_true", help="no progress bar")
    common.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log (hidden by default)")
    return p


def add_switch(parser, name: str, help: str, default: bool | None = False) -> None:
    """``--NAME`` / ``--noNAME``: a switch in the absl spelling the training
    flags have always had. ``default=None``: absent means "the preset's"."""
    dest = name.replace("-", "_")
    state = {None: "unset: the preset's", True: "on", False: "off"}[default]
    parser.add_argument(f"--{name}", dest=dest, action="store_true", default=default,
                        help=f"{help} (default: {state}; --no{name} turns it off)")
    parser.add_argument(f"--no{name}", dest=dest, action="store_false", help=argparse.SUPPRESS)


def run(main: Callable[[argparse.Namespace], int], parser: argparse.ArgumentParser, argv=None,
        tensorflow: bool | Callable[[argparse.Namespace], bool] = True) -> int:
    """Parses ``argv``, loads TensorFlow quietly when ``tensorflow`` (or
    ``tensorflow(args)``) is true, then returns ``main(args)``'s exit status;
    a :class:`UserError` becomes one stderr line and status 2."""
    args = parser.parse_args(argv)
    try:
        if tensorflow is True or (callable(tensorflow) and tensorflow(args)):
            import_tensorflow_quietly(getattr(args, "verbose", False))
        with log_to_stderr(getattr(args, "verbose", False)):
            return main(args)
    except UserError as e:
        return fail(e)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
