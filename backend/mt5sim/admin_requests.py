"""Admin requests in a broker's file: their kinds and payloads, and how the owner applies them.

``admin_commands`` queues them (``flask mt5 sim-account``, ``set-quote``); the broker that owns
the file applies them with its own methods (``Broker.sync``) and writes the outcome back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from mt5sim.state import Account, Deal
from services.mt5 import constants as c
from services.mt5.catalog import CatalogSymbol

KINDS = ("account", "quote")


class OwningBroker(Protocol):
    """What applying a request takes of the broker that owns the file (a ``broker.Broker``).

    Named here rather than imported, as the broker imports this module to apply its requests.
    """

    name: str
    accounts: dict[int, Account]
    symbols: dict[str, CatalogSymbol]

    def create_account(
        self, login: int, password: str, server: str, *, balance: Decimal | None = ...,
        currency: str | None = ..., leverage: int | None = ..., margin_mode: int | None = ...,
        name: str | None = ...,
    ) -> Account: ...  # fmt: skip

    def fund(self, login: int, amount: Decimal, comment: str = ...) -> Deal: ...

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal, *, freeze: bool = ...) -> None: ...


def account_request(
    login: int, *, password: str, server: str, balance: Decimal, currency: str | None,
    leverage: int, netting: bool,
) -> dict[str, Any]:  # fmt: skip
    margin_mode = (
        c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING if netting else c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
    )
    return {"login": login, "password": password, "server": server, "balance": str(balance),
            "currency": currency, "leverage": leverage, "margin_mode": margin_mode}  # fmt: skip


def quote_request(symbol: str, bid: Decimal, ask: Decimal, *, freeze: bool) -> dict[str, Any]:
    return {"symbol": symbol, "bid": str(bid), "ask": str(ask), "freeze": freeze}


def apply_request(broker: OwningBroker, kind: str, payload: dict[str, Any]) -> str:
    """Apply one request with the broker's own methods (its lock held); the text to report."""
    if kind == "account":
        return _account(broker, payload)
    if kind == "quote":
        return _quote(broker, payload)
    raise ValueError(f"unknown admin request kind {kind!r}")


def _account(broker: OwningBroker, payload: dict[str, Any]) -> str:
    login, balance = int(payload["login"]), Decimal(payload["balance"])
    if login in broker.accounts:
        broker.fund(login, balance)
        return f"funded {login} with {balance}; balance {broker.accounts[login].balance}"
    account = broker.create_account(
        login, payload["password"], payload["server"], balance=balance,
        currency=payload.get("currency"), leverage=int(payload["leverage"]),
        margin_mode=int(payload["margin_mode"]),
    )  # fmt: skip
    netting = account.margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
    return (
        f"created {login} on {account.server}: {account.balance} {account.currency}, "
        f"1:{account.leverage}, {'netting' if netting else 'hedging'}"
    )


def _quote(broker: OwningBroker, payload: dict[str, Any]) -> str:
    symbol = str(payload["symbol"])
    if symbol not in broker.symbols:
        raise ValueError(f"unknown symbol {symbol}")
    bid, ask = Decimal(payload["bid"]), Decimal(payload["ask"])
    frozen = bool(payload.get("freeze"))
    broker.set_quote(symbol, bid, ask, freeze=frozen)
    return f"{symbol} {bid}/{ask} on sim://{broker.name}" + (" (frozen)" if frozen else "")
