"""The calculator: the use case behind POST /api/calculate, and the sizing the ledger uses.

``calculate`` turns a validated request into ``calculate_position`` inputs: with ``account_id``
from the account's live snapshot, its terminal's symbol spec and tick; otherwise from the given
account terms and a symbol spec given in full or taken from the built-in catalog. The sizing
steps themselves live in ``services/calculation/`` (pure Decimal, no I/O); their callers (the
ledger, the tests, the bench) import them from here, so that package's layout is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol

from extensions import DbSession
from models import User
from services.accounts_service import get_account
from services.calculation.conversion import (
    conversion_factor,
    symbol_conversion,
    tick_value_in_account,
)
from services.calculation.legs import reward_per_lot
from services.calculation.margin import margin_in_own_currency, margin_required, max_lots_by_margin
from services.calculation.position import (
    account_terms_from_snapshot,
    calculate_position,
    loss_per_lot,
    risk_money,
    size_for_account,
)
from services.calculation.price_grid import check_price_grid, named_prices
from services.calculation.result import OrderLeg, SizingResult
from services.calculation.terms import (
    AccountTerms,
    Costs,
    Policy,
    RiskBase,
    RiskSpec,
    Side,
    TradePlan,
)
from services.calculation.trade_geometry import SideAndEntry, resolve_side_and_entry
from services.calculation.volume import (
    apply_below_min_policy,
    clamp_to_volume_max,
    floor_to_step,
    lots_within_budget,
    split_across_take_profits,
)
from services.crypto import SecretBox
from services.mt5.catalog import CATALOG, catalog_spec, default_rates
from services.mt5.constants import SYMBOL_CALC_MODE_FOREX, SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE
from services.mt5.dto import CALC_MODE_NAMES, AccountRef, AccountSnapshot, SymbolSpec, Tick
from services.mt5_service import account_ref
from services.symbols_service import unknown_symbol

# What callers import: the use case, and the sizing steps and types of services/calculation/.
__all__ = [
    "AccountTerms",
    "Costs",
    "OrderLeg",
    "Policy",
    "RiskBase",
    "RiskSpec",
    "Side",
    "SideAndEntry",
    "SizingResult",
    "TradePlan",
    "account_terms_from_snapshot",
    "apply_below_min_policy",
    "calculate",
    "calculate_position",
    "check_price_grid",
    "clamp_to_volume_max",
    "conversion_factor",
    "floor_to_step",
    "loss_per_lot",
    "lots_within_budget",
    "margin_in_own_currency",
    "margin_required",
    "max_lots_by_margin",
    "named_prices",
    "resolve_side_and_entry",
    "reward_per_lot",
    "risk_money",
    "size_for_account",
    "split_across_take_profits",
    "symbol_conversion",
    "tick_value_in_account",
]

CALC_MODE_NUMBERS = {name: number for number, name in CALC_MODE_NAMES.items()}
FOREX_MODES = (SYMBOL_CALC_MODE_FOREX, SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE)


class Gateway(Protocol):
    """The part of ``MT5Gateway`` the calculator reads."""

    def account_snapshot(self, account: AccountRef) -> AccountSnapshot: ...
    def symbol_spec(self, account: AccountRef, symbol: str) -> SymbolSpec: ...
    def tick(self, account: AccountRef, symbol: str) -> Tick: ...


def calculate(
    *, session: DbSession, gateway: Gateway, box: SecretBox, user: User, request: Mapping[str, Any]
) -> dict[str, Any]:
    """Size the requested position; the wire form of ``SizingResult`` (decimal strings)."""
    if request.get("account_id") is not None:
        account = get_account(session=session, user=user, account_id=request["account_id"])
        result = _calculate_live(gateway, account_ref(account, box), request)
    else:
        result = _calculate_offline(request)
    return result.to_dict()


def _calculate_live(gateway: Gateway, ref: AccountRef, request: Mapping[str, Any]) -> SizingResult:
    terms = account_terms_from_snapshot(gateway.account_snapshot(ref))
    symbol = request["symbol"]
    spec = gateway.symbol_spec(ref, symbol) if isinstance(symbol, str) else spec_from_fields(symbol)
    trade = dict(request["trade"])
    check_trade_grid(spec, trade)
    if _order_type(trade) == "market" and trade.get("bid") is None and trade.get("ask") is None:
        tick = gateway.tick(ref, spec.name)
        # The terminal's floats come back as 2350.0; written on the symbol's digits they read
        # as the terminal displays them.
        on_grid = Decimal(1).scaleb(-spec.digits)
        trade.update(bid=tick.bid.quantize(on_grid), ask=tick.ask.quantize(on_grid))
    return _size(request, terms, spec, trade, dict(request.get("rates") or {}), [])


def _calculate_offline(request: Mapping[str, Any]) -> SizingResult:
    terms = account_terms_from_fields(request["account"])
    given_rates = request.get("rates")
    rates = default_rates() if given_rates is None else dict(given_rates)
    warnings: list[str] = []
    symbol = request["symbol"]
    spec = catalog_contract(symbol) if isinstance(symbol, str) else spec_from_fields(symbol)
    check_trade_grid(spec, request["trade"])
    if given_rates is None and _needs_conversion(spec, terms.currency):
        warnings.append(
            "No rates given: currencies were converted at the catalog's reference quotes, "
            "not live prices."
        )
    return _size(request, terms, spec, dict(request["trade"]), rates, warnings)


def check_trade_grid(spec: SymbolSpec, trade: Mapping[str, Any]) -> None:
    """The trade's own prices (entry, stop, take profits, a given bid/ask) on the tick grid."""
    check_price_grid(spec, named_prices(trade, ("entry", "stop_loss", "bid", "ask")))


