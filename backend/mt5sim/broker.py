"""The simulated trade server: its books, and what moves them (quotes, faults, admin requests)."""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from mt5sim import fills
from mt5sim.admin_requests import apply_request
from mt5sim.books import Books, password_hash
from mt5sim.ownership import OwnerLock
from mt5sim.persistence import Store
from services.mt5 import constants as c

logger = logging.getLogger("mt5.simulator")

FAULT_KINDS = ("timeout", "none", "drop_after_fill")
# How long a new broker waits for a file another process owns (an admin command holds it for
# the time it takes to load the broker and apply a request).
OWNER_WAIT_S = 5.0
SYNC_INTERVAL_S = 0.1  # how often an owning broker looks for queued admin requests


@dataclass
class Fault:
    kind: str
    count: int
    call: str
    delay_s: float


class Broker(Books):
    """One simulated broker (``sim://NAME``), shared by any number of ``SimTerminal`` sessions.

    Every public method takes ``self.lock`` for a short, in-memory step plus one SQLite commit;
    latency is simulated by terminals outside it. ``step_ms`` drives the price walk (see
    ``price_feed``); ``clock`` gives server time in epoch seconds.

    A broker on a file *owns* it (``ownership.OwnerLock``) unless another broker does: the owner
    applies the admin requests other processes queue in the file (``admin_commands``), on a
    watcher thread every ``SYNC_INTERVAL_S``. ``owner_lock`` hands over a lock the caller
    already holds.
    """

    def __init__(
        self,
        db_path: str | Path = ":memory:",
        *,
        name: str = "default",
        seed: int | None = None,
        step_ms: int = 500,
        latency_ms: int = 0,
        clock: Callable[[], float] = time.time,
        default_balance: Decimal = Decimal(10000),
        default_leverage: int = 100,
        default_margin_mode: int = c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING,
        default_commission_per_lot: Decimal = Decimal(0),
        owner_lock: OwnerLock | None = None,
        ticks_path: str | None = None,
    ) -> None:
        super().__init__(
            name=name, seed=seed, step_ms=step_ms, clock=clock, default_balance=default_balance,
            default_leverage=default_leverage, default_margin_mode=default_margin_mode,
            default_commission_per_lot=default_commission_per_lot, ticks_path=ticks_path,
        )  # fmt: skip
        self.latency_ms = latency_ms
        self._owner = owner_lock or OwnerLock.acquire(db_path, wait_s=OWNER_WAIT_S)
        if self._owner is None and str(db_path) != ":memory:":
            logger.warning(
                "simulator %s: %s is owned by another broker (or its lock cannot be taken); "
                "this one works on its own copy in memory and applies no admin requests",
                name,
                db_path,
            )
        self._closed = False
        try:
            self._load(Store(db_path))
        except BaseException:
            if self._owner is not None:
                self._owner.release()
            raise
        self.faults: dict[int, list[Fault]] = {}
        self._data_version = 0
        self._stop_watching = threading.Event()
        if self._owner is not None:
            weakref.finalize(self, self._owner.release)  # an unclosed broker still lets go
            weakref.finalize(self, self._stop_watching.set)
            self._data_version = self.store.data_version()
            self._apply_admin_requests()  # queued while nothing served the file
            threading.Thread(
                target=_watch,
                args=(weakref.ref(self), self._stop_watching, SYNC_INTERVAL_S),
                name=f"sim-{name}-admin",
                daemon=True,
            ).start()

    # -- accounts -------------------------------------------------------------------------

    def authenticate(self, login: int, password: str, server: str) -> bool:
        """Check a login; the first login to a server opens the account with that password."""
        with self.lock:
            account = self.accounts.get(login)
            if account is None:
                self.sync()  # an admin may have just queued this account with its settings
                account = self.accounts.get(login)
            if account is None:
                self.create_account(login, password, server)
                return True
            return (
                account.password_hash == password_hash(login, password) and account.server == server
            )

    # -- quotes ---------------------------------------------------------------------------

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        with self.lock:
            self.catch_up()
            return self.prices.quote(self.symbols[symbol].price_source)

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal, *, freeze: bool = False) -> None:
        """Set a quote (for every symbol sharing its price) and fire triggered orders and stops."""
        with self.lock:
            source = self.symbols[symbol].price_source
            self.prices.set_quote(source, Decimal(bid), Decimal(ask), freeze=freeze)
            self.store.save_quotes({source: self.prices.quote(source)})
            fills.on_quotes(self, [source])

    def advance(self, steps: int = 1) -> None:
        """Move the random walk ``steps`` steps, firing triggered orders and stops."""
        with self.lock:
            self._moved(self.prices.advance(steps))

    def catch_up(self) -> None:
        with self.lock:
            changed = self.prices.catch_up()
            if changed:
                self._moved(changed)

    def _moved(self, sources: list[str]) -> None:
        """Save the quotes the walk moved, so a restart (even a killed process) continues from
        them rather than from the last set-quote, and fire what they trigger."""
        if sources:
            self.store.save_quotes({source: self.prices.quote(source) for source in sources})
        fills.on_quotes(self, sources)

    # -- faults ---------------------------------------------------------------------------

    def inject_fault(
        self, login: int, kind: str, count: int = 1, *, call: str = "order_send", delay_s: float = 0
    ) -> None:
        """Make the next ``count`` ``call``s of ``login``'s terminals fail with ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        with self.lock:
            self.faults.setdefault(login, []).append(Fault(kind, count, call, delay_s))

    @property
    def has_faults(self) -> bool:
        """Some injected fault is still to fire (a read without the lock: a hint, no more; the
        lists are copied first, as ``inject_fault`` may add one meanwhile)."""
        return any(fault.count > 0 for faults in list(self.faults.values()) for fault in faults)

    def take_fault(self, login: int | None, call: str) -> Fault | None:
        if login is None or not self.faults.get(login):
            return None
        with self.lock:
            for fault in self.faults.get(login, []):
                if fault.call == call and fault.count > 0:
                    fault.count -= 1
                    return fault
            return None

    # -- admin requests from other processes -----------------------------------------------

    @property
    def owns_file(self) -> bool:
        return self._owner is not None and self._owner.held

    def sync(self) -> int:
        """Apply the admin requests queued in the file since the last look; how many.

        Cheap when nothing changed: one ``PRAGMA data_version``, which moves only when another
        connection (an admin command) committed to the file.
        """
        if self._owner is None:
            return 0
        with self.lock:
            if self._closed:
                return 0
            version = self.store.data_version()
            if version == self._data_version:
                return 0
            self._data_version = version
            return self._apply_admin_requests()

    def _apply_admin_requests(self) -> int:
        with self.lock:
            queued = self.store.queued_requests()
            for request_id, kind, payload in queued:
                result: str | None = None
                error: str | None = None
                try:
                    result = apply_request(self, kind, payload)
                except (ValueError, ArithmeticError, KeyError, TypeError) as exc:
                    error = str(exc) or type(exc).__name__
                except Exception as exc:  # a bug must not stop the broker; the admin hears of it
                    logger.exception("simulator %s: admin request %s failed", self.name, request_id)
                    error = f"internal error: {type(exc).__name__}"
                self.store.finish_request(
                    request_id, result=result, error=error, applied_by=os.getpid()
                )
                logger.info(
                    "simulator %s: admin request %s (%s): %s",
                    self.name,
                    request_id,
                    kind,
                    error or result,
                )
            return len(queued)

    def close(self) -> None:
        """Save the quotes, close the SQLite file and give up the file's ownership."""
        self._stop_watching.set()
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.store.save_quotes({n: self.prices.quote(n) for n in self.prices.names()})
            self.store.close()
        if self._owner is not None:
            self._owner.release()


def _watch(ref: weakref.ref[Broker], stop: threading.Event, interval_s: float) -> None:
    """The owner's watcher: apply admin requests while the broker lives and is open."""
    while not stop.wait(interval_s):
        broker = ref()
        if broker is None:
            return
        try:
            broker.sync()
        except Exception:
            logger.exception("simulator %s: looking for admin requests failed", broker.name)
        del broker
