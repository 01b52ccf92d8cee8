"""The session keeper's thread: attach every tradable account, then a heartbeat per account.

One thread owns the database side (claims with a lease, records in batches); a bounded pool
talks to the terminals, so a login that takes seconds, or a node that hangs, holds one worker
of the pool and never the others' heartbeats. The sessions it attaches are the gateway's own
cached ones, the same the ledger sends through: a broadcast right after a restart finds its
terminals initialised, logged in and its symbols resolved.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Flask

from errors import AppError
from extensions import db
from ledger import leases
from models.columns import utcnow
from services.mt5.dto import AccountRef
from services.mt5_service import account_ref
from services.session_keeper import history, store
from services.session_keeper.states import (
    AUTH_FAILED,
    CONNECTED,
    DISCONNECTED,
    Look,
    error_text,
    status_of_error,
)
from utils.background import BackgroundLoop
from utils.database import serialised_writes
from utils.security import DecryptionFailed

logger = logging.getLogger("session_keeper")

POLL_S = 1.0  # how often due accounts are looked for (new ones, changed ones, next heartbeats)
PRUNE_EVERY_S = 600.0
# Looks that finish within this much of the first are recorded (and room claimed) in one pass:
# a thousand sessions attaching at start were a thousand one-look transactions otherwise.
GATHER_S = 0.05
MAX_BACKOFF_S = 30.0
# While orders are at the terminals, heartbeats wait (a fan-out's sends share the process with
# them: a thousand accounts' heartbeats were a sixth of a fan-out's CPU), a POLL_S at a time and
# at most this long, so a trading day with orders every second still gets its heartbeats; a
# look already claimed when the orders started waits for them (as long at most) before it calls.
YIELD_TO_ORDERS_S = 5.0


@dataclass(frozen=True)
class KeeperSettings:
    heartbeat_s: float
    threads: int
    warm_symbols: tuple[str, ...]
    equity_days: int

    @property
    def lease_s(self) -> float:
        """Long enough for a few missed heartbeats; a dead keeper's accounts move on after it."""
        return max(60.0, 4 * self.heartbeat_s)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KeeperSettings:
        symbols = str(config.get("SESSION_KEEPER_WARM_SYMBOLS", ""))
        return cls(
            heartbeat_s=float(config["MT5_HEARTBEAT_S"]),
            threads=int(config["SESSION_KEEPER_THREADS"]),
            warm_symbols=tuple(s.strip() for s in symbols.split(",") if s.strip()),
            equity_days=int(config["EQUITY_HISTORY_DAYS"]),
        )


