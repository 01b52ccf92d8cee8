"""Execute one claimed ledger row: an open (reconcile, size, tag, send) or a follow-up action.

``execute_job`` never touches the database: it takes a job (what the row, its dispatch and its
account say) and a gateway, talks to the terminal, and returns a ``RowOutcome`` for the store
to record. The embedded thread pool and the Celery task both call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from errors import AppError
from ledger import management, protection
from ledger.actions import ActionJob
from ledger.sending import (
    Gateway,
    SendRules,
    Sleep,
    dealt,
    failed,
    find_by_tag,
    order_comment,
    placed,
    send_with_policy,
    skipped,
    with_fields,
)
from ledger.sizing import (
    SPEC_MAX_AGE_S,
    MarketFacts,
    leg_volumes,
    needs_account,
    needs_tick,
    spec_max_age,
)
from ledger.types import RowJob, RowOutcome, SizingMode
from models.columns import utcnow
from services.calculation.conversion import with_usd
from services.calculation.deviations import dropped_legs_note
from services.calculation.volume import split_across_take_profits
from services.mt5 import constants as c
from services.mt5.dto import OrderRequest, OrderResult

logger = logging.getLogger("ledger.execution")
Hook = Callable[[str, "RowJob | ActionJob | None"], None]

__all__ = ["Gateway", "RowJob", "execute_job", "order_comment"]


def execute_job(
    job: RowJob | ActionJob,
    gateway: Gateway,
    *,
    sleep: Sleep = time.sleep,
    hooks: Hook | None = None,
) -> RowOutcome:
    """Take one claimed row to a final state (or hand it back as pending when it must wait)."""
    started = time.monotonic()
    hook: Hook = hooks or (lambda _point, _job: None)
    try:
        if isinstance(job, ActionJob):
            outcome = management.execute_action(job, gateway, sleep, lambda p: hook(p, job))
        else:
            outcome = _execute(job, gateway, sleep, hook)
    except AppError as exc:
        outcome = failed(job.row_id, exc.code, exc.message, getattr(exc, "retcode", None))
    except Exception as exc:  # an unexpected bug must not leave the row in flight
        logger.exception("row %s: unexpected error", job.row_id)
        outcome = failed(job.row_id, "internal_error", type(exc).__name__)
    latency = int((time.monotonic() - started) * 1000)
    return with_fields(outcome, latency_ms=latency, created_at=job.created_at)


def _execute(job: RowJob, gateway: Gateway, sleep: Sleep, hook: Hook) -> RowOutcome:
    if job.account is None:
        return failed(
            job.row_id, "account_unavailable", job.account_problem or "the account cannot trade"
        )
    carrier = _carries_legs(job, gateway)
    if job.outcome_unknown:
        adopted = _reconcile(job, gateway)
        if adopted is not None:
            return _carried(job, gateway, adopted, None) if carrier else adopted
    if job.cancelled:
        return RowOutcome(
            row_id=job.row_id, status="cancelled", error="dispatch cancelled before sending"
        )
    if utcnow() >= job.expires_at:
        return RowOutcome(
            row_id=job.row_id, status="expired", error="expired before it could be sent"
        )
    symbol = job.symbol or gateway.resolve_symbol(job.account, job.order.symbol)
    refused = protection.refusal(job, gateway, symbol)
    if refused is not None:
        return with_fields(refused, symbol=symbol)
    try:
        volume, siblings, warnings = _volume(job, gateway, symbol)
    except AppError as exc:
        return _not_sized(job, gateway, symbol, exc)
    if carrier and siblings:
        volume = sum(siblings.values(), Decimal(0))
    if volume <= 0:
        # The account's other legs carry its volume: this one has nothing to send, which is
        # neither a success nor a failure of the dispatch.
        return skipped(
            job.row_id,
            "leg_dropped_below_min",
            "this take-profit leg is below the minimum volume",
            symbol=symbol,
            sibling_volumes=siblings,
            volume=siblings.get(job.leg) if siblings else None,
            warnings=[*warnings, dropped_legs_note([job.leg + 1])],
        )
    hook("before_send", job)
    outcome = send_with_policy(
        row_id=job.row_id,
        expires_at=job.expires_at,
        account=job.account,
        gateway=gateway,
        request=_request(job, symbol, volume, carrier=carrier),
        rules=SendRules(
            reconcile=lambda: _reconcile(job, gateway),
            succeeded=lambda result: _opened(job, result),
        ),
        sleep=sleep,
        after_send=lambda: hook("after_send", job),
    )
    noted = warnings or None
    if carrier:
        return _carried(job, gateway, with_fields(outcome, symbol=symbol, warnings=noted), siblings)
    return with_fields(
        outcome, symbol=symbol, volume=volume, sibling_volumes=siblings, warnings=noted
    )


def _carries_legs(job: RowJob, gateway: Gateway) -> bool:
    """On a netting (or exchange) account the first leg carries every leg in one order.

    Netting keeps one position per symbol: separate orders per take profit would merge into it
    and the last order's TP would win. So one order of the total volume goes with the last
    leg's TP, and the earlier legs' TPs become virtual (ledger/automation.py closes them).
    """
    if job.order.legs < 2 or job.leg != 0 or job.volume is not None:
        return False
    assert job.account is not None
    mode = gateway.known_margin_mode(job.account)
    if mode is None:
        mode = gateway.account_snapshot(job.account).margin_mode
    return mode != "hedging"


def _carried(
    job: RowJob, gateway: Gateway, outcome: RowOutcome, siblings: dict[int, Decimal] | None
) -> RowOutcome:
    """The carrier's outcome, shared out to every leg: its own leg's volume on its row, the
    others' volumes for the store to record on theirs (ledger/store.py)."""
    if siblings is None and outcome.status == "executed" and outcome.fill_volume:
        siblings = _resplit(job, gateway, outcome)
    if siblings is None:
        return replace(outcome, carries_legs=True)
    own = siblings.get(job.leg)
    volume = own if outcome.status in ("executed", "placed") else outcome.volume
    return replace(
        outcome,
        carries_legs=True,
        virtual_tp=True,
        sibling_volumes=siblings,
        volume=volume,
        fill_volume=own if outcome.fill_volume is not None else None,
    )


