"""What a signal asks for: open a trade (``OpenSignal``) or follow one up (``FollowUp``).

The text grammar and the TradingView JSON both end here; the signal service turns an open into
a broadcast and a follow-up into trade-management actions on the signals it names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from errors import AppError
from ledger.actions import TradeAction
from ledger.requests import BroadcastRequest
from ledger.types import Sizing, SizingMode, Targets, TradeOrder, text_or_none

# A signal without RISK or LOT is sized by each account's own risk_percent, or this percent.
DEFAULT_RISK_PERCENT = Decimal(1)
# More than this per trade is a typo ("RISK 50" for 0.50 %) far more often than an intent.
MAX_RISK_PERCENT = Decimal(10)


class SignalNotUnderstood(AppError):
    """A 422 naming the word the parser stopped at (``details.word``, its 1-based ``position``
    among the words, and what it expected there)."""

    status_code = 422
    code = "signal_not_understood"

    def __init__(self, reason: str, *, word: str, position: int, expected: str = "") -> None:
        shown = f'"{word}"' if word else "the end of the text"
        super().__init__(
            f"Stopped at {shown}: {reason}",
            details={"word": word, "position": position, "reason": reason, "expected": expected},
        )


@dataclass(frozen=True)
class OpenSignal:
    """A new trade. ``entry_reference``: the price a market signal quoted (``BUY NOW @2350``),
    which checks the stops' sides but is never sent (a market order fills at the market).
    ``request``: a whole ``broadcast_orders`` body, when the signal was one."""

    order: TradeOrder
    entry_reference: Decimal | None = None
    request: BroadcastRequest | None = None
    default_percent: Decimal = DEFAULT_RISK_PERCENT

    @property
    def sizing(self) -> Sizing:
        """The signal's LOT or RISK; neither: each account's own risk (or ``default_percent``)."""
        if self.request is not None and self.request.sizing is not None:
            return self.request.sizing
        if self.order.volume is None and self.order.risk is None:
            return Sizing(SizingMode.ACCOUNT_RISK, default_percent=self.default_percent)
        return Sizing.for_order(self.order)

    def broadcast(self) -> BroadcastRequest:
        """The broadcast_orders request: every eligible account, each sized for itself."""
        if self.request is not None:
            return self.request
        return BroadcastRequest(targets=Targets(all=True), order=self.order, sizing=self.sizing)

    def check(self) -> None:
        """The order's own rules, with a market signal's quoted price standing in for its entry."""
        order = self.order
        if order.is_market and self.entry_reference is not None:
            order = replace(order, price=self.entry_reference)
        order.check()
        self.sizing.check(self.order)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "open",
            "order": self.order.to_json(),
            "entry_reference": text_or_none(self.entry_reference),
            "sizing": self.sizing.to_json(),
        }


class FollowUpScope(StrEnum):
    LATEST = "latest"  # the provider's latest signal that still has something open
    SIGNAL = "signal"  # the signal named with #<id>
    ALL = "all"  # every open signal of the provider (CLOSE ALL [symbol], CANCEL ALL)


MAX_FOLLOW_UP_ACTIONS = 3  # "CLOSE HALF AND SL TO BE": done in this order


@dataclass(frozen=True)
class FollowUp:
    """A follow-up on earlier signals: its trade-management actions, in the order given, and
    whom they address (each becomes one action dispatch per signal addressed)."""

    actions: tuple[TradeAction, ...]
    scope: FollowUpScope = FollowUpScope.LATEST
    signal_id: int | None = None
    symbol: str | None = None  # ALL: only the signals of this symbol

    @property
    def on_orders_only(self) -> bool:
        """Every action acts on pending orders (CANCEL): only signals with some look open."""
        return all(action.kind.on_orders for action in self.actions)

    def check(self) -> None:
        for action in self.actions:
            action.check()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "follow_up",
            "actions": [action.to_json() for action in self.actions],
            "scope": self.scope.value,
            "signal_id": self.signal_id,
            "symbol": self.symbol,
        }


SignalCommand = OpenSignal | FollowUp
