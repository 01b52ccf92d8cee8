"""What the automation watcher watches: the open legs of dispatches with rules or virtual take
profits, grouped by the trade server and symbol whose quote decides them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select

from extensions import DbSession
from ledger.automation import Automation
from models import AutomationFiring, BroadcastQueue, Dispatch, MT5Account
from models.columns import utcnow


@dataclass(frozen=True)
class OpenLeg:
    """One open row of an automated dispatch: what the rules need of it."""

    row_id: int
    dispatch_id: int
    account_id: int
    user_id: int
    terminal: str
    leg: int
    ticket: int
    open_price: Decimal
    virtual_tp: bool


@dataclass(frozen=True)
class Watched:
    """One dispatch's legs on one trade server, with its rules and take profits."""

    dispatch_id: int
    creator_id: int
    side: str
    take_profits: tuple[Decimal, ...]
    automation: Automation
    legs: tuple[OpenLeg, ...]


@dataclass(frozen=True)
class Group:
    """Everything one quote decides: a (trade server, broker symbol) and an account to read
    the quote through."""

    server: str
    symbol: str
    quote_account_id: int
    watched: tuple[Watched, ...]


def live_groups(
    session: DbSession, *, max_age: timedelta, now: datetime | None = None
) -> list[Group]:
    """The open legs of dispatches created within ``max_age`` that have rules or virtual TPs."""
    now = now or utcnow()
    q, d, a = BroadcastQueue, Dispatch, MT5Account
    found = session.execute(
        select(
            q.id, q.dispatch_id, q.account_id, q.target_user_id, q.leg, q.position_ticket,
            q.order_ticket, q.fill_price, q.symbol, q.virtual_tp,
            a.terminal, a.server, d.order_data, d.automation, d.creator_id,
        )
        .join(d, d.id == q.dispatch_id)
        .join(a, a.id == q.account_id)
        .where(
            q.status == "executed",
            d.kind.in_(("orders", "broadcast")),
            d.created_at >= now - max_age,
            or_(d.automation.is_not(None), q.virtual_tp.is_(True)),
            a.deleted_at.is_(None),
            q.fill_price.is_not(None),
            func.coalesce(q.closed_volume, 0) < q.fill_volume,
        )
        .order_by(q.dispatch_id, q.id)
    ).all()  # fmt: skip
    return _grouped(list(found))


def _grouped(found: list[Any]) -> list[Group]:
    by_place: dict[tuple[str, str], dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in found:
        by_place[(row.server, row.symbol)][row.dispatch_id].append(row)
    return [
        Group(
            server=server,
            symbol=symbol,
            quote_account_id=next(iter(dispatches.values()))[0].account_id,
            watched=tuple(_watched(rows) for rows in dispatches.values()),
        )
        for (server, symbol), dispatches in by_place.items()
    ]


def _watched(rows: list[Any]) -> Watched:
    first = rows[0]
    order = first.order_data
    return Watched(
        dispatch_id=first.dispatch_id,
        creator_id=first.creator_id,
        side=order["side"],
        take_profits=tuple(Decimal(str(tp["price"])) for tp in order.get("take_profits") or ()),
        automation=Automation.from_json(first.automation),
        legs=tuple(
            OpenLeg(
                row_id=r.id,
                dispatch_id=r.dispatch_id,
                account_id=r.account_id,
                user_id=r.target_user_id,
                terminal=r.terminal,
                leg=r.leg,
                ticket=r.position_ticket or r.order_ticket,
                open_price=r.fill_price,
                virtual_tp=r.virtual_tp,
            )
            for r in rows
            if r.position_ticket or r.order_ticket
        ),
    )


def fired_keys(session: DbSession, dispatch_ids: set[int]) -> set[tuple[int, str, str, str]]:
    """(dispatch, rule, scope, level) of every firing so far of these dispatches."""
    if not dispatch_ids:
        return set()
    f = AutomationFiring
    found = session.execute(
        select(f.dispatch_id, f.rule, f.scope, f.level).where(f.dispatch_id.in_(dispatch_ids))
    )
    return {tuple(row) for row in found}  # type: ignore[misc]
