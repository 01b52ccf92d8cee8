"""``SimTerminal``: a terminal session on a ``Broker``, the MetaTrader5 functions as methods."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from mt5sim import calc, rendering, trading
from mt5sim import records as r
from mt5sim.broker import Broker
from mt5sim.checks import as_decimal, parse_request
from mt5sim.flavours import flavour_for_server
from mt5sim.ipc import NOT_CONNECTED, NOT_LOGGED_IN, VERSION, api_call
from mt5sim.queries import TradeQueries
from mt5sim.state import Account
from services.mt5 import constants as c


class SimTerminal(TradeQueries):
    """A terminal session: ``initialize``/``login`` attach it to one account of the broker.

    Calls on one terminal are meant to be serialised by the caller (as with a real terminal);
    different terminals run in parallel and meet only inside the broker's short lock.
    """

    def __init__(
        self, broker: Broker, *, latency_ms: int | None = None, sleeps: bool = True
    ) -> None:
        self.broker = broker
        self.latency_ms = broker.latency_ms if latency_ms is None else latency_ms
        # False: whoever calls this terminal waits the round trip out before each call (the
        # simulator process queues its calls: services/mt5/sim_server.py).
        self.sleeps = sleeps
        self._initialized = False
        self._login: int | None = None
        self._server: str | None = None
        self._last_error: tuple[int, str] = (c.RES_S_OK, "Success")

    def _fail(self, error: tuple[int, str], value: Any = None) -> Any:
        self._last_error = error
        return value

    def _account(self) -> Account | None:
        """The logged-in account, or None with last_error set."""
        if not self._initialized:
            return self._fail(NOT_CONNECTED)
        if self._login is None:
            return self._fail(NOT_LOGGED_IN)
        return self.broker.accounts[self._login]

    def _visible(self) -> tuple[str, ...]:
        if self._login is not None:
            return self.broker.flavour_of(self._login).symbol_names
        return flavour_for_server(self._server).symbol_names

    def _currency(self) -> str:
        if self._login is not None:
            return self.broker.accounts[self._login].currency
        return flavour_for_server(self._server).currency

    # -- connection -----------------------------------------------------------------------

    @api_call
    def initialize(
        self,
        path: str | None = None,
        *,
        login: int | None = None,
        password: str | None = None,
        server: str | None = None,
        timeout: int | None = None,
        portable: bool = False,
    ) -> bool:
        self._initialized = True
        self._server = server or self._server
        if login is None:
            return True
        return self._authorize(login, password or "", server)

    @api_call
    def login(
        self, login: int, password: str = "", server: str | None = None, timeout: int = 60000
    ) -> bool:
        if not self._initialized:
            return bool(self._fail(NOT_CONNECTED, False))
        return self._authorize(login, password, server)

    def _authorize(self, login: int, password: str, server: str | None) -> bool:
        if not isinstance(login, int) or isinstance(login, bool):
            return bool(self._fail((c.RES_E_INVALID_PARAMS, 'Invalid "login" argument'), False))
        known = self.broker.accounts.get(login)
        server = server or (known.server if known else None) or self._server or "Sim-Demo"
        if not self.broker.authenticate(login, password, server):
            self._login = None
            return bool(self._fail((c.RES_E_AUTH_FAILED, "Authorization failed"), False))
        self._login, self._server = login, server
        return True

    def shutdown(self) -> None:
        self._initialized, self._login = False, None

    def version(self) -> tuple[int, int, str] | None:
        if not self._initialized:
            return self._fail(NOT_CONNECTED)
        return VERSION

    def last_error(self) -> tuple[int, str]:
        return self._last_error

    @api_call
    def terminal_info(self) -> Any:
        if not self._initialized:
            return self._fail(NOT_CONNECTED)
        account = self.broker.accounts.get(self._login) if self._login is not None else None
        with self.broker.lock:
            return rendering.terminal_info(self.broker, account, True, self.latency_ms * 1000)

    @api_call
    def account_info(self) -> Any:
        account = self._account()
        if account is None:
            return None
        with self.broker.lock:
            self.broker.catch_up()
            return rendering.account_info(self.broker, account)

    # -- symbols --------------------------------------------------------------------------

    @api_call
    def symbols_total(self) -> int | None:
        if not self._initialized:
            return self._fail(NOT_CONNECTED)
        return len(self._visible())

    @api_call
    def symbols_get(self, group: str | None = None) -> tuple[Any, ...] | None:
        if not self._initialized:
            return self._fail(NOT_CONNECTED)
        names = [n for n in self._visible() if rendering.matches_group(n, group)]
        with self.broker.lock:
            self.broker.catch_up()
            return tuple(
                rendering.symbol_info(self.broker, self.broker.symbols[n], self._currency())
                for n in names
            )

    @api_call
    def symbol_info(self, symbol: str) -> Any:
        if not self._initialized:
            return self._fail(NOT_CONNECTED)
        if symbol not in self._visible():
            return self._fail((c.RES_E_NOT_FOUND, f"Symbol {symbol} not found"))
        with self.broker.lock:
            self.broker.catch_up()
            return rendering.symbol_info(self.broker, self.broker.symbols[symbol], self._currency())

    @api_call
    def symbol_info_tick(self, symbol: str) -> Any:
        if not self._initialized:
            return self._fail(NOT_CONNECTED)
        if symbol not in self._visible():
            return self._fail((c.RES_E_NOT_FOUND, f"Symbol {symbol} not found"))
        with self.broker.lock:
            self.broker.catch_up()
            return rendering.tick(self.broker, self.broker.symbols[symbol])

    @api_call
    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        if not self._initialized:
            return bool(self._fail(NOT_CONNECTED, False))
        if symbol not in self._visible():
            return bool(self._fail((c.RES_E_NOT_FOUND, f"Symbol {symbol} not found"), False))
        return True

    # -- trading --------------------------------------------------------------------------

    def _parsed(self, request: Any) -> Any:
        # The real C extension wants a real dict; an RPyC netref (or any other mapping) fails.
        if not issubclass(type(request), dict):
            return self._fail((c.RES_E_INVALID_PARAMS, "Unnamed arguments not allowed"))
        try:
            return parse_request(request)
        except (TypeError, ValueError, InvalidOperation) as exc:
            return self._fail((c.RES_E_INVALID_PARAMS, str(exc)))

    @api_call
    def order_send(self, request: Any) -> Any:
        account = self._account()
        if account is None:
            return None
        if not account.trade_allowed:
            return self._fail((c.RES_E_AUTO_TRADING_DISABLED, "AutoTrading disabled by client"))
        req = self._parsed(request)
        if req is None:
            return None
        outcome = trading.send(self.broker, account.login, req)
        return r.OrderSendResult(
            retcode=outcome.retcode, deal=outcome.deal, order=outcome.order,
            volume=float(outcome.volume), price=float(outcome.price), bid=float(outcome.bid),
            ask=float(outcome.ask), comment=outcome.comment,
            request_id=self.broker.next_request_id(), retcode_external=0,
            request=r.TradeRequest(**req.echo()),
        )  # fmt: skip

    @api_call
    def order_check(self, request: Any) -> Any:
        account = self._account()
        if account is None:
            return None
        req = self._parsed(request)
        if req is None:
            return None
        result = trading.check(self.broker, account.login, req)
        figures, margin = result.metrics, result.margin
        free = figures.equity - margin
        level = calc.money(figures.equity / margin * 100) if margin else Decimal(0)
        return r.OrderCheckResult(
            retcode=result.retcode, balance=float(figures.balance),
            equity=float(figures.equity), profit=float(figures.profit), margin=float(margin),
            margin_free=float(free), margin_level=float(level), comment=result.comment,
            request=r.TradeRequest(**req.echo()),
        )  # fmt: skip

    def _calc_args(self, symbol: str, values: Iterable[Any]) -> Any:
        account = self._account()
        if account is None:
            return None
        if symbol not in self._visible():
            return self._fail((c.RES_E_NOT_FOUND, f"Symbol {symbol} not found"))
        try:
            return account, self.broker.symbols[symbol], [as_decimal(v) for v in values]
        except (TypeError, ValueError, InvalidOperation):
            return self._fail((c.RES_E_INVALID_PARAMS, "Invalid arguments"))

    @api_call
    def order_calc_margin(self, action: int, symbol: str, volume: float, price: float) -> Any:
        args = self._calc_args(symbol, (volume, price))
        if args is None:
            return None
        account, contract, (lots, at_price) = args
        with self.broker.lock:
            amount = calc.margin(
                contract, lots, at_price, leverage=account.leverage,
                account_currency=account.currency, rates=self.broker.rates(),
            )  # fmt: skip
        return float(amount)

    @api_call
    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float
    ) -> Any:
        args = self._calc_args(symbol, (volume, price_open, price_close))
        if args is None:
            return None
        account, contract, (lots, opened, closed) = args
        with self.broker.lock:
            amount = calc.profit(
                contract, action == c.ORDER_TYPE_BUY, lots, opened, closed,
                account_currency=account.currency, rates=self.broker.rates(),
            )  # fmt: skip
        return float(amount)