def _needs_conversion(spec: SymbolSpec, currency: str) -> bool:
    # The US cent is the dollar in hundredths: no quote is involved.
    real = {"USC": "USD"}
    return len({real.get(c, c) for c in (spec.profit_currency, spec.margin_currency, currency)}) > 1


def _size(
    request: Mapping[str, Any],
    terms: AccountTerms,
    spec: SymbolSpec,
    trade: Mapping[str, Any],
    rates: Mapping[str, Decimal],
    warnings: list[str],
) -> SizingResult:
    risk, costs, policy = request["risk"], request.get("costs", {}), request.get("policy", {})
    result = calculate_position(
        account=terms,
        spec=spec,
        plan=trade_plan(trade),
        risk=RiskSpec(percent=risk.get("percent"), amount=risk.get("amount")),
        risk_base=request.get("risk_base", "balance"),
        costs=Costs(costs.get("commission_per_lot_per_side") or Decimal(0)),
        policy=Policy(
            below_min=policy.get("below_min", "reject"),
            cap_by_margin=policy.get("cap_by_margin", False),
        ),
        rates=rates,
    )
    return replace(result, warnings=[*result.warnings, *warnings]) if warnings else result


def _order_type(trade: Mapping[str, Any]) -> str:
    default = "pending" if trade.get("entry") is not None else "market"
    return str(trade.get("order_type") or default)


def trade_plan(trade: Mapping[str, Any]) -> TradePlan:
    """The request's ``trade`` object as a ``TradePlan``."""
    return TradePlan(
        stop_loss=trade["stop_loss"],
        side=trade.get("side"),
        order_type="market" if _order_type(trade) == "market" else "pending",
        entry=trade.get("entry"),
        bid=trade.get("bid"),
        ask=trade.get("ask"),
        take_profits=[(tp["price"], tp["share_percent"]) for tp in trade.get("take_profits") or []],
    )


def account_terms_from_fields(account: Mapping[str, Any]) -> AccountTerms:
    return AccountTerms(
        currency=account["currency"],
        balance=account["balance"],
        equity=account.get("equity"),
        free_margin=account.get("free_margin"),
        leverage=_or_default(account.get("leverage"), Decimal(100)),
        currency_digits=account["currency_digits"],
    )


def spec_from_fields(symbol: Mapping[str, Any]) -> SymbolSpec:
    """A symbol spec given in full; omitted point, tick size and currencies take their defaults."""
    calc_mode = CALC_MODE_NUMBERS[symbol["calc_mode"]]
    point = symbol.get("point") or Decimal(1).scaleb(-symbol["digits"])
    margin_default = (
        symbol["base_currency"] if calc_mode in FOREX_MODES else symbol["profit_currency"]
    )
    return SymbolSpec(
        name=symbol["name"],
        calc_mode=calc_mode,
        digits=symbol["digits"],
        point=point,
        tick_size=symbol.get("tick_size") or point,
        tick_value=symbol.get("tick_value") or Decimal(0),
        tick_value_loss=symbol.get("tick_value_loss"),
        tick_value_profit=symbol.get("tick_value_profit"),
        contract_size=symbol["contract_size"],
        base_currency=symbol["base_currency"],
        profit_currency=symbol["profit_currency"],
        margin_currency=symbol.get("margin_currency") or margin_default,
        volume_min=symbol["volume_min"],
        volume_step=symbol["volume_step"],
        volume_max=symbol["volume_max"],
        margin_rate=_or_default(symbol.get("margin_rate"), Decimal(1)),
        margin_initial=_or_default(symbol.get("margin_initial"), Decimal(0)),
        trade_stops_level=symbol["trade_stops_level"],
        trade_freeze_level=symbol["trade_freeze_level"],
        filling_mode=symbol["filling_mode"],
        trade_mode=symbol["trade_mode"],
        description=symbol["description"],
    )


def _or_default(value: Decimal | None, default: Decimal) -> Decimal:
    return default if value is None else value


def catalog_contract(name: str) -> SymbolSpec:
    """A catalog symbol's contract with no tick value, so sizing derives it from the rates.

    Sizing then converts the loss at the stop-loss price when the symbol is its own conversion
    pair (USDJPY on a USD account), as MT5 does; the catalog's tick value uses a fixed quote.
    """
    symbol = CATALOG.get(name)
    if symbol is None:
        raise unknown_symbol(name, status_code=422)
    spec = catalog_spec(name, account_currency=symbol.profit_currency, rates={})
    assert spec is not None  # the name is in CATALOG
    return replace(spec, tick_value=Decimal(0), tick_value_loss=None, tick_value_profit=None)
