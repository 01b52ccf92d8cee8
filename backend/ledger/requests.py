"""What the schemas load a trade request into: the order, whom it reaches, how long it lives."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ledger.automation import Automation
from ledger.types import Sizing, Targets, TradeOrder


@dataclass(frozen=True)
class SendOrdersRequest:
    order: TradeOrder
    account_ids: tuple[int, ...]
    expires_in_s: int = 30
    wait_s: Decimal | None = None  # how long this caller waits; not part of the order
    automation: Automation | None = None
    dry_run: bool = False  # preview only: nothing is created or sent


@dataclass(frozen=True)
class BroadcastRequest:
    targets: Targets
    order: TradeOrder
    sizing: Sizing | None = None  # None: the order's own volume or risk
    expires_in_s: int = 60
    automation: Automation | None = None
    dry_run: bool = False  # preview only: nothing is created or sent
