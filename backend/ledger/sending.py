"""The retcode policy: send one request, retry what is safe to retry, reconcile what is unknown.

Opens and follow-ups share it; what differs (what success records, how an unknown outcome is
looked for at the broker, which retcodes mean something special for this request) comes in
as ``SendRules``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from errors import MT5Error, OrderOutcomeUnknown
from ledger.types import RowOutcome
from models.columns import utcnow
from services.mt5 import constants as c
from services.mt5.dto import (
    AccountRef,
    OrderRequest,
    OrderResult,
    PendingOrder,
    Position,
    SymbolSpec,
    TaggedOrder,
    Tick,
    TradeRequest,
)
from services.mt5.retcodes import RetcodeClass, classify, retcode_name

logger = logging.getLogger("ledger.sending")

PRICE_RETRIES = 3
PRICE_RETRY_WINDOW_S = 2.0
TRANSIENT_RETRIES = 3
UNKNOWN_RETRIES = 2
RECONCILE_DELAY_S = 0.2
Sleep = Callable[[float], None]


class Gateway(Protocol):
    """What the ledger asks of the MT5 gateway (tests pass scripted fakes)."""

    def resolve_symbol(self, account: AccountRef, symbol: str) -> str: ...
    def send_order(self, account: AccountRef, request: TradeRequest) -> OrderResult: ...
    def find_tagged(
        self, account: AccountRef, *, magic: int, comment: str, since: datetime
    ) -> TaggedOrder | None: ...
    def symbol_spec(
        self, account: AccountRef, symbol: str, *, max_age_s: float | None = None
    ) -> SymbolSpec: ...
    def tick(self, account: AccountRef, symbol: str) -> Tick: ...
    def account_snapshot(self, account: AccountRef) -> Any: ...
    def position(self, account: AccountRef, ticket: int) -> Position | None: ...
    def positions(self, account: AccountRef, symbol: str | None = None) -> list[Position]: ...
    def pending_order(self, account: AccountRef, ticket: int) -> PendingOrder | None: ...
    def order_fate(self, account: AccountRef, ticket: int) -> Any: ...
    def known_margin_mode(self, account: AccountRef) -> str | None: ...


@dataclass(frozen=True)
class SendRules:
    """What one kind of request makes of the broker's answers."""

    reconcile: Callable[[], RowOutcome | None]  # an unknown outcome: what does the broker hold?
    succeeded: Callable[[OrderResult], RowOutcome]  # a success retcode: what to record
    # Retcodes with a meaning of their own for this request (10036 for a close, 10025 for a
    # modification): an outcome, or None to apply the general policy.
    special: Callable[[OrderResult], RowOutcome | None] = lambda _result: None


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


def failed(
    row_id: int, code: str, message: str, retcode: int | None = None, **fields: Any
) -> RowOutcome:
    logger.info("row %s failed: %s", row_id, code)
    return RowOutcome(
        row_id=row_id, status="failed", retcode=retcode, error=f"{code}: {message}"[:500], **fields
    )


def skipped(row_id: int, code: str, message: str, **fields: Any) -> RowOutcome:
    """Nothing to do (already closed, filtered): not a failure."""
    logger.info("row %s skipped: %s", row_id, code)
    return RowOutcome(row_id=row_id, status="skipped", error=f"{code}: {message}"[:500], **fields)


def dealt(
    row_id: int, retcode: int, *, order: int, deal: int, price: Decimal | None, **fields: Any
) -> RowOutcome:
    """An executed row with the tickets and price the broker gave (0 means none)."""
    return RowOutcome(
        row_id=row_id,
        status="executed",
        retcode=retcode,
        order_ticket=order or None,
        deal_ticket=deal or None,
        fill_price=price or None,
        **fields,
    )


def placed(row_id: int, order: int) -> RowOutcome:
    """A pending order on the book: not a fill."""
    return RowOutcome(
        row_id=row_id, status="placed", retcode=c.TRADE_RETCODE_PLACED, order_ticket=order or None
    )


