"""Execute one claimed ledger row: reconcile, size, tag, send, classify (the retcode policy).

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

from errors import AppError, MT5Error, OrderOutcomeUnknown
from ledger.sizing import MarketFacts, leg_volumes, needs_account, needs_tick, spec_max_age
from ledger.types import RowJob, RowOutcome
from models.columns import utcnow
from services.mt5 import constants as c
from services.mt5.dto import AccountRef, OrderRequest, OrderResult, TaggedOrder
from services.mt5.retcodes import RetcodeClass, classify, retcode_name

logger = logging.getLogger("ledger.execution")

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
    symbol = job.symbol or gateway.resolve_symbol(job.account, job.order.symbol)
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
    """The row's volume: recorded when a sibling leg sized the account, else sized now."""
    if job.volume is not None:
        return job.volume, None
    volumes = leg_volumes(
        job.order, job.sizing, job.account_settings, _market_facts(job, gateway, symbol)
    )
    return volumes[job.leg], volumes


def _market_facts(job: RowJob, gateway: Gateway, symbol: str) -> MarketFacts:
    """What sizing needs from the terminal, and no more (volume modes read only the spec)."""
    assert job.account is not None
    spec = gateway.symbol_spec(job.account, symbol, max_age_s=spec_max_age(job.sizing))
    snapshot = gateway.account_snapshot(job.account) if needs_account(job.sizing) else None
    tick = gateway.tick(job.account, symbol) if needs_tick(job.sizing, job.order) else None
    return MarketFacts(spec=spec, snapshot=snapshot, tick=tick)


def _request(job: RowJob, symbol: str, volume: Decimal) -> OrderRequest:
    order = job.order
    return OrderRequest(
        symbol=symbol,
        side=order.side,
        volume=volume,
        order_type=order.order_type.value,
        price=order.price,
        sl=order.stop_loss,
        tp=order.take_profit_of(job.leg),
        deviation=order.deviation,
        magic=job.magic,
        comment=order_comment(job.tag, order.comment),
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


__all__ = ["RowJob", "execute_job", "order_comment"]
