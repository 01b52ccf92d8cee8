"""The embedded executor: a thread pool in the server process, one ledger thread, a sweeper.

Threads in the pool only talk to terminals (``execute_job``); every database write goes through
one ledger thread, which claims rows, records outcomes in batches (one transaction for all that
finished since the last write) and chains each account's next row. That keeps SQLite to a single
writer here and makes a 1000-target fan-out a handful of transactions instead of thousands.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from extensions import db
from ledger import leases, recovery, store
from ledger.execution import Hook, execute_job
from ledger.jobs import Job, load_jobs_or_fail
from ledger.types import RowOutcome
from services.metrics import observe_outcomes
from utils.database import serialised_writes

logger = logging.getLogger("workers.embedded")

SWEEP_INTERVAL_S = 5.0
BATCH_WINDOW_S = 0.02
MAX_BACKOFF_S = 5.0
START_CHUNK = 1000  # claimed rows loaded and started together (see _load_and_start)


def _backoff(failures: int) -> float:
    """0.1 s, 0.2 s, 0.4 s ... up to MAX_BACKOFF_S between attempts while the database is down."""
    return min(MAX_BACKOFF_S, 0.1 * 2 ** (failures - 1))


@dataclass
class _Inbox:
    dispatches: set[int] = field(default_factory=set)
    rows: set[int] = field(default_factory=set)
    outcomes: list[RowOutcome] = field(default_factory=list)
    sweep: bool = False


class ThreadExecutor:
    """Runs ledger rows on a thread pool; safe to lose: the ledger table is the queue."""

    kind = "threads"

    def __init__(
        self,
        app: Flask,
        *,
        threads: int,
        gateway_getter: Callable[[], Any],
        sweep_interval_s: float = SWEEP_INTERVAL_S,
        hooks: Hook | None = None,
    ) -> None:
        self.app = app
        self.threads = threads
        self.owner = leases.new_owner_id()
        self._gateway = gateway_getter
        self._hooks = hooks
        self._sweep_interval = sweep_interval_s
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._in_flight = 0
        self._idle = threading.Event()  # set while no order is at a terminal
        self._idle.set()
        self._lock = threading.Lock()
        self._accounts: dict[int, int] = {}  # claimed row id -> account id (ledger thread only)
        self._dispatch_of: dict[int, int] = {}  # claimed row id -> dispatch id (ledger thread)
        self._dispatch_events: dict[int, threading.Event] = {}
        self._unrecorded: list[RowOutcome] = []  # outcomes a failed write must not lose

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ledger-exec")
            self._thread = threading.Thread(target=self._run, name="ledger", daemon=True)
            self._thread.start()
        self._inbox.put(("sweep", None))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, pool = self._thread, self._pool
            self._thread = None
        if thread is None:
            return
        self._stopping.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=False)  # running sends finish and report
        self._inbox.put(("stop", None))
        thread.join(timeout)

    @property
    def sending(self) -> bool:
        """Orders are at the terminals right now (the session keeper waits for them)."""
        return self._in_flight > 0

    def wait_idle(self, timeout: float) -> bool:
        """Block until no order is at a terminal (or timeout); whether none is."""
        return self._idle.wait(timeout)

    def _count_in_flight(self, change: int) -> None:
        with self._lock:
            self._in_flight += change
            if self._in_flight > 0:
                self._idle.clear()
            else:
                self._idle.set()

    def health(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "running": self.running,
            "threads": self.threads,
            "in_flight": self._in_flight,
            "owner": self.owner,
        }

    # --- what the services call --------------------------------------------------------------

    def submit_dispatch(self, dispatch_id: int) -> None:
        """Wake the executor right after the dispatch's transaction committed."""
        self.start()
        self._inbox.put(("dispatch", dispatch_id))

    def wait_dispatch(self, dispatch_id: int, timeout: float) -> None:
        """Block until an outcome of this dispatch was recorded (or timeout).

        Each waiter wakes only for its own dispatch, so fifty clients waiting on fifty orders
        do not all re-read the database after every batch.
        """
        with self._lock:
            event = self._dispatch_events.setdefault(dispatch_id, threading.Event())
        event.wait(timeout)

    def wait_changed(self, timeout: float) -> None:
        """Block until some outcome was recorded (or timeout) — for callers waiting on results."""
        with self._changed:
            self._changed.wait(timeout)

    # --- the ledger thread -------------------------------------------------------------------

    def _run(self) -> None:
        next_sweep = 0.0
        failures = 0
        with self.app.app_context():
            while True:
                timeout = max(0.0, next_sweep - time.monotonic())
                inbox = self._collect(timeout)
                if inbox is None:
                    break
                inbox.outcomes[:0], self._unrecorded = self._unrecorded, []
                try:
                    sweep = inbox.sweep or time.monotonic() >= next_sweep
                    if sweep:
                        next_sweep = time.monotonic() + self._sweep_interval
                    self._handle(inbox, sweep=sweep)
                    failures = 0
                except Exception:
                    # A database outage must not end the thread: what failed to record is kept
                    # and retried, what failed to start is re-driven by the next sweep.
                    failures += 1
                    logger.exception("ledger thread: batch failed (%s in a row)", failures)
                    db.session.rollback()
                    next_sweep = min(next_sweep, time.monotonic() + _backoff(failures))
                finally:
                    db.session.remove()
            self._give_back_unstarted()

    def _collect(self, timeout: float) -> _Inbox | None:
        inbox = _Inbox()
        try:
            items = [self._inbox.get(timeout=timeout)]
        except queue.Empty:
            return inbox
        # Outcomes arrive in bursts during a fan-out: gather a short window of them so one
        # transaction records many (new dispatches are started at once, without the window).
        # The window closes early once every send in flight has reported: nothing more is
        # coming, and the last outcome of a small dispatch need not wait out the window.
        window_ends = time.monotonic() + (BATCH_WINDOW_S if items[0][0] == "outcome" else 0)
        reported = int(items[0][0] == "outcome")
        while True:
            if reported >= self._in_flight:
                window_ends = 0.0
            try:
                remaining = window_ends - time.monotonic()
                items.append(
                    self._inbox.get(timeout=remaining)
                    if remaining > 0
                    else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
            reported += items[-1][0] == "outcome"
        for kind, value in items:
            if kind == "stop":
                self._record_at_stop(inbox.outcomes)
                return None
            if kind == "dispatch":
                inbox.dispatches.add(value)
            elif kind == "outcome":
                inbox.outcomes.append(value)
            elif kind == "sweep":
                inbox.sweep = True
        return inbox

    def _handle(self, inbox: _Inbox, *, sweep: bool = False) -> None:
        """Record first, then sweep and claim: whatever fails after the outcomes are recorded
        loses nothing (the next sweep re-drives pending rows); outcomes that failed to record
        are kept for the next attempt."""
        session = db.session
        try:
            accounts = self._record(inbox.outcomes)
        except Exception:
            self._unrecorded.extend(inbox.outcomes)
            raise
        if sweep:
            inbox.rows.update(self._sweep())
        with serialised_writes(session):
            claimed = store.claim_rows(
                session,
                owner=self.owner,
                account_ids=sorted(accounts),
                dispatch_ids=sorted(inbox.dispatches),
                row_ids=sorted(inbox.rows),
            )
        if claimed:
            self._load_and_start(sorted(set(claimed)))

    def _load_and_start(self, row_ids: list[int]) -> None:
        """Load the claimed rows as jobs a chunk at a time and start each chunk at once.

        A chunk is large (START_CHUNK): this thread loads while nothing of the claim runs yet.
        Chunks of 100 put the first orders out sooner, but the next nine chunks then loaded
        while those orders' threads took the interpreter's lock from this one thread: a
        1000-row claim took 0.75-1.2 s to load and start instead of 0.13-0.33 s, and every
        outcome waited behind it to be recorded. A bigger claim still starts its first chunk
        while the rest loads, behind a pool with work for several rounds. A chunk that cannot
        be loaded gives back every row not yet started, so none waits in flight for its lease
        to run out.
        """
        box = self.app.extensions["secret_box"]
        day_start = self.app.config["TRADING_DAY_START_UTC"]
        for start in range(0, len(row_ids), START_CHUNK):
            chunk = row_ids[start : start + START_CHUNK]
            try:
                jobs, broken = load_jobs_or_fail(db.session, chunk, box, day_start)
            except Exception:
                db.session.rollback()
                self._release_quietly(row_ids[start:])
                raise
            self._start_jobs(jobs)
            self._count_in_flight(len(broken))
            for outcome in broken:  # recorded with the next batch, like any outcome
                self._inbox.put(("outcome", outcome))

    def _release_quietly(self, row_ids: list[int]) -> None:
        """Hand rows back as pending; if the database is away, their lease expiring does it."""
        try:
            store.release_rows(db.session, row_ids, owner=self.owner)
        except Exception:
            logger.warning("ledger thread: %s claimed row(s) left to their lease", len(row_ids))
            db.session.rollback()

    def _record(self, outcomes: list[RowOutcome]) -> set[int]:
        if not outcomes:
            return set()
        with serialised_writes(db.session):  # queued behind a POST's insert, not busy-slept
            store.record_outcomes(db.session, outcomes, owner=self.owner)
        observe_outcomes(self.app, outcomes)
        if self._hooks is not None:
            self._hooks("after_record", None)
        self._count_in_flight(-len(outcomes))
        with self._changed:
            self._changed.notify_all()
        dispatches = {self._dispatch_of.pop(o.row_id, None) for o in outcomes}
        with self._lock:
            for dispatch_id in dispatches:
                event = self._dispatch_events.pop(dispatch_id, None)  # type: ignore[arg-type]
                if event is not None:
                    event.set()
        accounts = {self._accounts.pop(o.row_id, None) for o in outcomes}
        return {a for a in accounts if a is not None}

    def _start_jobs(self, jobs: list[Job]) -> None:
        pool = self._pool
        if pool is None or self._stopping.is_set():
            store.release_rows(db.session, [j.row_id for j in jobs], owner=self.owner)
            return
        self._count_in_flight(len(jobs))
        for job in jobs:
            self._accounts[job.row_id] = job.account_id
            self._dispatch_of[job.row_id] = job.dispatch_id
            try:
                pool.submit(self._execute, job)
            except RuntimeError:  # the pool shut down meanwhile: hand the row back untouched
                self._count_in_flight(-1)
                self._accounts.pop(job.row_id, None)
                self._dispatch_of.pop(job.row_id, None)
                store.release_rows(db.session, [job.row_id], owner=self.owner)

    def _execute(self, job: Job) -> None:
        outcome = execute_job(job, self._gateway(), hooks=self._hooks)
        self._inbox.put(("outcome", outcome))

    def _sweep(self) -> list[int]:
        session = db.session
        recovered = recovery.recover_abandoned(session)
        expired = recovery.expire_overdue(session)
        heads = recovery.pending_heads(session)
        if recovered or expired:
            logger.info("sweeper: %s abandoned row(s) re-driven, %s expired", recovered, expired)
            with self._changed:
                self._changed.notify_all()
        return heads

    def _give_back_unstarted(self) -> None:
        """Record outcomes that arrived with the stop signal (the pool has drained by then)."""
        leftovers: list[RowOutcome] = []
        while True:
            try:
                kind, value = self._inbox.get_nowait()
            except queue.Empty:
                break
            if kind == "outcome":
                leftovers.append(value)
        self._record_at_stop(leftovers)

    def _record_at_stop(self, outcomes: list[RowOutcome]) -> None:
        """Last records before the thread ends. If the database is away even now, the rows stay
        in flight under this process's lease: the next start's sweeper finds the owner gone and
        reconciles them with the broker (outcome unknown), so nothing is lost or sent twice."""
        outcomes = self._unrecorded + outcomes
        self._unrecorded = []
        if not outcomes:
            return
        try:
            self._record(outcomes)
        except Exception:
            logger.exception("ledger thread: %s outcome(s) not recorded at stop", len(outcomes))
            db.session.rollback()