class Tagged(Protocol):
    """A job whose orders carry its tag: magic + comment (opens and actions alike)."""

    @property
    def account(self) -> AccountRef | None: ...
    @property
    def magic(self) -> int: ...
    @property
    def tag(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


def find_by_tag(job: Tagged, gateway: Gateway) -> TaggedOrder | None:
    """What an earlier attempt of this row left at the broker, found by its tag."""
    assert job.account is not None
    since = job.created_at - timedelta(minutes=1)
    return gateway.find_tagged(job.account, magic=job.magic, comment=job.tag, since=since)


def with_fields(outcome: RowOutcome, **fills: Any) -> RowOutcome:
    """The outcome with the given fields filled in where it has none of its own."""
    missing = {k: v for k, v in fills.items() if v is not None and getattr(outcome, k) is None}
    if not missing:
        return outcome
    # ``dataclasses.replace`` re-ran __init__ over all 25 fields for each of the two or three
    # fills of every order; the frozen outcome is copied through its __dict__ instead.
    copied = object.__new__(RowOutcome)
    copied.__dict__.update(outcome.__dict__, **missing)
    return copied


def send_with_policy(
    *,
    row_id: int,
    expires_at: datetime,
    account: AccountRef,
    gateway: Gateway,
    request: TradeRequest,
    rules: SendRules,
    sleep: Sleep,
    after_send: Callable[[], None],
) -> RowOutcome:
    """Send until the row has an outcome; never resend what may have landed before looking."""
    attempt = Attempt()
    while True:
        if utcnow() >= expires_at:
            return RowOutcome(row_id=row_id, status="expired", error="expired while retrying")
        try:
            result = gateway.send_order(account, request)
        except OrderOutcomeUnknown as exc:
            after_send()
            found = _after_unknown(row_id, rules, attempt, sleep, exc.message)
            if found is not None:
                return found
            continue
        except MT5Error as exc:  # never reached the trade server (connect/login failed)
            if _may_retry_transient(exc.code in {"mt5_unavailable", "mt5_timeout"}, attempt):
                sleep(_transient_wait(attempt))
                continue
            return failed(row_id, exc.code, exc.message, exc.retcode)
        after_send()
        logger.info(
            "row %s attempt: retcode %s (%s)", row_id, result.retcode, retcode_name(result.retcode)
        )
        special = rules.special(result)
        if special is not None:
            return special
        kind = classify(result.retcode)
        if kind is RetcodeClass.SUCCESS:
            return rules.succeeded(result)
        if kind is RetcodeClass.PRICE_MOVED and _may_retry_price(attempt):
            attempt.price_retries += 1
            request = _fresh_price(request)
            continue
        if _may_retry_transient(kind is RetcodeClass.TRANSIENT, attempt):
            sleep(_transient_wait(attempt))
            if result.retcode == c.TRADE_RETCODE_CONNECTION:  # the order may have gone through
                adopted = rules.reconcile()
                if adopted is not None:
                    return adopted
            continue
        if kind is RetcodeClass.UNKNOWN_OUTCOME:
            found = _after_unknown(row_id, rules, attempt, sleep, f"retcode {result.retcode}")
            if found is not None:
                return found
            continue
        return failed(
            row_id,
            f"mt5_{retcode_name(result.retcode).lower()}",
            result.comment or retcode_name(result.retcode),
            result.retcode,
        )


def _may_retry_transient(transient: bool, attempt: Attempt) -> bool:
    if not transient or attempt.transient_retries >= TRANSIENT_RETRIES:
        return False
    attempt.transient_retries += 1
    return True


def _transient_wait(attempt: Attempt) -> float:
    return 0.25 * 2 ** (attempt.transient_retries - 1)


def _may_retry_price(attempt: Attempt) -> bool:
    within = time.monotonic() - attempt.started < PRICE_RETRY_WINDOW_S
    return attempt.price_retries < PRICE_RETRIES and within


def _fresh_price(request: TradeRequest) -> TradeRequest:
    """Market orders re-read Ask/Bid in the gateway when no price is given."""
    if not isinstance(request, OrderRequest) or request.order_type != "market":
        return request
    return replace(request, price=None)


def _after_unknown(
    row_id: int, rules: SendRules, attempt: Attempt, sleep: Sleep, reason: str
) -> RowOutcome | None:
    """Look at the broker before anything is resent; give up after a few unknowns."""
    sleep(RECONCILE_DELAY_S)
    adopted = rules.reconcile()
    if adopted is not None:
        return adopted
    attempt.unknown_retries += 1
    if attempt.unknown_retries > UNKNOWN_RETRIES:
        return failed(
            row_id,
            "mt5_outcome_unknown",
            f"no confirmation after {attempt.unknown_retries} attempts ({reason}); "
            "nothing found at the broker",
            outcome_unknown=True,
        )
    return None
