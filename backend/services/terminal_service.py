"""Connecting an MT5 account and reading what its terminal holds (positions, deals, symbols)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from errors import MT5Error, ValidationFailed
from extensions import DbSession
from models import MT5Account, User
from services.accounts_service import get_account
from services.mt5.dto import AccountRef, Deal, PendingOrder, Position
from services.mt5.gateway import MT5Gateway
from services.mt5_service import account_ref
from services.session_keeper import history
from services.session_keeper import store as keeper_store
from utils.security import SecretBox

DEFAULT_DEALS_WINDOW = timedelta(days=7)
SPEC_MAX_AGE_S = 60.0


def _reach(*, session: DbSession, user: User, account_id: int, box: SecretBox) -> AccountRef:
    """The caller's account as a gateway reference; the read transaction ends before MT5 work."""
    ref = account_ref(get_account(session=session, user=user, account_id=account_id), box)
    session.commit()  # never hold a database transaction open across a terminal call
    return ref


def connect_account(
    *, session: DbSession, gateway: MT5Gateway, user: User, account_id: int, box: SecretBox
) -> dict[str, Any]:
    """Log the account in on its terminal; the outcome is recorded on the row either way."""
    ref = _reach(session=session, user=user, account_id=account_id, box=box)
    try:
        snapshot, terminal, latency_ms = gateway.connect(ref)
    except MT5Error as exc:
        _record(session, account_id, status="failed", error=f"{exc.code}: {exc.message}")
        raise
    _record(session, account_id, status="connected", error=None)
    return {"connected": True, "account_info": snapshot, "terminal": terminal,
            "latency_ms": latency_ms}  # fmt: skip


def _record(session: DbSession, account_id: int, *, status: str, error: str | None) -> None:
    account = session.get(MT5Account, account_id)
    if account is None:  # deleted meanwhile: nothing to record on
        return
    account.connection_status = status
    account.last_error = error
    if status == "connected":
        account.last_connected_at = datetime.now(UTC)
    keeper_store.look_now(session, account_id)  # its next heartbeat confirms, backoff or not
    session.commit()


def list_positions(
    *, session: DbSession, gateway: MT5Gateway, user: User, account_id: int, box: SecretBox,
    symbol: str | None = None,
) -> list[Position]:  # fmt: skip
    ref = _reach(session=session, user=user, account_id=account_id, box=box)
    return gateway.positions(ref, symbol)


def list_orders(
    *, session: DbSession, gateway: MT5Gateway, user: User, account_id: int, box: SecretBox,
    symbol: str | None = None,
) -> list[PendingOrder]:  # fmt: skip
    ref = _reach(session=session, user=user, account_id=account_id, box=box)
    return gateway.orders(ref, symbol)


def deals_window(
    date_from: datetime | None, date_to: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """Defaults: up to now, from 7 days before ``to``; naive times are UTC; to < from is 422,
    and so is a time whose UTC (or default window) falls outside the calendar (year 1 to 9999)."""
    try:
        end = _utc(date_to) if date_to else now
        start = _utc(date_from) if date_from else end - DEFAULT_DEALS_WINDOW
    except OverflowError:
        raise ValidationFailed(
            "A time out of range: `from` and `to` must fall within years 1 to 9999 in UTC.",
            details={"from": str(date_from), "to": str(date_to)},
        ) from None
    if end < start:
        raise ValidationFailed(
            "`to` is before `from`.", details={"from": start.isoformat(), "to": end.isoformat()}
        )
    return start, end


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def list_deals(
    *, session: DbSession, gateway: MT5Gateway, user: User, account_id: int, box: SecretBox,
    date_from: datetime | None, date_to: datetime | None,
) -> dict[str, Any]:  # fmt: skip
    start, end = deals_window(date_from, date_to, now=datetime.now(UTC))
    ref = _reach(session=session, user=user, account_id=account_id, box=box)
    deals: list[Deal] = gateway.deals(ref, start, end)
    return {"date_from": start, "date_to": end, "deals": deals}


def equity_history(
    *, session: DbSession, user: User, account_id: int, date_from: datetime | None,
    date_to: datetime | None,
) -> dict[str, Any]:  # fmt: skip
    """The balance and equity the session keeper recorded, bounded in points (no terminal call)."""
    start, end = deals_window(date_from, date_to, now=datetime.now(UTC))
    get_account(session=session, user=user, account_id=account_id)
    points, step = history.points(session, account_id, date_from=start, date_to=end)
    session.commit()
    return {
        "account_id": account_id, "date_from": start, "date_to": end, "step_s": step * 60,
        "points": [history.as_wire(p) for p in points],
    }  # fmt: skip


def symbol_spec(
    *, session: DbSession, gateway: MT5Gateway, user: User, account_id: int, box: SecretBox,
    symbol: str,
) -> dict[str, Any]:  # fmt: skip
    ref = _reach(session=session, user=user, account_id=account_id, box=box)
    spec = gateway.symbol_spec(ref, symbol)
    return {"requested": symbol, "resolved": spec.name, "spec": spec}


def quote(
    *, session: DbSession, gateway: MT5Gateway, user: User, account_id: int, box: SecretBox,
    symbol: str,
) -> dict[str, Any]:  # fmt: skip
    """The symbol's current bid and ask on the account's terminal, and the spread in points."""
    ref = _reach(session=session, user=user, account_id=account_id, box=box)
    # The point and digits do not move: a spec read in the last minute will do.
    spec = gateway.symbol_spec(ref, symbol, max_age_s=SPEC_MAX_AGE_S)
    tick = gateway.tick(ref, symbol)
    # The terminal's floats come back as 2350.0; on the symbol's digits they read as it shows.
    on_grid = Decimal(1).scaleb(-spec.digits)
    bid, ask = tick.bid.quantize(on_grid), tick.ask.quantize(on_grid)
    return {
        "requested": symbol,
        "symbol": spec.name,
        "bid": bid,
        "ask": ask,
        "spread_points": int(((ask - bid) / spec.point).to_integral_value()),
        "time": datetime.fromtimestamp(tick.time_msc / 1000, tz=UTC) if tick.time_msc else None,
    }