def _resplit(job: RowJob, gateway: Gateway, outcome: RowOutcome) -> dict[int, Decimal]:
    """The legs of an adopted carrier: the total split again by the shares, as it was sized
    (the split depends only on the total, the shares and the symbol's lot rules)."""
    assert job.account is not None and outcome.fill_volume is not None
    symbol = outcome.symbol or job.symbol or gateway.resolve_symbol(job.account, job.order.symbol)
    spec = gateway.symbol_spec(job.account, symbol, max_age_s=SPEC_MAX_AGE_S)
    legs = split_across_take_profits(outcome.fill_volume, job.order.shares, spec)
    return dict(enumerate(legs))


def _not_sized(job: RowJob, gateway: Gateway, symbol: str, exc: AppError) -> RowOutcome:
    """A target sizing refused: failed, except a follower's own rule below the minimum lot
    (skipped, as ``below_min: skip`` says); money in the message in its currency and USD."""
    message = exc.message
    details = getattr(exc, "details", None) or {}
    if exc.code == "below_min_volume" and details.get("min_lot_risk_money"):
        assert job.account is not None
        message = with_usd(
            message,
            Decimal(details["min_lot_risk_money"]),
            details["currency"],
            lambda pair: _quote(job, gateway, pair),
        )
    if exc.code == "below_min_volume" and job.sizing.mode is SizingMode.FOLLOWER:
        return skipped(job.row_id, exc.code, message, symbol=symbol, error_details=details)
    return failed(job.row_id, exc.code, message, symbol=symbol)


def _quote(job: RowJob, gateway: Gateway, pair: str) -> Decimal | None:
    """A conversion pair's mid quote at this account's terminal, None when it has none."""
    assert job.account is not None
    try:
        tick = gateway.tick(job.account, gateway.resolve_symbol(job.account, pair))
    except AppError:
        return None
    return (tick.bid + tick.ask) / 2 if tick.bid > 0 and tick.ask > 0 else None


def _volume(
    job: RowJob, gateway: Gateway, symbol: str
) -> tuple[Decimal, dict[int, Decimal] | None, list[str]]:
    """The row's volume, siblings' volumes and warnings: recorded when a sibling leg sized the
    account (its row holds the warnings), else sized now."""
    if job.volume is not None:
        return job.volume, None, []
    follower = job.follower.sizing if job.follower is not None else None
    sized = leg_volumes(
        job.order,
        job.sizing,
        job.account_settings,
        market_facts(job, gateway, symbol),
        follower,
    )
    return sized.volumes[job.leg], sized.volumes, sized.warnings


def market_facts(job: RowJob, gateway: Gateway, symbol: str) -> MarketFacts:
    """What sizing needs from the terminal, and no more (volume modes read only the spec)."""
    assert job.account is not None
    spec = gateway.symbol_spec(job.account, symbol, max_age_s=spec_max_age(job.sizing, job.order))
    snapshot = gateway.account_snapshot(job.account) if needs_account(job.sizing) else None
    tick = gateway.tick(job.account, symbol) if needs_tick(job.sizing, job.order) else None
    return MarketFacts(spec=spec, snapshot=snapshot, tick=tick)


def _request(job: RowJob, symbol: str, volume: Decimal, *, carrier: bool) -> OrderRequest:
    order = job.order
    leg = len(order.take_profits) - 1 if carrier else job.leg  # a carrier takes the last TP
    return OrderRequest(
        symbol=symbol,
        side=order.side,
        volume=volume,
        order_type=order.order_type.value,
        price=order.price,
        sl=order.stop_loss,
        tp=order.take_profit_of(leg),
        deviation=order.deviation,
        magic=job.magic,
        comment=order_comment(job.tag, order.comment),
    )


def _reconcile(job: RowJob, gateway: Gateway) -> RowOutcome | None:
    """An earlier attempt's outcome is unknown: adopt the order it made, found by its tag."""
    tagged = find_by_tag(job, gateway)
    if tagged is None:
        return None
    logger.info("row %s: adopted order %s found by tag %s", job.row_id, tagged.order, job.tag)
    if tagged.state == "placed":
        return placed(job.row_id, tagged.order)
    if tagged.state != "filled":  # it reached the broker, which refused or cancelled it
        return failed(
            job.row_id,
            f"mt5_order_{tagged.state}",
            f"the order found by its tag was {tagged.state}",
            order_ticket=tagged.order or None,
        )
    return dealt(
        job.row_id,
        c.TRADE_RETCODE_DONE,
        order=tagged.order,
        deal=tagged.deal,
        price=tagged.price,
        position_ticket=tagged.position or None,
        fill_volume=tagged.volume,
    )


def _opened(job: RowJob, result: OrderResult) -> RowOutcome:
    """A fill is ``executed``; a pending order on the book is ``placed``, not a fill."""
    if result.retcode == c.TRADE_RETCODE_PLACED:
        return placed(job.row_id, result.order)
    return dealt(
        job.row_id,
        result.retcode,
        order=result.order,
        deal=result.deal,
        price=result.price,
        position_ticket=result.position or None,
        fill_volume=result.volume,
    )
