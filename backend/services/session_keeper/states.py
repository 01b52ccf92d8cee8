"""What one look at an account's terminal means: its state, its figures, when to look again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from errors import MT5AuthFailed, MT5Error, MT5Timeout, MT5Unavailable
from services.mt5.dto import AccountSnapshot

CONNECTED, DISCONNECTED, AUTH_FAILED, UNREACHABLE = (
    "connected", "disconnected", "auth_failed", "unreachable",
)  # fmt: skip
RECONNECT_FIRST_S = 1.0
RECONNECT_MAX_S = 120.0


@dataclass(frozen=True)
class Look:
    """One heartbeat's outcome for one account (what the keeper records)."""

    account_id: int
    status: str
    checked_at: datetime
    snapshot: AccountSnapshot | None = None
    latency_ms: Decimal | None = None
    error: str | None = None

    @property
    def seen(self) -> bool:
        return self.status == CONNECTED


def status_of_error(exc: Exception) -> str:
    """A wrong password is final until the credentials change; a node away is retried."""
    if isinstance(exc, MT5AuthFailed):
        return AUTH_FAILED
    if isinstance(exc, MT5Unavailable | MT5Timeout):
        return UNREACHABLE
    return DISCONNECTED


def error_text(exc: Exception) -> str:
    if isinstance(exc, MT5Error):
        return f"{exc.code}: {exc.message}"
    return type(exc).__name__


def margin_level(snapshot: AccountSnapshot) -> Decimal | None:
    """Equity over margin in percent (MT5's ACCOUNT_MARGIN_LEVEL); none without margin used."""
    if snapshot.margin <= 0:
        return None
    return (snapshot.equity / snapshot.margin * 100).quantize(Decimal("0.01"))


def reconnect_delay(failures: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with equal jitter: 1, 2, 4 ... up to RECONNECT_MAX_S, each drawn from
    its upper half, so a terminal node that comes back is not hit by every account at once."""
    ceiling = min(RECONNECT_MAX_S, RECONNECT_FIRST_S * 2 ** max(0, failures - 1))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def next_check(look: Look, *, failures: int, heartbeat_s: float) -> datetime | None:
    """When to look again: a heartbeat later, after a backoff, or (auth_failed) never."""
    if look.status == AUTH_FAILED:
        return None
    if look.status == CONNECTED:
        return look.checked_at + timedelta(seconds=heartbeat_s)
    delay = min(reconnect_delay(failures), max(heartbeat_s, RECONNECT_MAX_S))
    return look.checked_at + timedelta(seconds=delay)
