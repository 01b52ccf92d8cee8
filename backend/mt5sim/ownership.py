"""Which process serves a simulator file: an exclusive lock on ``<db>.owner``.

A ``Broker`` keeps its state in memory and writes it through to its SQLite file, so one process
at a time may trade on a file: the *owner*. The owner holds an advisory lock (``flock``; a
byte-range lock on Windows) on a sidecar file next to the database for as long as its broker is
open; the operating system drops it when the process dies, however it dies. Admin commands use
the lock to tell whether a simulator is running (see ``admin_commands``), and write the holder's
pid into the file so they can name it.

Within one process the lock is kept in a registry: a second ``Broker`` on a file this process
already owns does not wait for itself, it is a *guest* (it works on its own copy in memory, as
every broker did before files had owners; tests and read-only helpers do that).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


logger = logging.getLogger("mt5.simulator")

_HELD: set[str] = set()  # lock files this process holds
_HELD_GUARD = threading.Lock()


def lock_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.owner")


class OwnerLock:
    """This process serves the simulator file; ``release`` (or process exit) gives it up."""

    def __init__(self, key: str, fd: int) -> None:
        self.key = key
        self._fd: int | None = fd

    @classmethod
    def acquire(
        cls, db_path: str | Path, *, wait_s: float = 0.0, poll_s: float = 0.05
    ) -> OwnerLock | None:
        """Take the file's lock, retrying for ``wait_s`` while another process holds it.

        None for ``:memory:`` (nothing to share), when another broker of this process owns the
        file (no wait: it will not let go for us), or when another process kept it throughout.
        """
        if str(db_path) == ":memory:":
            return None
        key = os.path.realpath(lock_path(db_path))
        deadline = time.monotonic() + wait_s
        while True:
            with _HELD_GUARD:
                if key in _HELD:
                    return None
                lock = cls._try(key)
                if lock is not None:
                    _HELD.add(key)
                    return lock
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll_s)

    @classmethod
    def _try(cls, key: str) -> OwnerLock | None:
        try:
            Path(key).parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # e.g. left behind by another OS user: nobody can own it here
            logger.warning("simulator lock %s cannot be opened: %s", key, exc)
            return None
        if not _try_lock(fd):
            os.close(fd)
            return None
        # Byte 0 is the locked byte on Windows; the pid follows it, readable while locked.
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f" {os.getpid()}\n".encode())
        return cls(key, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        with _HELD_GUARD:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            try:
                _unlock(fd)
            finally:
                os.close(fd)
                _HELD.discard(self.key)


def holder_pid(db_path: str | Path) -> int | None:
    """The pid written by the process that last owned the file (it may have exited since)."""
    try:
        with open(lock_path(db_path), "rb") as handle:
            handle.seek(1)
            text = handle.read(32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