class SessionKeeper(BackgroundLoop):
    """Keeps every tradable account's terminal session attached and its state recorded."""

    thread_name = "session-keeper"
    stop_timeout_s = 10.0

    def __init__(self, app: Flask, settings: KeeperSettings) -> None:
        super().__init__()
        self.app = app
        self.settings = settings
        self.owner = leases.new_owner_id()
        self._gateway = app.extensions["mt5_gateway"]
        self._box = app.extensions["secret_box"]
        self._done: queue.Queue[tuple[store.Claimed, Look]] = queue.Queue()
        self._busy: set[int] = set()  # accounts being looked at (keeper thread only)
        self._pending: list[tuple[store.Claimed, Look]] = []  # looks done, not recorded yet
        self._attached: dict[int, str] = {}  # account -> credentials it was logged in with
        # The accounts due when this keeper started, not looked at yet; ``warm`` once none is.
        self._warming: set[int] = set()
        self.warm = threading.Event()
        self.looks = 0
        # Claims: at most one pass a POLL_S, unless the last one filled all the room it had
        # (a backlog: the start, or many accounts added at once). Claiming after every few
        # finished looks read the accounts table once per look during heartbeats: 9 % of the
        # process's CPU during a 1000-target fan-out.
        self._next_claim = 0.0
        self._backlog = True
        executor = app.extensions.get("executor")
        self._orders_sending: Callable[[], bool] = lambda: bool(getattr(executor, "sending", False))
        self._orders_done: Callable[[float], bool] = getattr(executor, "wait_idle", lambda _t: True)
        self._yielding_since: float | None = None

    # --- lifecycle: start, stop and running from BackgroundLoop ---------------------------------

    def run_once(self) -> list[Look]:
        """One pass in the caller's app context: every due account claimed, looked at (the
        pool's parallelism) and recorded; what the thread does, at once (tests, a CLI)."""
        claimed = store.claim_due(
            db.session, owner=self.owner, now=utcnow(), lease_s=self.settings.lease_s,
            limit=100_000,
        )  # fmt: skip
        with ThreadPoolExecutor(self.settings.threads, thread_name_prefix="keeper-look") as pool:
            looks = list(pool.map(self.look, claimed))
        self._record(list(zip(claimed, looks, strict=True)))
        return looks

    # --- the keeper thread -------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        next_prune = time.monotonic() + PRUNE_EVERY_S
        adopted = False
        with (
            self.app.app_context(),
            ThreadPoolExecutor(self.settings.threads, thread_name_prefix="keeper-look") as pool,
        ):
            while not self._stopping.is_set():
                wait_s = POLL_S
                try:
                    if not adopted:
                        self._adopt()
                        adopted = True
                    self._record(self._finished())
                    wait_s = self._claim_if_due(pool)
                    if time.monotonic() >= next_prune:
                        next_prune = time.monotonic() + PRUNE_EVERY_S
                        history.thin_and_prune(
                            db.session, now=utcnow(), keep_days=self.settings.equity_days
                        )
                    failures = 0
                except Exception:
                    # A database outage must not end the keeper: looks not recorded are kept
                    # (their accounts stay busy) and recorded once the database answers.
                    failures += 1
                    logger.exception("session keeper: pass failed (%s in a row)", failures)
                    db.session.rollback()
                    wait_s = min(MAX_BACKOFF_S, 0.5 * 2 ** (failures - 1))
                finally:
                    db.session.remove()
                self._wait_for_a_look(wait_s)
            self._give_back()
            self.warm.set()  # a stopped keeper warms nothing more: nobody waits on it

    def _adopt(self) -> None:
        now = utcnow()
        store.adopt_orphans(db.session, owner=self.owner, now=now)
        self._warming = store.due_now(db.session, owner=self.owner, now=now)
        if not self._warming:
            self.warm.set()

    def wait_warm(self, timeout: float) -> bool:
        """Block until every account due at start was looked at once (or ``timeout``)."""
        return self.warm.wait(timeout)

    @property
    def warming(self) -> int:
        """How many of the accounts due at start have not been looked at yet."""
        return len(self._warming)

    def _claim_if_due(self, pool: ThreadPoolExecutor) -> float:
        """Claim and start looks when a pass is due; how long to wait for a look before the
        next pass (0: a backlog with room left)."""
        now = time.monotonic()
        room = 2 * self.settings.threads - len(self._busy)
        if not self._backlog and now >= self._next_claim and self._yield_to_orders(now):
            self._next_claim = now + POLL_S
        if room > 0 and (self._backlog or now >= self._next_claim):
            self._backlog = self._claim_and_look(pool, room) == room
            self._next_claim = now + POLL_S
            room = 2 * self.settings.threads - len(self._busy)
        if room <= 0:
            return POLL_S  # full: the next finished look makes room
        if self._backlog:
            return 0.0
        return max(0.0, min(POLL_S, self._next_claim - time.monotonic()))

    def _yield_to_orders(self, now: float) -> bool:
        """Whether this heartbeat pass waits for the orders at the terminals to finish."""
        if not self._orders_sending():
            self._yielding_since = None
            return False
        if self._yielding_since is None:
            self._yielding_since = now
        if now - self._yielding_since < YIELD_TO_ORDERS_S:
            return True
        self._yielding_since = None  # waited long enough: this pass goes ahead
        return False

    def _claim_and_look(self, pool: ThreadPoolExecutor, room: int) -> int:
        with serialised_writes(db.session):
            claimed = store.claim_due(
                db.session, owner=self.owner, now=utcnow(), lease_s=self.settings.lease_s,
                limit=room, busy=self._busy,
            )  # fmt: skip
        for account in claimed:
            self._busy.add(account.account_id)
            pool.submit(self._look_and_report, account)
        return len(claimed)

    def _look_and_report(self, account: store.Claimed) -> None:
        # A look claimed just before a fan-out started waits for it too (at most
        # YIELD_TO_ORDERS_S; no wait when no order is out): its two calls would hold the terminal
        # of an account whose order may come next, and take the CPU the orders go out on.
        self._orders_done(YIELD_TO_ORDERS_S)
        try:
            look = self.look(account)
        except Exception as exc:  # a bug must not leave the account busy forever
            logger.exception("session keeper: look at account %s failed", account.account_id)
            look = Look(account.account_id, DISCONNECTED, utcnow(), error=type(exc).__name__)
        self._done.put((account, look))

    def _wait_for_a_look(self, timeout: float) -> None:
        if timeout <= 0 or self._stopping.is_set():
            return
        try:
            item = self._done.get(timeout=timeout)
        except queue.Empty:
            return
        self._pending.append(item)
        until = time.monotonic() + GATHER_S
        while (left := until - time.monotonic()) > 0 and not self._stopping.is_set():
            try:
                self._pending.append(self._done.get(timeout=left))
            except queue.Empty:
                return

    def _finished(self) -> list[tuple[store.Claimed, Look]]:
        items, self._pending = self._pending, []
        while True:
            try:
                items.append(self._done.get_nowait())
            except queue.Empty:
                return items

    def _record(self, looks: list[tuple[store.Claimed, Look]]) -> None:
        if not looks:
            return
        try:
            # On SQLite, queued behind the ledger's and the API's writes on a lock rather than
            # slept on by SQLite's busy handler (utils.database.serialised_writes).
            with serialised_writes(db.session):
                store.record_looks(
                    db.session, looks, owner=self.owner, heartbeat_s=self.settings.heartbeat_s,
                    lease_s=self.settings.lease_s,
                )  # fmt: skip
        except Exception:
            self._pending = looks + self._pending
            raise
        for claimed, _ in looks:
            self._busy.discard(claimed.account_id)
            self._warming.discard(claimed.account_id)
        self.looks += len(looks)
        if not self._warming:
            self.warm.set()

    def _give_back(self) -> None:
        try:
            self._record(self._finished())
            store.release(db.session, owner=self.owner)
        except Exception:
            logger.exception("session keeper: could not record its last looks")
            db.session.rollback()
        finally:
            db.session.remove()

    # --- one look (a pool thread: terminals only, no database) -------------------------------

    def look(self, account: store.Claimed) -> Look:
        """Attach (logging in when this keeper has not with these credentials), read the
        account and the terminal; the first time, warm the symbols a broadcast will need."""
        try:
            ref = account_ref(account, self._box)
        except (DecryptionFailed, ValueError) as exc:
            return Look(account.account_id, AUTH_FAILED, utcnow(),
                        error=f"credentials_unusable: {type(exc).__name__}")  # fmt: skip
        fingerprint = _fingerprint(account.credentials)
        first = self._attached.get(account.account_id) != fingerprint
        try:
            snapshot, connected, latency_ms = self._gateway.heartbeat(ref, relogin=first)
        except Exception as exc:
            self._attached.pop(account.account_id, None)
            if not isinstance(exc, AppError):
                logger.warning("session keeper: account %s: %r", account.account_id, exc)
            return Look(account.account_id, status_of_error(exc), utcnow(), error=error_text(exc))
        if first:
            self._warm(ref)
            self._attached[account.account_id] = fingerprint
        return Look(
            account.account_id, CONNECTED if connected else DISCONNECTED, utcnow(),
            snapshot=snapshot, latency_ms=Decimal(str(latency_ms)),
            error=None if connected else "terminal_disconnected: not connected to its server",
        )  # fmt: skip

    def _warm(self, ref: AccountRef) -> None:
        """Resolve the symbol list and read the specs a broadcast would otherwise pay for."""
        for symbol in self.settings.warm_symbols:
            try:
                self._gateway.symbol_spec(ref, symbol)
            except AppError as exc:  # that broker has no such symbol: nothing to warm
                logger.debug("session keeper: %s not warmed on %s: %s", symbol, ref.server, exc)


def _fingerprint(credentials: tuple[str, ...]) -> str:
    return hashlib.sha256("\x00".join(credentials).encode()).hexdigest()
