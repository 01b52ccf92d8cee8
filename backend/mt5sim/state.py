"""The broker's records: accounts, orders, positions and deals, Decimal for every amount."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass
class Account:
    login: int
    password_hash: str
    server: str
    name: str
    currency: str
    leverage: int
    margin_mode: int
    balance: Decimal
    trade_allowed: bool = True  # False: the terminal's AutoTrading is off for this account
    created_msc: int = 0
    # Charged on every deal, in and out, in the account currency (brokers quote it per side).
    commission_per_lot: Decimal = ZERO


@dataclass
class Order:
    ticket: int
    login: int
    symbol: str
    type: int
    state: int
    volume_initial: Decimal
    volume_current: Decimal
    price_open: Decimal
    sl: Decimal
    tp: Decimal
    magic: int
    comment: str
    type_filling: int
    type_time: int
    position_id: int
    time_setup_msc: int
    time_done_msc: int = 0
    reason: int = 3  # ORDER_REASON_EXPERT: placed through the API
    time_expiration: int = 0  # seconds; 0 = good till cancelled


@dataclass
class Position:
    ticket: int
    login: int
    symbol: str
    type: int
    volume: Decimal
    price_open: Decimal
    sl: Decimal
    tp: Decimal
    magic: int
    comment: str
    time_msc: int
    time_update_msc: int


@dataclass
class Deal:
    ticket: int
    login: int
    order: int
    symbol: str
    type: int
    entry: int
    volume: Decimal
    price: Decimal
    profit: Decimal
    magic: int
    comment: str
    position_id: int
    time_msc: int
    reason: int = 3
    commission: Decimal = ZERO  # negative: what the deal cost


def aggregate_positions(positions: Iterable[Position]) -> list[Position]:
    """One stand-in position per (symbol, side) at the volume-weighted open price.

    Profit and margin are linear in volume x open price within a symbol and side, so the account
    figures cost one calculation per group, not per position (1000 positions on one account stay
    cheap); totals may differ from the sum of per-position roundings by a cent or so.
    """
    groups: dict[tuple[str, int], tuple[Decimal, Decimal]] = {}
    for p in positions:
        volume, weighted = groups.get((p.symbol, p.type), (ZERO, ZERO))
        groups[(p.symbol, p.type)] = (volume + p.volume, weighted + p.volume * p.price_open)
    return [
        Position(0, 0, symbol, side, volume, weighted / volume, ZERO, ZERO, 0, "", 0, 0)
        for (symbol, side), (volume, weighted) in groups.items()
        if volume
    ]
