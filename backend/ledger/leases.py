"""Who holds a claimed row: lease owner ids, and whether the process behind one still lives."""

from __future__ import annotations

import os
import socket
import uuid

LEASE_SECONDS = 120  # above the gateway's own call timeout (75 s), so a live send keeps its row
HOST = socket.gethostname()


def new_owner_id() -> str:
    """host:pid:random — the pid lets a restart on the same host reclaim a dead worker's rows."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str | None) -> bool:
    """True only when the owner ran on this host and its process no longer exists."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child its parent has not reaped yet still answers kill(pid, 0)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
