"""An exclusive lock on a run directory, so two trainings never share one.

``RUN_DIR/train.lock`` is locked with ``fcntl.flock`` for as long as a
training process runs. The operating system releases the lock when the
process ends in any way (return, exception, ``kill -9``, crash), so a lock
left by a dead process is never mistaken for a live one: the file stays, but
nobody holds it. The file records who holds it (pid, host, start time,
command) for the message a second process gets:

    error: /runs/x is in use by another training (pid 4242 on host gpu1,
    started 2026-11-30 10:00:00: faceres-train ...); wait for it
    to finish or stop it, or use another --workdir.

A run directory without a lock file (e.g. written by an older version) just
gets one. [ours; the same idea as Orbit / TensorBoard's single-writer rule,
with an OS lock instead of a pid file so kill -9 cannot leave a stale lock.]

``flock`` works on local file systems and on most network file systems
(NFSv4); it does not protect against two machines writing to one directory on
a file system without lock support.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from faceres_tf.errors import RunLockedError

logger = logging.getLogger("faceres_tf.train")

LOCK_NAME = "train.lock"


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts.append(f"on host {holder['host']}")
    if holder.get("started"):
        parts.append(f"started {holder['started']}")
    text = " ".join(parts)
    if holder.get("command"):
        text += f": {holder['command']}"
    return text


class RunLock:
    """Exclusive, non-blocking lock on ``run_dir`` (a context manager).

    Args:
        run_dir: the run directory (must exist).
    Raises:
        RunLockedError: from :meth:`acquire` when a live process holds it.
    """

    def __init__(self, run_dir: os.PathLike):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None
        self.previous_holder: dict = {}

    @property
    def held(self) -> bool:
        return self._fd is not None

    def read_holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "RunLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunLockedError(
                    f"{self.path.parent} is in use by another training "
                    f"({_describe(self.read_holder())}); wait for it to finish or stop it, "
                    "or use another --workdir."
                ) from None
            raise
        self._fd = fd
        self.previous_holder = self.read_holder()
        if self.previous_holder.get("pid"):
            # Nobody holds the lock, but the file names a holder: that process
            # ended without releasing it (killed or crashed).
            logger.warning("Run directory lock of %s was left by a process that is gone; "
                           "taking it over.", _describe(self.previous_holder))
        self._write({
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv)[:500],
        })
        return self

    def _write(self, holder: dict) -> None:
        data = json.dumps(holder).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        """Clears the holder record and unlocks (the file itself stays)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
