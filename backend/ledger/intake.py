"""The ledger's front door: request hash, idempotency, grid check, create and cancel a dispatch."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from errors import AppError, Conflict
from extensions import DbSession
from ledger import rows, store
from ledger.actions import ACTION_EXPIRY_S, ActionTarget, TradeAction
from ledger.automation import Automation
from ledger.types import Sizing, TargetAccount, TradeOrder
from models import AutomationFiring, Dispatch, MT5Account, User
from models.columns import utcnow
from services.audit_service import record_event
from services.calculation.price_grid import check_price_grid
from services.mt5.catalog import CATALOG
from utils.decimals import decimal_text


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value.normalize())
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _canonical({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_hash(kind: str, request: Any) -> str:
    """The same request gives the same hash whatever its key order or number spelling."""
    text = json.dumps(
        {"kind": kind, "body": _canonical(request)}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_catalog_grid(
    symbol: str, prices: Mapping[str, Decimal | None], terminals: Iterable[str]
) -> None:
    """``price_off_tick_grid`` (422) when a price is off the catalog symbol's tick grid.

    Checked at request time only when every target is on a simulated terminal, whose symbols
    are the catalog's: a real broker may quote the same name on a finer grid (gold to 0.001),
    so real terminals are checked by the executor against their live spec before sending.
    """
    if not all(terminal.startswith("sim://") for terminal in terminals):
        return
    contract = CATALOG.get(symbol)
    if contract is not None:
        check_price_grid(contract, prices)


def check_order_grid(order: TradeOrder, targets: Sequence[TargetAccount | MT5Account]) -> None:
    check_catalog_grid(order.symbol, order.prices(), (t.terminal for t in targets))


def find_existing(
    session: DbSession, *, creator: User, idempotency_key: str | None, body_hash: str
) -> Dispatch | None:
    """Idempotency: the same key and body is the same dispatch; another body under it is a 422."""
    if idempotency_key is None:
        return None
    existing = session.scalars(
        select(Dispatch).where(
            Dispatch.creator_id == creator.id, Dispatch.idempotency_key == idempotency_key
        )
    ).first()
    if existing is not None and existing.request_hash != body_hash:
        raise AppError(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
            status_code=422,
        )
    return existing


def create_dispatch(
    *,
    session: DbSession,
    creator: User,
    kind: str,
    order: TradeOrder,
    sizing: Sizing,
    targets: Sequence[TargetAccount | MT5Account],
    idempotency_key: str | None,
    body_hash: str,
    expires_in_s: int,
    ip: str | None,
    automation: Automation | None = None,
) -> Dispatch:
    """The dispatch and one row per (target account, leg), in one transaction or not at all."""
    check_order_grid(order, targets)
    now = utcnow()
    dispatch = Dispatch(
        kind=kind,
        creator_id=creator.id,
        order_data=order.to_json(),
        sizing=sizing.to_json(),
        automation=automation.to_json() if automation and not automation.empty else None,
        idempotency_key=idempotency_key,
        request_hash=body_hash,
        status="pending",
        target_count=len(targets) * order.legs,
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in_s),
    )
    _add_dispatch(session, dispatch)
    created = rows.insert_rows(session, dispatch, targets, legs=order.legs)
    details = {"accounts": len(targets), "rows": created, "symbol": order.symbol}
    _audit(session, f"{kind}_created", creator, dispatch, ip, {**details, "side": order.side})
    session.commit()
    return dispatch


def create_action(
    *,
    session: DbSession,
    creator: User,
    action: TradeAction,
    targets: Sequence[ActionTarget],
    parent: Dispatch | None,
    idempotency_key: str | None,
    body_hash: str,
    expires_in_s: int | None,
    ip: str | None,
    firing: AutomationFiring | None = None,
) -> Dispatch:
    """An action dispatch and one row per (account, position or order), atomically.

    ``firing``: the automation rule that asked for it, recorded in the same transaction (its
    unique key makes a second firing of the same rule a 409 ``already_fired``).

    Actions do not go stale unless the caller says so: a close or a stop move stays worth
    doing however long a terminal was away.
    """
    if not targets:
        raise AppError("Nothing this acts on is open.", code="no_open_trades", status_code=422)
    now = utcnow()
    dispatch = Dispatch(
        kind="action",
        parent_id=parent.id if parent is not None else None,
        creator_id=creator.id,
        order_data=action.to_json(),
        sizing=None,
        idempotency_key=idempotency_key,
        request_hash=body_hash,
        status="pending",
        target_count=len(targets),
        created_at=now,
        expires_at=now + timedelta(seconds=expires_in_s or ACTION_EXPIRY_S),
    )
    _add_dispatch(session, dispatch)
    created = rows.insert_action_rows(session, dispatch, action.kind.value, targets)
    if firing is not None:
        _add_firing(session, firing, dispatch)
    details = {"action": action.kind.value, "parent_id": dispatch.parent_id, "rows": created}
    _audit(session, "action_created", creator, dispatch, ip, details)
    session.commit()
    return dispatch


def _audit(
    session: DbSession,
    event: str,
    actor: User,
    dispatch: Dispatch,
    ip: str | None,
    details: dict[str, Any],
) -> None:
    """The dispatch's audit entry, in the same transaction as the change it records."""
    record_event(
        session=session,
        event=event,
        actor_id=actor.id,
        target_type="dispatch",
        target_id=dispatch.id,
        ip=ip,
        details=details,
    )


def _add_firing(session: DbSession, firing: AutomationFiring, action: Dispatch) -> None:
    firing.action_id = action.id
    session.add(firing)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("This rule already fired.", code="already_fired") from exc


def _add_dispatch(session: DbSession, dispatch: Dispatch) -> None:
    """Insert the dispatch row; a concurrent twin under the same Idempotency-Key is a 409."""
    session.add(dispatch)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "A request with this Idempotency-Key is being processed.", code="idempotency_conflict"
        ) from exc


def cancel_dispatch(session: DbSession, *, dispatch: Dispatch, actor: User, ip: str | None) -> int:
    """Stop what has not started: pending rows become cancelled; rows in flight finish."""
    now = utcnow()
    if dispatch.cancelled_at is None:
        dispatch.cancelled_at = now
    cancelled = rows.cancel_pending_rows(session, dispatch.id, now)
    store.finalise_dispatches(session, [dispatch.id], now)
    _audit(session, f"{dispatch.kind}_cancelled", actor, dispatch, ip, {"rows": cancelled})
    session.commit()
    return cancelled
