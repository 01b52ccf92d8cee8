"""Admin changes (``flask mt5 sim-account``, ``flask mt5 set-quote``) that reach a running broker.

A running server, Celery worker or ``serve-simulator`` node keeps its broker in memory and is
the only writer of the broker's file: a command that opened the file and wrote records itself
would collide with it (ticket numbers, balances, stops fired twice) and the running process
would not see the change before a restart. So a command never writes records. It queues a
*request* in the file's ``admin_requests`` table and the owner of the file applies it with its
own ``Broker`` methods, then writes the outcome back:

* a running owner notices within ``Broker.SYNC_INTERVAL_S`` (its watcher thread compares SQLite's
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
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mt5sim.ownership import OwnerLock, holder_pid
from mt5sim.persistence import Store
from services.mt5 import constants as c

if TYPE_CHECKING:
    from mt5sim.broker import Broker

KINDS = ("account", "quote")
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


def account_request(
    login: int, *, password: str, server: str, balance: Decimal, currency: str | None,
    leverage: int, netting: bool,
) -> dict[str, Any]:  # fmt: skip
    margin_mode = (
        c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING if netting else c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
    )
    return {"login": login, "password": password, "server": server, "balance": str(balance),
            "currency": currency, "leverage": leverage, "margin_mode": margin_mode}  # fmt: skip


def quote_request(symbol: str, bid: Decimal, ask: Decimal, *, freeze: bool) -> dict[str, Any]:
    return {"symbol": symbol, "bid": str(bid), "ask": str(ask), "freeze": freeze}


def apply_request(broker: Broker, kind: str, payload: dict[str, Any]) -> str:
    """Apply one request with the broker's own methods (its lock held); the text to report."""
    if kind == "account":
        return _account(broker, payload)
    if kind == "quote":
        return _quote(broker, payload)
    raise ValueError(f"unknown admin request kind {kind!r}")


def _account(broker: Broker, payload: dict[str, Any]) -> str:
    login, balance = int(payload["login"]), Decimal(payload["balance"])
    if login in broker.accounts:
        broker.fund(login, balance)
        return f"funded {login} with {balance}; balance {broker.accounts[login].balance}"
    account = broker.create_account(
        login, payload["password"], payload["server"], balance=balance,
        currency=payload.get("currency"), leverage=int(payload["leverage"]),
        margin_mode=int(payload["margin_mode"]),
    )  # fmt: skip
    netting = account.margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
    return (
        f"created {login} on {account.server}: {account.balance} {account.currency}, "
        f"1:{account.leverage}, {'netting' if netting else 'hedging'}"
    )


def _quote(broker: Broker, payload: dict[str, Any]) -> str:
    symbol = str(payload["symbol"])
    if symbol not in broker.symbols:
        raise ValueError(f"unknown symbol {symbol}")
    bid, ask = Decimal(payload["bid"]), Decimal(payload["ask"])
    frozen = bool(payload.get("freeze"))
    broker.set_quote(symbol, bid, ask, freeze=frozen)
    return f"{symbol} {bid}/{ask} on sim://{broker.name}" + (" (frozen)" if frozen else "")


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
    from mt5sim.broker import Broker

    # Opening applies every queued request; step_ms=0 leaves the saved quotes where they are.
    Broker(db_path, name=name, step_ms=0, owner_lock=lock).close()
