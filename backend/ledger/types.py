"""The ledger's vocabulary: the typed trade a dispatch carries, how it is sized, a job, an outcome.

The schemas load requests into these frozen types; a dispatch stores them as JSON once
(``to_json``) and the executor reads them back as the same types (``from_json``). Each rule a
schema cannot state lives on the type that owns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, NamedTuple, cast

from errors import AppError, CalculationError
from ledger.follower import FollowerTerms
from models.broadcast import FINAL_ROW_STATUSES, OPEN_ROW_STATUSES, ROW_STATUSES, RowStatus
from services.calculation.trade_geometry import complete_shares
from services.mt5.dto import AccountRef
from utils.decimals import decimal_text

__all__ = [
    "FINAL_ROW_STATUSES",
    "OPEN_ROW_STATUSES",
    "ROW_STATUSES",
    "AccountSizing",
    "OrderType",
    "Risk",
    "RowJob",
    "RowOutcome",
    "RowStatus",
    "Sizing",
    "SizingMode",
    "TakeProfit",
    "TargetAccount",
    "Targets",
    "TradeOrder",
]

MAGIC_BASE = 770_000_000  # magic = MAGIC_BASE + dispatch id: the dispatch, visible in MT5
DISPATCH_STATUSES = (
    "pending",
    "in_progress",
    "completed",
    "partial",
    "failed",
    "expired",
    "cancelled",
)


def magic_for(dispatch_id: int) -> int:
    return MAGIC_BASE + dispatch_id


def tag_for(dispatch_id: int, account_id: int, leg: int) -> str:
    """The row's tag, unique by the (dispatch, account, leg) constraint; it leads the comment."""
    return f"t{dispatch_id}.{account_id}.{leg}"


def invalid(code: str, message: str, *path: str) -> AppError:
    """A 422 whose details point at the offending field, as schema errors do."""
    details: dict[str, Any] = {path[-1]: [message]}
    for key in reversed(path[:-1]):
        details = {key: details}
    return AppError(message, code=code, status_code=422, details={"json": details})


def decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def text_or_none(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


Side = Literal["buy", "sell"]


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


@dataclass(frozen=True)
class TakeProfit:
    price: Decimal
    share_percent: Decimal | None = None  # None: an equal part of what the given shares leave


@dataclass(frozen=True)
class Risk:
    """Risk per trade: a percent of the account's balance or a money amount (exactly one)."""

    percent: Decimal | None = None
    amount: Decimal | None = None

    def to_json(self) -> dict[str, str]:
        if self.percent is not None:
            return {"percent": decimal_text(self.percent)}
        return {"amount": decimal_text(self.amount or Decimal(0))}


@dataclass(frozen=True)
class TradeOrder:
    """One trade to open: the same on every target account; the volume is sized per account."""

    symbol: str
    side: Side
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profits: tuple[TakeProfit, ...] = ()
    volume: Decimal | None = None  # the signal's own volume, when it gives one
    risk: Risk | None = None  # or the signal's risk
    deviation: int = 20  # points
    comment: str | None = None

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def is_market(self) -> bool:
        return self.order_type is OrderType.MARKET

    @property
    def legs(self) -> int:
        """One target row per take profit (one row when there is none)."""
        return max(1, len(self.take_profits))

    @property
    def shares(self) -> list[Decimal]:
        """Each take profit's share, the omitted ones filled in (``check`` refuses impossible
        ones before a dispatch is made)."""
        return complete_shares([tp.share_percent for tp in self.take_profits])

    def take_profit_of(self, leg: int) -> Decimal | None:
        return self.take_profits[leg].price if self.take_profits else None

    def prices(self) -> dict[str, Decimal | None]:
        """Every price of the order by field name (for the tick-grid check)."""
        named: dict[str, Decimal | None] = {"price": self.price, "stop_loss": self.stop_loss}
        for index, tp in enumerate(self.take_profits):
            named[f"take_profits[{index}].price"] = tp.price
        return named

    def check(self) -> None:
        """Rules a schema cannot state: prices per order type, stop sides, take-profit shares."""
        if not self.is_market and self.price is None:
            raise invalid("price_required", "Limit and stop orders need a price.", "price")
        try:
            _ = self.shares  # shares that cannot be completed are refused here
        except CalculationError as exc:
            raise invalid(exc.code, exc.message, "take_profits") from exc
        if self.price is None:
            return
        if self.stop_loss is not None and self._beyond(self.stop_loss, self.price):
            raise invalid(
                "sl_wrong_side", "The stop loss is on the wrong side of the price.", "stop_loss"
            )
        if any(self._beyond(self.price, tp.price) for tp in self.take_profits):
            raise invalid(
                "take_profit_wrong_side",
                "A take profit is on the wrong side of the price.",
                "take_profits",
            )

    def _beyond(self, low_for_buy: Decimal, high_for_buy: Decimal) -> bool:
        """The first price is not below the second for a buy (not above, for a sell)."""
        return low_for_buy >= high_for_buy if self.is_buy else low_for_buy <= high_for_buy

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side,
            "order_type": self.order_type.value,
            "price": text_or_none(self.price),
            "stop_loss": text_or_none(self.stop_loss),
            "take_profits": [
                {"price": decimal_text(tp.price), "share_percent": text_or_none(tp.share_percent)}
                for tp in self.take_profits
            ],
            "volume": text_or_none(self.volume),
            "risk": self.risk.to_json() if self.risk else None,
            "deviation": self.deviation,
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TradeOrder:
        """Read a stored order back (also the loaded schema's fields, which hold Decimals)."""
        risk = data.get("risk") or None
        return cls(
            symbol=data["symbol"],
            side=cast(Side, data["side"]),
            order_type=OrderType(data.get("order_type") or "market"),
            price=decimal_or_none(data.get("price")),
            stop_loss=decimal_or_none(data.get("stop_loss")),
            take_profits=tuple(
                TakeProfit(Decimal(str(tp["price"])), decimal_or_none(tp.get("share_percent")))
                for tp in data.get("take_profits") or ()
            ),
            volume=decimal_or_none(data.get("volume")),
            risk=Risk(decimal_or_none(risk.get("percent")), decimal_or_none(risk.get("amount")))
            if risk
            else None,
            deviation=int(data.get("deviation", 20)),
            comment=data.get("comment"),
        )


class SizingMode(StrEnum):
    FIXED_VOLUME = "fixed_volume"  # the given volume, or the account's own fixed_volume
    MULTIPLIER = "multiplier"  # the given volume times the account's volume_multiplier
    RISK_PERCENT = "risk_percent"  # one percent for every target
    RISK_AMOUNT = "risk_amount"  # one money amount for every target
    ACCOUNT_RISK = "account_risk"  # each account's own risk_percent (or default_percent)
    FOLLOWER = "follower"  # each follower's own subscription sizing (ledger/follower.py)

    @property
    def is_risk(self) -> bool:
        return self in RISK_MODES


RISK_MODES = frozenset({SizingMode.RISK_PERCENT, SizingMode.RISK_AMOUNT, SizingMode.ACCOUNT_RISK})


@dataclass(frozen=True)
class Sizing:
    """How each target's volume is found: a mode and its figures."""

    mode: SizingMode
    volume: Decimal | None = None
    percent: Decimal | None = None
    amount: Decimal | None = None
    default_percent: Decimal | None = None

    @classmethod
    def for_order(cls, order: TradeOrder) -> Sizing:
        """The order's own volume or risk becomes the sizing (exactly one of them)."""
        if (order.volume is None) == (order.risk is None):
            raise invalid(
                "volume_or_risk_required", "Give exactly one of volume or risk.", "volume"
            )
        if order.volume is not None:
            return cls(SizingMode.FIXED_VOLUME, volume=order.volume)
        assert order.risk is not None
        if order.risk.percent is not None:
            return cls(SizingMode.RISK_PERCENT, percent=order.risk.percent)
        return cls(SizingMode.RISK_AMOUNT, amount=order.risk.amount)

    def check(self, order: TradeOrder, *field_path: str) -> None:
        """Risk sizing needs a stop loss: the distance to it is what the risk buys (a follower's
        own risk sizing is checked per target: the ones sizing by volume need none)."""
        if self.mode.is_risk and order.stop_loss is None:
            raise invalid(
                "stop_loss_required",
                "Sizing by risk needs a stop loss.",
                *field_path,
                "stop_loss",
            )

    def to_json(self) -> dict[str, Any]:
        figures = {
            "volume": self.volume,
            "percent": self.percent,
            "amount": self.amount,
            "default_percent": self.default_percent,
        }
        return {
            "mode": self.mode.value,
            **{k: decimal_text(v) for k, v in figures.items() if v is not None},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Sizing:
        data = data or {}
        return cls(
            mode=SizingMode(data.get("mode") or "fixed_volume"),
            volume=decimal_or_none(data.get("volume")),
            percent=decimal_or_none(data.get("percent")),
            amount=decimal_or_none(data.get("amount")),
            default_percent=decimal_or_none(data.get("default_percent")),
        )


@dataclass(frozen=True)
class Targets:
    """Whom a broadcast reaches: every eligible account, some users', or some accounts."""

    all: bool = False
    user_ids: tuple[int, ...] = ()
    account_ids: tuple[int, ...] = ()


class TargetAccount(NamedTuple):
    """What a dispatch needs of a target account (an MT5Account row fits too)."""

    id: int
    user_id: int
    terminal: str


@dataclass(frozen=True)
class AccountSizing:
    """A target account's own copy settings, as its row holds them."""

    risk_percent: Decimal | None = None
    fixed_volume: Decimal | None = None
    volume_multiplier: Decimal | None = None
    max_volume: Decimal | None = None


@dataclass(frozen=True)
class RowJob:
    """Everything needed to execute one claimed row, read in one query when it was claimed."""

    row_id: int
    dispatch_id: int
    account_id: int
    leg: int
    order: TradeOrder
    sizing: Sizing
    account_settings: AccountSizing
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
    broadcast: bool = False  # a broadcast's open: only a subscription in force receives it
    follower: FollowerTerms | None = None  # the account's subscription (broadcasts only)

    @property
    def legs(self) -> int:
        return self.order.legs


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one claimed row; written back with ``store.record_outcomes``."""

    row_id: int
    status: str  # a RowStatus; pending gives the row back (e.g. shutdown)
    retcode: int | None = None
    error: str | None = None
    order_ticket: int | None = None
    deal_ticket: int | None = None
    position_ticket: int | None = None
    fill_price: Decimal | None = None
    fill_volume: Decimal | None = None
    latency_ms: int | None = None
    symbol: str | None = None
    volume: Decimal | None = None
    outcome_unknown: bool = False
    sibling_volumes: dict[int, Decimal] | None = field(default=None)  # leg -> volume when sized
    error_details: dict[str, Any] | None = None  # the broker's numbers behind a refusal
    closed_volume: Decimal | None = None  # a close: the lots it closed
    remaining_volume: Decimal | None = None  # a close: what the position still holds
    parent_row_id: int | None = None  # a close of an open row: that row gets closed_volume added
    warnings: list[str] | None = None  # what sizing changed of what was asked (deviations.py)
    created_at: datetime | None = None  # the row's creation, for the fan-out metric (not written)
    carries_legs: bool = False  # a netting carrier: its outcome goes to the other legs' rows too
    virtual_tp: bool = False  # this leg's TP is watched by the server, not held by the broker
    position_gone: bool = False  # an action found the open row's position closed at the broker
    # The pre-trade check found a protection limit crossed: recorded with the outcome
    # (ledger/protection.py), not written to the row.
    protection_breach: dict[str, Any] | None = None


SUCCEEDED_ROW_STATUSES = frozenset({"executed", "placed"})
NEUTRAL_ROW_STATUSES = frozenset({"skipped"})  # nothing to do: neither a success nor a failure


def summary_status(counts: Mapping[str, int]) -> str:
    """One word for a dispatch from its rows' counts by status (one of DISPATCH_STATUSES).

    ``completed`` when no row failed, expired or was cancelled (skipped rows had nothing to do);
    ``partial`` when some did and some succeeded.
    """
    total = sum(counts.values())
    if total == 0:
        return "completed"
    final = sum(n for s, n in counts.items() if s in FINAL_ROW_STATUSES)
    if final < total:
        return "pending" if counts.get("pending", 0) == total else "in_progress"
    succeeded = sum(n for s, n in counts.items() if s in SUCCEEDED_ROW_STATUSES)
    neutral = sum(n for s, n in counts.items() if s in NEUTRAL_ROW_STATUSES)
    if succeeded + neutral == total:
        return "completed"
    if succeeded:
        return "partial"
    for status in ("cancelled", "expired"):
        if counts.get(status, 0) + neutral == total:
            return status
    return "failed"
