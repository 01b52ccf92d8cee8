"""The terminal's read functions for orders, positions and history (a ``SimTerminal`` mixin)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from mt5sim import rendering
from mt5sim.broker import Broker
from mt5sim.ipc import api_call
from mt5sim.state import Account, Deal, Order
from services.mt5 import constants as c

FAR_FUTURE_MSC = 2**62


def _select(
    items: Iterable[Any], *, symbol: str | None, group: str | None, ticket: int | None
) -> list[Any]:
    return [
        item
        for item in items
        if (symbol is None or item.symbol == symbol)
        and rendering.matches_group(item.symbol, group)
        and (ticket is None or item.ticket == ticket)
    ]


class TradeQueries:
    """``orders_*``, ``positions_*`` and ``history_*`` of the MetaTrader5 API."""

    broker: Broker

    def _account(self) -> Account | None:  # provided by SimTerminal
        raise NotImplementedError

    def _live_orders(self, account: Account) -> list[Order]:
        return [
            o for o in self.broker.orders[account.login].values() if o.state == c.ORDER_STATE_PLACED
        ]

    @api_call
    def orders_total(self) -> int | None:
        account = self._account()
        return None if account is None else len(self._live_orders(account))

    @api_call
    def orders_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[Any, ...] | None:
        account = self._account()
        if account is None:
            return None
        with self.broker.lock:
            self.broker.catch_up()
            chosen = _select(self._live_orders(account), symbol=symbol, group=group, ticket=ticket)
            return tuple(rendering.order(self.broker, o) for o in chosen)

    @api_call
    def positions_total(self) -> int | None:
        account = self._account()
        return None if account is None else len(self.broker.positions[account.login])

    @api_call
    def positions_get(
        self, symbol: str | None = None, group: str | None = None, ticket: int | None = None
    ) -> tuple[Any, ...] | None:
        account = self._account()
        if account is None:
            return None
        with self.broker.lock:
            self.broker.catch_up()
            positions = list(self.broker.positions[account.login].values())
            chosen = _select(positions, symbol=symbol, group=group, ticket=ticket)
            return tuple(rendering.position(self.broker, account, p) for p in chosen)

    def _history_orders(
        self, account: Account, date_from: Any, date_to: Any, group: str | None,
        ticket: int | None, position: int | None,
    ) -> list[Order]:  # fmt: skip
        if ticket is not None and not position:  # one order: a dict look-up, not a history scan
            with self.broker.lock:
                order = self.broker.orders[account.login].get(ticket)
            return [order] if order is not None and order.state != c.ORDER_STATE_PLACED else []
        low = 0 if date_from is None else rendering.to_msc(date_from)
        high = FAR_FUTURE_MSC if date_to is None else rendering.to_msc(date_to)
        with self.broker.lock:
            orders = [
                o
                for o in self.broker.orders[account.login].values()
                if o.state != c.ORDER_STATE_PLACED
            ]
        if ticket is not None or position is not None:
            return [
                o for o in orders if o.ticket == ticket or (position and o.position_id == position)
            ]
        return [
            o
            for o in orders
            if low <= o.time_setup_msc <= high and rendering.matches_group(o.symbol, group)
        ]

    def _history_deals(
        self, account: Account, date_from: Any, date_to: Any, group: str | None,
        ticket: int | None, position: int | None,
    ) -> list[Deal]:  # fmt: skip
        if ticket is not None and not position:  # deals are kept in ticket order: bisect
            with self.broker.lock:
                deals = self.broker.deals[account.login]
                at = bisect.bisect_left(deals, ticket, key=lambda d: d.ticket)
                return [deals[at]] if at < len(deals) and deals[at].ticket == ticket else []
        low = 0 if date_from is None else rendering.to_msc(date_from)
        high = FAR_FUTURE_MSC if date_to is None else rendering.to_msc(date_to)
        with self.broker.lock:
            deals = list(self.broker.deals[account.login])
        if ticket is not None or position is not None:
            return [
                d for d in deals if d.ticket == ticket or (position and d.position_id == position)
            ]
        return [
            d
            for d in deals
            if low <= d.time_msc <= high and rendering.matches_group(d.symbol, group or "")
        ]

    @api_call
    def history_orders_total(self, date_from: Any, date_to: Any) -> int | None:
        account = self._account()
        if account is None:
            return None
        return len(self._history_orders(account, date_from, date_to, None, None, None))

    @api_call
    def history_orders_get(
        self, date_from: Any = None, date_to: Any = None, group: str | None = None,
        ticket: int | None = None, position: int | None = None,
    ) -> tuple[Any, ...] | None:  # fmt: skip
        account = self._account()
        if account is None:
            return None
        chosen = self._history_orders(account, date_from, date_to, group, ticket, position)
        with self.broker.lock:
            return tuple(rendering.order(self.broker, o) for o in chosen)

    @api_call
    def history_deals_total(self, date_from: Any, date_to: Any) -> int | None:
        account = self._account()
        if account is None:
            return None
        return len(self._history_deals(account, date_from, date_to, None, None, None))

    @api_call
    def history_deals_get(
        self, date_from: Any = None, date_to: Any = None, group: str | None = None,
        ticket: int | None = None, position: int | None = None,
    ) -> tuple[Any, ...] | None:  # fmt: skip
        account = self._account()
        if account is None:
            return None
        return tuple(
            rendering.deal(d)
            for d in self._history_deals(account, date_from, date_to, group, ticket, position)
        )
