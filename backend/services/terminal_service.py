"""Connecting an MT5 account and reading what its terminal holds (positions, deals, symbols)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from errors import MT5Error, ValidationFailed
from extensions import DbSession
from models import MT5Account, User
from services.accounts_service import get_account
from services.mt5.dto import AccountRef, Deal, PendingOrder, Position
from services.mt5.gateway import MT5Gateway
from services.mt5_service import account_ref
from utils.security import SecretBox

DEFAULT_DEALS_WINDOW = timedelta(days=7)


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
    """Defaults: up to now, from 7 days before ``to``; naive times are UTC; to < from is 422."""
    end = _utc(date_to) if date_to else now
    start = _utc(date_from) if date_from else end - DEFAULT_DEALS_WINDOW
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


def symbol_spec(
    *, session: DbSession, gateway: MT5Gateway, user: User, account_id: int, box: SecretBox,
    symbol: str,
) -> dict[str, Any]:  # fmt: skip
    ref = _reach(session=session, user=user, account_id=account_id, box=box)
    spec = gateway.symbol_spec(ref, symbol)
    return {"requested": symbol, "resolved": spec.name, "spec": spec}
