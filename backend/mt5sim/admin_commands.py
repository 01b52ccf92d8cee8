"""Admin changes (``flask mt5 sim-account``, ``flask mt5 set-quote``) that reach a running broker.

A running server, Celery worker or ``serve-simulator`` node keeps its broker in memory and is
the only writer of the broker's file: a command that opened the file and wrote records itself
would collide with it (ticket numbers, balances, stops fired twice) and the running process
would not see the change before a restart. So a command never writes records. It queues a
*request* in the file's ``admin_requests`` table and the owner of the file applies it with its
own ``Broker`` methods (``admin_requests.apply_request``), then writes the outcome back:

* a running owner notices within ``broker.SYNC_INTERVAL_S`` (its watcher thread compares SQLite's
  ``data_version``, which moves only when another connection commits), applies the request and
  the command prints the outcome; the next terminal call sees the change;
* with no process running, the command becomes the owner for a moment: it opens the broker,
  which applies every queued request as it loads, and closes it;
* a request nobody confirms within the command's wait stays queued and is applied by whichever
  broker next owns the file.

Terminal calls pay nothing for this: the check runs on the watcher thread, and on a login to an
unknown account (which would otherwise open that account with default settings).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mt5sim.admin_requests import KINDS
from mt5sim.broker import Broker
from mt5sim.ownership import OwnerLock, holder_pid
from mt5sim.persistence import Store

POLL_S = 0.02


class RequestRefused(Exception):
    """The broker refused the request (unknown symbol, unsupported currency, ...)."""


class RequestPending(Exception):
    """No broker confirmed the request in time; it stays queued in the file."""

    def __init__(self, request_id: int, owner_pid: int | None) -> None:
        self.request_id, self.owner_pid = request_id, owner_pid
        super().__init__(request_id, owner_pid)


@dataclass(frozen=True)
class Applied:
    request_id: int
    result: str
    applied_by: int  # pid of the process whose broker applied it
    by_running_simulator: bool  # False: the command applied it, nothing served the file


def submit(
    db_path: str | Path, kind: str, payload: dict[str, Any], *, name: str = "default",
    wait_s: float = 10.0,
) -> Applied:  # fmt: skip
    """Queue a request for the broker of ``db_path`` and wait for its outcome.

    Raises ``RequestRefused`` when the broker refused it, ``RequestPending`` when no broker
    applied it within ``wait_s`` (a running owner that is stuck; it stays queued).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown admin request kind {kind!r}")
    store = Store(db_path)
    try:
        request_id = store.submit_request(kind, payload)
        deadline = time.monotonic() + wait_s
        applied_here = False
        while True:
            outcome = store.request_outcome(request_id)
            if outcome is not None and outcome.done:
                store.forget_request(request_id)
                if outcome.error is not None:
                    raise RequestRefused(outcome.error)
                pid = outcome.applied_by or 0
                running = not (applied_here and pid == os.getpid())
                return Applied(request_id, outcome.result or "", pid, running)
            lock = OwnerLock.acquire(db_path)
            if lock is not None:  # nothing serves the file: apply it here, as its owner
                _apply_as_owner(db_path, name, lock)
                applied_here = True
                continue
            if time.monotonic() >= deadline:
                raise RequestPending(request_id, holder_pid(db_path))
            time.sleep(POLL_S)
    finally:
        store.close()


def _apply_as_owner(db_path: str | Path, name: str, lock: OwnerLock) -> None:
    # Opening applies every queued request; step_ms=0 leaves the saved quotes where they are.
    Broker(db_path, name=name, step_ms=0, owner_lock=lock).close()
