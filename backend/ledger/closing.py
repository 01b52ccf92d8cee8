"""Closing a position, in whole or in part: how much, the request, and what an unknown
outcome left at the broker (a close is never resent before its tag was looked for)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from ledger.actions import ActionJob, ActionKind
from ledger.sending import (
    Gateway,
    SendRules,
    Sleep,
    dealt,
    find_by_tag,
    order_comment,
    send_with_policy,
    skipped,
    with_fields,
)
from ledger.types import RowOutcome
from services.calculation.volume import floor_to_step
from services.mt5 import constants as c
from services.mt5.dto import (
    OrderRequest,
    OrderResult,
    Position,
    SymbolSpec,
    TradeRequest,
)

logger = logging.getLogger("ledger.closing")

CLOSE_DEVIATION_POINTS = 50  # a close should go through even when the price just moved
SPEC_MAX_AGE_S = 60.0
Hook = Callable[[str], None]


def send_action(
    job: ActionJob,
    gateway: Gateway,
    request: TradeRequest,
    rules: SendRules,
    sleep: Sleep,
    hook: Hook,
) -> RowOutcome:
    assert job.account is not None
    hook("before_send")
    return send_with_policy(
        row_id=job.row_id,
        expires_at=job.expires_at,
        account=job.account,
        gateway=gateway,
        request=request,
        rules=rules,
        sleep=sleep,
        after_send=lambda: hook("after_send"),
    )


def may_close_unread(job: ActionJob, gateway: Gateway) -> bool:
    """A close may skip reading the position first (one round trip less) on a hedging account
    whose leg is known: there the position is exactly what the leg opened less what its closes
    took, and a close larger than what it holds now (closed in part by hand) is refused with
    10038, never filled; on a netting account a larger opposite deal would reverse it."""
    assert job.account is not None
    return (
        job.action.kind is ActionKind.CLOSE
        and not job.from_pending_order
        and job.leg_open_volume is not None
        and job.open_symbol is not None
        and job.open_side in ("buy", "sell")
        and gateway.known_margin_mode(job.account) == "hedging"
    )


def as_opened(job: ActionJob, ticket: int) -> Position:
    """The position as its open row and earlier closes left it."""
    assert job.open_symbol is not None and job.leg_open_volume is not None
    zero = Decimal(0)
    return Position(
        ticket=ticket, symbol=job.open_symbol, type=job.open_side or "buy",
        volume=job.leg_open_volume, price_open=zero, sl=zero, tp=zero, price_current=zero,
        profit=zero, swap=zero, magic=0, comment="", time=job.created_at,
    )  # fmt: skip


def position_gone(job: ActionJob, ticket: int) -> RowOutcome:
    return skipped(
        job.row_id,
        "position_closed",
        "the position is already closed (stop loss, take profit or by hand)",
        position_ticket=ticket,
        parent_row_id=job.parent_row_id,
        position_gone=True,
    )


def close_position(
    job: ActionJob,
    gateway: Gateway,
    position: Position,
    spec: SymbolSpec,
    sleep: Sleep,
    hook: Hook,
) -> RowOutcome:
    volume = close_volume(job, position, spec)
    if isinstance(volume, RowOutcome):
        return volume
    request = OrderRequest(
        symbol=position.symbol,
        side="sell" if position.type == "buy" else "buy",
        volume=volume,
        deviation=CLOSE_DEVIATION_POINTS,
        magic=job.magic,
        comment=order_comment(job.tag, None),
        position=position.ticket,
    )
    rules = SendRules(
        reconcile=lambda: close_found(job, gateway, position.ticket),
        succeeded=lambda result: _closed(job, result, position, volume),
        special=lambda result: _close_refused(job, result, position.ticket),
    )
    return with_fields(send_action(job, gateway, request, rules, sleep, hook), volume=volume)


def close_volume(job: ActionJob, position: Position, spec: SymbolSpec) -> Decimal | RowOutcome:
    """Lots to close of this position for this row, floored to the step.

    Never more than the leg put on and has not closed yet: on a netting account several legs
    share one position, and a larger opposite deal would reverse it. What would stay below the
    minimum lot could never be closed on its own, so it is closed too.
    """
    cap = position.volume
    if job.leg_open_volume is not None:
        cap = min(cap, job.leg_open_volume)
    if cap <= 0:
        return skipped(job.row_id, "leg_already_closed", "this leg's volume is already closed")
    action = job.action
    if action.volume is not None:
        wanted = min(action.volume, cap)
    elif action.percent is not None:
        wanted = cap * action.percent / 100
    else:
        wanted = cap
    volume = floor_to_step(wanted, spec.volume_step)
    if volume < spec.volume_min:
        return skipped(
            job.row_id,
            "below_min_volume",
            f"closing {wanted} lots is below the symbol's minimum of {spec.volume_min}",
            error_details={"volume": str(wanted), "volume_min": str(spec.volume_min)},
        )
    if 0 < cap - volume < spec.volume_min:
        volume = cap
    return volume


def _closed(job: ActionJob, result: OrderResult, position: Position, volume: Decimal) -> RowOutcome:
    closed = result.volume or volume
    return dealt(
        job.row_id,
        result.retcode,
        order=result.order,
        deal=result.deal,
        price=result.price,
        closed_volume=closed,
        remaining_volume=max(position.volume - closed, Decimal(0)),
        parent_row_id=job.parent_row_id,
    )


def _close_refused(job: ActionJob, result: OrderResult, ticket: int) -> RowOutcome | None:
    if result.retcode == c.TRADE_RETCODE_POSITION_CLOSED:
        return position_gone(job, ticket)
    if result.retcode == c.TRADE_RETCODE_INVALID_CLOSE_VOLUME:
        # The position holds less than assumed (closed in part by hand): nothing was dealt;
        # read it and work the close out again (an outcome still pending says so).
        return RowOutcome(job.row_id, "pending", retcode=result.retcode)
    return None


def close_found(job: ActionJob, gateway: Gateway, ticket: int) -> RowOutcome | None:
    """Did an earlier attempt close? The deal carries the action's magic and tag."""
    assert job.account is not None
    tagged = find_by_tag(job, gateway)
    if tagged is None or not tagged.deal:
        return None
    logger.info("row %s: adopted close deal %s found by tag %s", job.row_id, tagged.deal, job.tag)
    position = gateway.position(job.account, ticket)
    return dealt(
        job.row_id,
        c.TRADE_RETCODE_DONE,
        order=tagged.order,
        deal=tagged.deal,
        price=tagged.price,
        position_ticket=ticket,
        closed_volume=tagged.volume,
        remaining_volume=position.volume if position is not None else Decimal(0),
        parent_row_id=job.parent_row_id,
    )
