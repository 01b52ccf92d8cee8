"""Execute one claimed ledger row: reconcile, size, tag, send, classify — the same code everywhere.

``execute_job`` never touches the database: it takes a ``RowJob`` (what the row, its dispatch and
its account say) and a gateway, talks to the terminal, and returns a ``RowOutcome`` for the store
to record. The embedded thread pool and the Celery task both call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from errors import AppError, CalculationError, MT5Error, OrderOutcomeUnknown
from services.mt5 import constants as c
from services.mt5.dto import AccountRef, OrderRequest, OrderResult, TaggedOrder
from services.mt5.retcodes import RetcodeClass, classify, retcode_name
from workers.sizing import leg_volumes
from workers.store import RowOutcome, utcnow

logger = logging.getLogger("workers.execution")

PRICE_RETRIES = 3
PRICE_RETRY_WINDOW_S = 2.0
TRANSIENT_RETRIES = 3
UNKNOWN_RETRIES = 2
RECONCILE_DELAY_S = 0.2


class Gateway(Protocol):
    def resolve_symbol(self, account: AccountRef, symbol: str) -> str: ...
    def send_order(self, account: AccountRef, request: OrderRequest) -> OrderResult: ...
    def find_tagged(
        self, account: AccountRef, *, magic: int, comment: str, since: datetime
    ) -> TaggedOrder | None: ...
    def symbol_spec(
        self, account: AccountRef, symbol: str, *, max_age_s: float | None = None
    ) -> Any: ...
    def tick(self, account: AccountRef, symbol: str) -> Any: ...
    def account_snapshot(self, account: AccountRef) -> Any: ...


@dataclass(frozen=True)
class RowJob:
    """Everything needed to execute one row, read in one query when it was claimed."""

    row_id: int
    dispatch_id: int
    account_id: int
    leg: int
    legs: int
    order: dict[str, Any]  # the dispatch's order: symbol, side, order_type, price, stop_loss, ...
    sizing: dict[str, Any]  # the dispatch's sizing: mode and its figures
    account_settings: dict[str, Any]  # risk_percent, fixed_volume, volume_multiplier, max_volume
    magic: int
    tag: str
    created_at: datetime
    expires_at: datetime
    account: AccountRef | None  # None when the account can no longer trade (deleted, no password)
    volume: Decimal | None = None
    symbol: str | None = None
    outcome_unknown: bool = False
    cancelled: bool = False
    account_problem: str | None = None


@dataclass
class Attempt:
    started: float = field(default_factory=time.monotonic)
    price_retries: int = 0
    transient_retries: int = 0
    unknown_retries: int = 0


def order_comment(tag: str, user_comment: str | None) -> str:
    """The tag first (brokers rewrite a comment's tail), then as much of the user's text as fits."""
    text = f"{tag} {user_comment}".strip() if user_comment else tag
    return text[:31]


def execute_job(
    job: RowJob,
    gateway: Gateway,
    *,
    sleep: Callable[[float], None] = time.sleep,
    hooks: Callable[[str, RowJob | None], None] | None = None,
) -> RowOutcome:
    """Take one claimed row to a final state (or hand it back as pending when it must wait)."""
    started = time.monotonic()
    hook = hooks or (lambda _point, _job: None)
    try:
        outcome = _execute(job, gateway, sleep, hook)
    except AppError as exc:
        outcome = _failed(job, exc.code, exc.message, getattr(exc, "retcode", None))
    except Exception as exc:  # an unexpected bug must not leave the row in flight
        logger.exception("row %s: unexpected error", job.row_id)
        outcome = _failed(job, "internal_error", type(exc).__name__)
    latency = int((time.monotonic() - started) * 1000)
    return _with(outcome, latency_ms=latency)


def _execute(
    job: RowJob,
    gateway: Gateway,
    sleep: Callable[[float], None],
    hook: Callable[[str, RowJob | None], None],
) -> RowOutcome:
    if job.account is None:
        return _failed(
            job, "account_unavailable", job.account_problem or "the account cannot trade"
        )
    if job.outcome_unknown:
        adopted = _reconcile(job, gateway)
        if adopted is not None:
            return adopted
    if job.cancelled:
        return RowOutcome(
            row_id=job.row_id, status="cancelled", error="dispatch cancelled before sending"
        )
    if utcnow() >= job.expires_at:
        return RowOutcome(
            row_id=job.row_id, status="expired", error="expired before it could be sent"
        )
    symbol = job.symbol or gateway.resolve_symbol(job.account, job.order["symbol"])
    volume, siblings = _volume(job, gateway, symbol)
    if volume <= 0:
        return _failed(
            job,
            "leg_dropped_below_min",
            "this take-profit leg is below the minimum volume",
            symbol=symbol,
            siblings=siblings,
        )
    request = _request(job, symbol, volume)
    hook("before_send", job)
    outcome = _send_with_policy(job, gateway, request, sleep, hook)
    return _with(outcome, symbol=symbol, volume=volume, sibling_volumes=siblings)


def _volume(
    job: RowJob, gateway: Gateway, symbol: str
) -> tuple[Decimal, dict[int, Decimal] | None]:
    if job.volume is not None:
        return job.volume, None
    assert job.account is not None
    volumes = leg_volumes(job, gateway, symbol)
    return volumes[job.leg], volumes


def _request(job: RowJob, symbol: str, volume: Decimal) -> OrderRequest:
    order = job.order
    tps = order.get("take_profits") or []
    tp = Decimal(tps[job.leg]["price"]) if tps else None
    price = order.get("price")
    return OrderRequest(
        symbol=symbol,
        side=order["side"],
        volume=volume,
        order_type=order.get("order_type", "market"),
        price=Decimal(price) if price is not None else None,
        sl=Decimal(order["stop_loss"]) if order.get("stop_loss") is not None else None,
        tp=tp,
        deviation=int(order.get("deviation", 20)),
        magic=job.magic,
        comment=order_comment(job.tag, order.get("comment")),
    )


def _send_with_policy(
    job: RowJob,
    gateway: Gateway,
    request: OrderRequest,
    sleep: Callable[[float], None],
    hook: Callable[[str, RowJob | None], None],
) -> RowOutcome:
    assert job.account is not None
    attempt = Attempt()
    while True:
        if utcnow() >= job.expires_at:
            return RowOutcome(row_id=job.row_id, status="expired", error="expired while retrying")
        try:
            result = gateway.send_order(job.account, request)
        except OrderOutcomeUnknown as exc:
            hook("after_send", job)
            found = _after_unknown(job, gateway, attempt, sleep, exc.message)
            if isinstance(found, RowOutcome):
                return found
            continue
        except MT5Error as exc:  # never reached the trade server (connect/login failed)
            if (
                exc.code in {"mt5_unavailable", "mt5_timeout"}
                and attempt.transient_retries < TRANSIENT_RETRIES
            ):
                attempt.transient_retries += 1
                sleep(0.25 * 2 ** (attempt.transient_retries - 1))
                continue
            return _failed(job, exc.code, exc.message, exc.retcode)
        hook("after_send", job)
        logger.info(
            "row %s attempt: retcode %s (%s) magic %s tag %s",
            job.row_id,
            result.retcode,
            retcode_name(result.retcode),
            job.magic,
            job.tag,
        )
        kind = classify(result.retcode)
        if kind is RetcodeClass.SUCCESS:
            return _executed(job, result)
        if kind is RetcodeClass.PRICE_MOVED and _may_retry_price(attempt):
            attempt.price_retries += 1
            request = _fresh_price(request)
            continue
        if kind is RetcodeClass.TRANSIENT and attempt.transient_retries < TRANSIENT_RETRIES:
            attempt.transient_retries += 1
            sleep(0.25 * 2 ** (attempt.transient_retries - 1))
            if result.retcode == c.TRADE_RETCODE_CONNECTION:  # the order may have gone through
                adopted = _reconcile(job, gateway)
                if adopted is not None:
                    return adopted
            continue
        if kind is RetcodeClass.UNKNOWN_OUTCOME:
            found = _after_unknown(job, gateway, attempt, sleep, f"retcode {result.retcode}")
            if isinstance(found, RowOutcome):
                return found
            continue
        return _failed(
            job,
            f"mt5_{retcode_name(result.retcode).lower()}",
            result.comment or retcode_name(result.retcode),
            result.retcode,
        )


def _may_retry_price(attempt: Attempt) -> bool:
    within = time.monotonic() - attempt.started < PRICE_RETRY_WINDOW_S
    return attempt.price_retries < PRICE_RETRIES and within


def _fresh_price(request: OrderRequest) -> OrderRequest:
    """Market orders re-read Ask/Bid in the gateway when no price is given."""
    if request.order_type != "market":
        return request
    return OrderRequest(**{**request.__dict__, "price": None})


def _after_unknown(
    job: RowJob, gateway: Gateway, attempt: Attempt, sleep: Callable[[float], None], reason: str
) -> RowOutcome | None:
    """Look for the tagged order before anything is resent; give up after a few unknowns."""
    sleep(RECONCILE_DELAY_S)
    adopted = _reconcile(job, gateway)
    if adopted is not None:
        return adopted
    attempt.unknown_retries += 1
    if attempt.unknown_retries > UNKNOWN_RETRIES:
        return _failed(
            job,
            "mt5_outcome_unknown",
            f"no confirmation after {attempt.unknown_retries} attempts ({reason}); "
            "no tagged order found",
            outcome_unknown=True,
        )
    return None


def _reconcile(job: RowJob, gateway: Gateway) -> RowOutcome | None:
    assert job.account is not None
    since = job.created_at - timedelta(minutes=1)
    tagged = gateway.find_tagged(job.account, magic=job.magic, comment=job.tag, since=since)
    if tagged is None:
        return None
    logger.info("row %s: adopted order %s found by tag %s", job.row_id, tagged.order, job.tag)
    return RowOutcome(
        row_id=job.row_id,
        status="executed",
        retcode=c.TRADE_RETCODE_DONE if tagged.state == "filled" else c.TRADE_RETCODE_PLACED,
        order_ticket=tagged.order or None,
        deal_ticket=tagged.deal or None,
        position_ticket=tagged.position or None,
        fill_price=tagged.price,
        fill_volume=tagged.volume,
        error=None,
    )


def _executed(job: RowJob, result: OrderResult) -> RowOutcome:
    return RowOutcome(
        row_id=job.row_id,
        status="executed",
        retcode=result.retcode,
        order_ticket=result.order or None,
        deal_ticket=result.deal or None,
        position_ticket=result.position or None,
        fill_price=result.price,
        fill_volume=result.volume,
    )


def _failed(
    job: RowJob,
    code: str,
    message: str,
    retcode: int | None = None,
    *,
    symbol: str | None = None,
    siblings: dict[int, Decimal] | None = None,
    outcome_unknown: bool = False,
) -> RowOutcome:
    logger.info("row %s failed: %s", job.row_id, code)
    return RowOutcome(
        row_id=job.row_id,
        status="failed",
        retcode=retcode,
        error=f"{code}: {message}"[:500],
        symbol=symbol,
        sibling_volumes=siblings,
        volume=siblings.get(job.leg) if siblings else None,
        outcome_unknown=outcome_unknown,
    )


def _with(outcome: RowOutcome, **fills: Any) -> RowOutcome:
    """The outcome with the given fields filled in where it has none of its own."""
    missing = {k: v for k, v in fills.items() if v is not None and getattr(outcome, k) is None}
    return replace(outcome, **missing)


__all__ = ["CalculationError", "RowJob", "execute_job", "order_comment"]
