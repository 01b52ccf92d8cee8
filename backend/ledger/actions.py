"""Follow-ups on open trades: the typed action a dispatch of kind ``action`` carries, its job.

An action is itself a dispatch (``parent_id`` names the dispatch it follows up, when it does),
with one target row per (account, position or order) it acts on. Its rows travel the same
ledger as opens: claimed, tagged, reconciled, recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, Literal, NamedTuple

from ledger.types import decimal_or_none, invalid, text_or_none
from services.mt5.dto import AccountRef

ACTION_EXPIRY_S = 10 * 365 * 86_400  # closes and stop moves do not go stale unless asked to


class ActionKind(StrEnum):
    MODIFY = "modify"  # a position's stop loss / take profit
    BREAKEVEN = "breakeven"  # a position's stop loss to its open price (plus an offset)
    CLOSE = "close"  # a position, in whole or in part
    MODIFY_ORDER = "modify_order"  # a pending order's price, stops or expiration
    CANCEL = "cancel"  # a pending order

    @property
    def on_orders(self) -> bool:
        return self in (ActionKind.MODIFY_ORDER, ActionKind.CANCEL)


class Keep(Enum):
    """An omitted field: the position or order keeps its current value."""

    KEEP = "keep"


KEEP = Keep.KEEP
PriceChange = Decimal | Keep | None  # a new price, None to remove it, KEEP to leave it


def _change_in(data: Mapping[str, Any], name: str) -> PriceChange:
    if name not in data:
        return KEEP
    return decimal_or_none(data[name])


@dataclass(frozen=True)
class TradeAction:
    """What to do to each position or order a target row names."""

    kind: ActionKind
    stop_loss: PriceChange = KEEP
    take_profit: PriceChange = KEEP
    price: PriceChange = KEEP  # pending orders: the new entry price
    expiration: datetime | Keep | None = KEEP  # pending orders: None = good till cancelled
    offset_points: int = 0  # breakeven: this many points in the trade's favour
    volume: Decimal | None = None  # close: this many lots of each position
    percent: Decimal | None = None  # close: this share of each position
    legs: tuple[int, ...] = ()  # follow-ups: only these take-profit legs (1-based); () = all
    symbol: str | None = None  # close_all: only this symbol
    side: Literal["buy", "sell"] | None = None  # close_all: only this side
    only_tighter: bool = False  # modify: never loosen a stop (a trailing stop's move)

    def prices(self) -> dict[str, Decimal | None]:
        """The prices it sets, by field name (for the tick-grid check)."""
        named = {"stop_loss": self.stop_loss, "take_profit": self.take_profit, "price": self.price}
        return {name: value for name, value in named.items() if isinstance(value, Decimal)}

    @property
    def closes_all(self) -> bool:
        return self.kind is ActionKind.CLOSE and self.volume is None and self.percent is None

    def check(self) -> None:
        """Rules a schema cannot state."""
        if self.kind is ActionKind.CLOSE and self.volume is not None and self.percent is not None:
            raise invalid("invalid_close", "Give volume or percent, not both.", "volume")
        if self.kind is ActionKind.MODIFY and self.stop_loss is KEEP and self.take_profit is KEEP:
            raise invalid("nothing_to_modify", "Give stop_loss and/or take_profit.", "stop_loss")
        if self.kind is ActionKind.MODIFY_ORDER and all(
            change is KEEP
            for change in (self.price, self.stop_loss, self.take_profit, self.expiration)
        ):
            raise invalid(
                "nothing_to_modify", "Give price, stop_loss, take_profit or expiration.", "price"
            )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"action": self.kind.value}
        for name in ("stop_loss", "take_profit", "price"):
            change = getattr(self, name)
            if change is not KEEP:
                data[name] = text_or_none(change)
        if self.expiration is not KEEP:
            data["expiration"] = self.expiration.isoformat() if self.expiration else None
        if self.offset_points:
            data["offset_points"] = self.offset_points
        for name in ("volume", "percent"):
            if getattr(self, name) is not None:
                data[name] = text_or_none(getattr(self, name))
        if self.legs:
            data["legs"] = list(self.legs)
        for name in ("symbol", "side"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        if self.only_tighter:
            data["only_tighter"] = True
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TradeAction:
        expiration: datetime | Keep | None = KEEP
        if "expiration" in data:
            raw = data["expiration"]
            expiration = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
            if expiration is not None and expiration.tzinfo is None:
                expiration = expiration.replace(tzinfo=UTC)  # naive times are UTC
        return cls(
            kind=ActionKind(data["action"]),
            stop_loss=_change_in(data, "stop_loss"),
            take_profit=_change_in(data, "take_profit"),
            price=_change_in(data, "price"),
            expiration=expiration,
            offset_points=int(data.get("offset_points") or 0),
            volume=decimal_or_none(data.get("volume")),
            percent=decimal_or_none(data.get("percent")),
            legs=tuple(data.get("legs") or ()),
            symbol=data.get("symbol"),
            side=data.get("side"),
            only_tighter=bool(data.get("only_tighter")),
        )


@dataclass(frozen=True)
class ActionJob:
    """One claimed row of an action: the action, the ticket it names, and what its open left."""

    row_id: int
    dispatch_id: int
    account_id: int
    leg: int
    action: TradeAction
    ticket: int  # the position (or, for order actions, the pending order) acted on
    magic: int
    tag: str
    created_at: datetime
    expires_at: datetime
    account: AccountRef | None
    # The open row this follows up, when it does: on a netting account several legs share one
    # position, so a close never takes more than this leg put on and has not closed yet.
    leg_open_volume: Decimal | None = None
    parent_row_id: int | None = None
    open_symbol: str | None = None  # the open row's symbol (the broker's name) and side
    open_side: str | None = None
    from_pending_order: bool = False  # the ticket is the open's order: find its position
    outcome_unknown: bool = False
    cancelled: bool = False
    account_problem: str | None = None


class ActionTarget(NamedTuple):
    """One row of an action: an account and the position or order it acts on."""

    account_id: int
    user_id: int
    terminal: str
    leg: int  # the open's leg it follows up (or a running number on one account)
    ticket: int
    parent_row_id: int | None = None


def legs_wanted(action: TradeAction, leg: int) -> bool:
    """The action's ``legs`` are 1-based take-profit legs; none given means every leg."""
    return not action.legs or leg + 1 in action.legs
