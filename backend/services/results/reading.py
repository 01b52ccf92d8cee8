"""Reading one target at its terminal: the deals of its positions, what is open, a USD quote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from errors import AppError
from models.columns import utcnow
from services.calculation.conversion import CENT_CURRENCIES
from services.mt5.dto import AccountRef
from services.mt5.gateway import MT5Gateway
from services.results.plans import TargetPlan
from services.results.pnl import ZERO, Share, floating_share, share_of_position


@dataclass(frozen=True)
class Reading:
    """One target as its terminal showed it."""

    currency: str
    digits: int
    share: Share
    floating: Decimal
    positions: tuple[int, ...]
    orders_on_book: int  # pending orders placed and not filled yet

    @property
    def is_open(self) -> bool:
        return self.share.held > 0 or self.orders_on_book > 0


@dataclass(frozen=True)
class Quote:
    """The price that converted an account currency into USD, and when it was read."""

    pair: str
    bid: Decimal
    ask: Decimal
    at: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


def read_target(gateway: MT5Gateway, ref: AccountRef, plan: TargetPlan) -> Reading:
    """Deals of every position the dispatch opened (found by position id), and the floating
    profit of what is still open: one call per position, one more per open one and per
    pending order, plus the account's currency."""
    snapshot = gateway.account_snapshot(ref)
    positions = set(plan.positions)
    on_book = 0
    for order in sorted(plan.placed_orders):
        fate = gateway.order_fate(ref, order)
        if fate is None:  # not in the history: still on the book
            on_book += 1
        elif fate.position_id:
            positions.add(fate.position_id)
    total, floating = Share(), ZERO
    for position_id in sorted(positions):
        deals = gateway.position_deals(ref, position_id)
        share = share_of_position(deals, opens=plan.opens, closes=plan.closes)
        if share.held > 0:
            position = gateway.position(ref, position_id)
            if position is not None:
                floating += floating_share(share, position.profit, position.swap)
        total += share
    return Reading(
        snapshot.currency, snapshot.currency_digits, total, floating, tuple(sorted(positions)),
        on_book,
    )  # fmt: skip


def quote_pairs(currency: str) -> tuple[str, ...]:
    """The symbols that price ``currency`` in USD; none for USD and its cent."""
    real = CENT_CURRENCIES.get(currency.upper(), (currency.upper(), None))[0]
    return () if real == "USD" else (f"USD{real}", f"{real}USD")


def read_quote(gateway: MT5Gateway, ref: AccountRef, currency: str) -> Quote | None:
    """The first of the currency's USD pairs the account's terminal quotes; None if none."""
    for pair in quote_pairs(currency):
        try:
            tick = gateway.tick(ref, pair)
        except AppError:
            continue
        if tick.bid > 0 and tick.ask > 0:
            return Quote(pair, tick.bid, tick.ask, utcnow())
    return None
