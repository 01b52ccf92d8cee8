"""The broker's records: accounts, orders, positions and deals, Decimal for every amount."""

from __future__ import annotations

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
