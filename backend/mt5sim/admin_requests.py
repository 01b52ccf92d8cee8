"""Admin requests in a broker's file: their kinds and payloads, and how the owner applies them.

``admin_commands`` queues them (``flask mt5 sim-account``, ``set-quote``); the broker that owns
the file applies them with its own methods (``Broker.sync``) and writes the outcome back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from mt5sim.books import password_hash
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

    def remove_account(self, login: int) -> None: ...

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]: ...

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal, *, freeze: bool = ...) -> None: ...


# A set-quote moving a price further than this from its current quote is most likely a typo
# (XAUUSD.m 1 2 for 2350): it needs --force, since it moves the price for every account.
MAX_QUOTE_JUMP = Decimal("0.20")


def account_request(
    login: int, *, password: str, server: str, balance: Decimal, currency: str | None,
    leverage: int | None, netting: bool | None, reset: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """None for a setting not given: the broker's default for a new account, and for an
    existing one a setting nobody asked to change."""
    margin_mode = None
    if netting is not None:
        margin_mode = (
            c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
            if netting
            else c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
        )
    return {"login": login, "password": password, "server": server, "balance": str(balance),
            "currency": currency, "leverage": leverage, "margin_mode": margin_mode,
            "reset": reset}  # fmt: skip


def quote_request(
    symbol: str, bid: Decimal, ask: Decimal, *, freeze: bool, force: bool = False
) -> dict[str, Any]:
    return {"symbol": symbol, "bid": str(bid), "ask": str(ask), "freeze": freeze, "force": force}


def apply_request(broker: OwningBroker, kind: str, payload: dict[str, Any]) -> str:
    """Apply one request with the broker's own methods (its lock held); the text to report."""
    if kind == "account":
        return _account(broker, payload)
    if kind == "quote":
        return _quote(broker, payload)
    raise ValueError(f"unknown admin request kind {kind!r}")


def _account(broker: OwningBroker, payload: dict[str, Any]) -> str:
    login, balance = int(payload["login"]), Decimal(payload["balance"])
    existing = broker.accounts.get(login)
    if existing is not None and not payload.get("reset"):
        broker.fund(login, balance)
        funded = f"funded {login} with {balance}; balance {broker.accounts[login].balance}"
        ignored = _not_applied(existing, payload)
        if not ignored:
            return funded
        return (
            f"{funded}; {login} already exists, so these were not applied: "
            f"{'; '.join(ignored)} (--reset recreates it with them)"
        )
    if existing is not None:
        broker.remove_account(login)
    account = broker.create_account(
        login, payload["password"], payload["server"], balance=balance,
        currency=payload.get("currency"), leverage=_int_or_none(payload.get("leverage")),
        margin_mode=_int_or_none(payload.get("margin_mode")),
    )  # fmt: skip
    netting = account.margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING
    done = "recreated" if existing is not None else "created"
    removed = " (its orders, positions and deals were removed)" if existing is not None else ""
    return (
        f"{done} {login} on {account.server}: {account.balance} {account.currency}, "
        f"1:{account.leverage}, {'netting' if netting else 'hedging'}{removed}"
    )


def _not_applied(account: Account, payload: dict[str, Any]) -> list[str]:
    """The settings a request gave that differ from the existing account's (a top-up keeps
    the account as it is)."""
    wanted = {
        "--password": password_hash(account.login, payload["password"]) != account.password_hash,
        f"--server {payload['server']} (it is on {account.server})": (
            payload["server"] != account.server
        ),
        f"--currency {payload.get('currency')} (it holds {account.currency})": (
            payload.get("currency") not in (None, account.currency)
        ),
        f"--leverage {payload.get('leverage')} (it has 1:{account.leverage})": (
            payload.get("leverage") not in (None, account.leverage)
        ),
        f"--margin-mode (it is {_mode(account.margin_mode)})": (
            payload.get("margin_mode") not in (None, account.margin_mode)
        ),
    }
    return [option for option, differs in wanted.items() if differs]


def _mode(margin_mode: int) -> str:
    return "netting" if margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING else "hedging"


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _quote(broker: OwningBroker, payload: dict[str, Any]) -> str:
    symbol = str(payload["symbol"])
    if symbol not in broker.symbols:
        raise ValueError(f"unknown symbol {symbol}")
    bid, ask = Decimal(payload["bid"]), Decimal(payload["ask"])
    frozen = bool(payload.get("freeze"))
    was_bid, was_ask = broker.quote(symbol)
    moves = _moved_price(broker, symbol)
    jump = abs(bid - was_bid) / was_bid
    if jump > MAX_QUOTE_JUMP and not payload.get("force"):
        raise ValueError(
            f"{symbol} {bid}/{ask} is {jump:.0%} away from its quote {was_bid}/{was_ask}; it "
            f"would move {moves}. More than {MAX_QUOTE_JUMP:.0%} needs --force."
        )
    broker.set_quote(symbol, bid, ask, freeze=frozen)
    return (
        f"{symbol} {bid}/{ask} on sim://{broker.name}{' (frozen)' if frozen else ''}: moved "
        f"{moves} (it was {was_bid}/{was_ask})"
    )


def _moved_price(broker: OwningBroker, symbol: str) -> str:
    """Which price a quote of ``symbol`` sets: its price source, shared by other names."""
    source = broker.symbols[symbol].price_source
    sharing = sorted(n for n, s in broker.symbols.items() if s.price_source == source)
    return f"the price of {source} ({', '.join(sharing)}) for every account"
