"""Exceptions for mistakes the user can fix (bad setting, bad file, busy run).

Every command-line tool turns a :class:`UserError` into ONE line on stderr
(``error: <message>``) and exit status 2 (:func:`faceres_tf.cli.run`, and
``experiments/cli.py`` for the drivers); any other exception is a bug in this
package and keeps its traceback. The message
of a :class:`UserError` names what is wrong and what to do.

The classes also derive from the built-in exception a caller would expect
(``ValueError`` for bad values, ``FileNotFoundError`` for missing files), so
``except ValueError`` keeps working.
"""

from __future__ import annotations

import sys


class UserError(Exception):
    """Base class: a problem with the user's input, not a bug."""


class ConfigError(UserError, ValueError):
    """A config field has an impossible value or type (the message names the key)."""


class UnknownPresetError(ConfigError, KeyError):
    """``presets.get`` got a name that is not a preset."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RunDirError(UserError, RuntimeError):
    """A run directory cannot be used as asked (busy, unusable checkpoints,
    changed config, not a run directory)."""


class NotFoundError(RunDirError, FileNotFoundError):
    """A run directory, its config.json or a checkpoint the command needs is missing."""


class RunLockedError(RunDirError):
    """Another live process is training in the same run directory."""


class ConfigChangedError(RunDirError):
    """The config differs from the one the run was started with."""


class UnsafePathError(UserError, ValueError):
    """An output path would overwrite an input or something that is not ours."""


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (for ``error: ...`` output)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def report_user_error(exc: BaseException, prog: str | None = None, stream=None) -> int:
    """Prints ``[prog: ]error: <message>`` on one line to stderr; returns 2."""
    stream = stream or sys.stderr
    prefix = f"{prog}: " if prog else ""
    print(f"{prefix}error: {one_line(exc)}", file=stream, flush=True)
    return 2
