"""The signal text grammar: a table of real-world signal texts (gold and FX, Telegram and
TradingView styles, emoji and line breaks) and what each is read as, plus properties over
random text (it never crashes: always a command or a 422 naming where it stopped)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errors import AppError
from ledger.actions import ActionKind
from services.signals.commands import FollowUp, FollowUpScope, OpenSignal, SignalNotUnderstood
from services.signals.grammar import parse, tokenize
from services.signals.symbols import signal_symbol


def open_(
    symbol: str,
    side: str,
    *,
    type_: str = "market",
    price: str | None = None,
    ref: str | None = None,
    sl: str | None = None,
    tps: tuple[str, ...] = (),
    risk: str | None = None,
    lot: str | None = None,
) -> dict[str, Any]:
    return {
        "symbol": symbol, "side": side, "order_type": type_, "price": price, "ref": ref,
        "sl": sl, "tps": tps, "risk": risk, "lot": lot,
    }  # fmt: skip


def follow(
    action: dict[str, Any] | list[dict[str, Any]], scope: str = "latest", **extra: Any
) -> dict[str, Any]:
    actions = action if isinstance(action, list) else [action]
    return {"actions": actions, "scope": scope, "signal_id": None, "symbol": None, **extra}


def stops(word: str) -> dict[str, Any]:
    return {"error": word}


TABLE: list[tuple[str, dict[str, Any]]] = [
    # --- gold opens, Telegram style
    ("XAUUSD BUY NOW @2350 SL 2340 TP1 2355 TP2 2360",
     open_("XAUUSD", "buy", ref="2350", sl="2340", tps=("2355", "2360"))),
    ("🟢 GOLD BUY NOW 2350\nSL: 2340\nTP1: 2355\nTP2: 2360\nTP3: 2370",
     open_("XAUUSD", "buy", ref="2350", sl="2340", tps=("2355", "2360", "2370"))),
    ("🔴 XAUUSD SELL @ 2351.50\n❌ SL 2358\n✅ TP 2348\n✅ TP 2345",
     open_("XAUUSD", "sell", ref="2351.50", sl="2358", tps=("2348", "2345"))),
    ("Gold sell now 2351 - 2354\nsl 2358\ntp 2345",
     open_("XAUUSD", "sell", ref="2351", sl="2358", tps=("2345",))),
    ("🔥🔥 BUY GOLD 2350 🔥🔥 SL 2340 ✅ TP 2360 ✅",
     open_("XAUUSD", "buy", ref="2350", sl="2340", tps=("2360",))),
    ("XAUUSD.m BUY 2350 SL 2340 TP 2360",
     open_("XAUUSD", "buy", ref="2350", sl="2340", tps=("2360",))),
    ("xauusdm sell now sl 2360 tp 2340 lot 0.05",
     open_("XAUUSD", "sell", sl="2360", tps=("2340",), lot="0.05")),
    ("BUY LIMIT XAUUSD 2345 SL 2335 TP 2360 RISK 1%",
     open_("XAUUSD", "buy", type_="limit", price="2345", sl="2335", tps=("2360",), risk="1")),
    ("XAUUSD SELL STOP 2330 SL 2340 TP1 2320 TP2 2310",
     open_("XAUUSD", "sell", type_="stop", price="2330", sl="2340", tps=("2320", "2310"))),
    ("GOLD BUYLIMIT @ 2341.5\nStop Loss: 2335\nTake Profit: 2350",
     open_("XAUUSD", "buy", type_="limit", price="2341.5", sl="2335", tps=("2350",))),
    ("Sell_Stop XAU/USD 2,330.50 SL 2,340 TP 2,320",
     open_("XAUUSD", "sell", type_="stop", price="2330.50", sl="2340", tps=("2320",))),
    ("XAUUSD LONG @2350 S/L 2340 T/P 2365 Risk: 0.5 %",
     open_("XAUUSD", "buy", ref="2350", sl="2340", tps=("2365",), risk="0.5")),
    ("XAUUSD SHORT\nEntry: 2355\nSL: 2362\nTP: 2350 2345 2340",
     open_("XAUUSD", "sell", ref="2355", sl="2362", tps=("2350", "2345", "2340"))),
    ("gold buy now sl2340 tp2360",
     open_("XAUUSD", "buy", sl="2340", tps=("2360",))),
    ("XAUUSD BUY NOW\nTP2 2360\nTP1 2355\nSL 2340",
     open_("XAUUSD", "buy", sl="2340", tps=("2355", "2360"))),
    ("\uff38\uff21\uff35\uff35\uff33\uff24 \uff22\uff35\uff39 NOW SL \uff12\uff13\uff14\uff10",
     open_("XAUUSD", "buy", sl="2340")),
    ("*XAUUSD* | BUY | 2350 | SL 2340 | TP 2360 | 0.10 lots",
     open_("XAUUSD", "buy", ref="2350", sl="2340", tps=("2360",), lot="0.10")),
    ("VIP SIGNAL 💎\nXAUUSD BUY NOW\nSL 2340\nLOT SIZE 0.02",
     open_("XAUUSD", "buy", sl="2340", lot="0.02")),
    ("Buy Gold @ 2350/2353\nSL 2345\nTP 2356/2360/2365",
     open_("XAUUSD", "buy", ref="2350", sl="2345", tps=("2356", "2360", "2365"))),
    ("XAUUSD SELL 2351-2354 | SL 2358 | TP 2348 - 2345",
     open_("XAUUSD", "sell", ref="2351", sl="2358", tps=("2348", "2345"))),
    # --- FX opens
    ("EURUSD BUY 1.0850 SL 1.0820 TP 1.0900 RISK 1%",
     open_("EURUSD", "buy", ref="1.0850", sl="1.0820", tps=("1.0900",), risk="1")),
    ("GBPJPY SELL NOW SL 197.50 TP 195.00 LOT 0.05",
     open_("GBPJPY", "sell", sl="197.50", tps=("195.00",), lot="0.05")),
    ("📉 USDJPY sell limit 155.500\nSL 156.000\nTP1 155.000\nTP2 154.500",
     open_("USDJPY", "sell", type_="limit", price="155.500", sl="156.000",
           tps=("155.000", "154.500"))),
    ("eur/usd long 1.0850 stoploss 1.0830",
     open_("EURUSD", "buy", ref="1.0850", sl="1.0830")),
    ("AUDUSD.pro BUY STOP 0.6650 SL 0.6620 TP 0.6700",
     open_("AUDUSD", "buy", type_="stop", price="0.6650", sl="0.6620", tps=("0.6700",))),
    ("USDTHB BUY NOW SL 36.300 TP 36.900 RISK 2%",
     open_("USDTHB", "buy", sl="36.300", tps=("36.900",), risk="2")),
    ("SELL EURGBP @ 0.85430 SL 0.85700 TP 0.85000",
     open_("EURGBP", "sell", ref="0.85430", sl="0.85700", tps=("0.85000",))),
    ("US30 BUY NOW SL 38900 TP 39200",
     open_("US30", "buy", sl="38900", tps=("39200",))),
    # --- follow-ups
    ("SL TO BE", follow({"action": "breakeven"})),
    ("Move SL to entry", follow({"action": "breakeven"})),
    ("✅ TP1 HIT ✅\nMove SL to breakeven", follow({"action": "breakeven"})),
    ("set sl to BE #42", follow({"action": "breakeven"}, "signal", signal_id=42)),
    ("BE", follow({"action": "breakeven"})),
    ("SL 2345", follow({"action": "modify", "stop_loss": "2345"})),
    ("move SL to 2346.5", follow({"action": "modify", "stop_loss": "2346.5"})),
    ("TP2 2370", follow({"action": "modify", "take_profit": "2370", "legs": [2]})),
    ("New TP 2375 #7", follow({"action": "modify", "take_profit": "2375"}, "signal", signal_id=7)),
    ("CLOSE HALF", follow({"action": "close", "percent": "50"})),
    ("close half now 💰", follow({"action": "close", "percent": "50"})),
    ("CLOSE 25%", follow({"action": "close", "percent": "25"})),
    ("Close TP1", follow({"action": "close", "legs": [1]})),
    ("CLOSE", follow({"action": "close"})),
    ("Close now!!", follow({"action": "close"})),
    ("#15 close", follow({"action": "close"}, "signal", signal_id=15)),
    ("CLOSE ALL", follow({"action": "close"}, "all")),
    ("CLOSE ALL XAUUSD", follow({"action": "close"}, "all", symbol="XAUUSD")),
    ("close all gold trades", follow({"action": "close"}, "all", symbol="XAUUSD")),
    ("Close EURUSD", follow({"action": "close"}, "all", symbol="EURUSD")),
    ("CANCEL", follow({"action": "cancel"})),
    ("cancel order #9", follow({"action": "cancel"}, "signal", signal_id=9)),
    ("Cancel all pending orders", follow({"action": "cancel"}, "all")),
    # --- where the grammar stops (a misread signal trades money: it never guesses)
    ("XAUUSD BUY NOW SL 30 PIPS", stops("PIPS")),
    ("XAUUSD BUY 2350 SL 2340 (100 pips)", stops("100")),
    ("XAUUSD BUY NOW good luck", stops("GOOD")),
    ("BUY NOW SL 2340", stops("")),
    ("XAUUSD BUY TP OPEN", stops("OPEN")),
    ("XAUUSD BUY LIMIT SL 2340", stops("LIMIT")),
    ("XAUUSD BUY NOW RISK 50%", stops("RISK")),
    ("XAUUSD BUY NOW RISK $50", stops("$")),
    ("XAUUSD BUY NOW LOT 0.05 RISK 1%", stops("RISK")),
    ("XAUUSD BUY SELL", stops("SELL")),
    ("XAUUSD EURUSD BUY", stops("EURUSD")),
    ("Close half and move SL to BE 🔒",
     follow([{"action": "close", "percent": "50"}, {"action": "breakeven"}])),
    ("TP1 hit ✅ close 50%, SL 2352 #8",
     follow([{"action": "close", "percent": "50"}, {"action": "modify", "stop_loss": "2352"}],
            "signal", signal_id=8)),
    ("CLOSE HALF SL TO BE TP2 2370 CANCEL", stops("CANCEL")),
    ("SL TO BE AND CLOSE ALL", stops("ALL")),
    ("CLOSE 25", stops("")),
    ("SL TO", stops("")),
    ("HELLO", stops("HELLO")),
    ("🚀🚀🚀", stops("")),
    ("XAUUSD BUY #12", stops("#12")),
    ("ซื้อทอง XAUUSD BUY NOW", stops("ซื้อทอง")),
]  # fmt: skip


def _result(text: str) -> dict[str, Any]:
    try:
        command = parse(text, signal_symbol)
    except SignalNotUnderstood as exc:
        return {"error": exc.details["word"]}
    if isinstance(command, FollowUp):
        return {
            "actions": [action.to_json() for action in command.actions],
            "scope": command.scope.value,
            "signal_id": command.signal_id,
            "symbol": command.symbol,
        }
    order = command.order
    return open_(
        order.symbol,
        order.side,
        type_=order.order_type.value,
        price=None if order.price is None else str(order.price),
        ref=None if command.entry_reference is None else str(command.entry_reference),
        sl=None if order.stop_loss is None else str(order.stop_loss),
        tps=tuple(str(tp.price) for tp in order.take_profits),
        risk=None if order.risk is None else str(order.risk.percent),
        lot=None if order.volume is None else str(order.volume),
    )


def test_table_has_at_least_40_real_world_texts():
    assert len(TABLE) >= 40
    assert len({text for text, _ in TABLE}) == len(TABLE)


@pytest.mark.parametrize(("text", "expected"), TABLE, ids=[t for t, _ in TABLE])
def test_parse_real_world_text(text, expected):
    assert _result(text) == expected


def test_parse_error_names_the_word_position_and_expectation():
    with pytest.raises(SignalNotUnderstood) as caught:
        parse("XAUUSD BUY NOW SL 30 PIPS", signal_symbol)

    assert caught.value.status_code == 422
    assert caught.value.code == "signal_not_understood"
    assert caught.value.details["position"] == 6
    assert '"PIPS"' in caught.value.message


def test_parse_market_signal_keeps_the_quote_out_of_the_order():
    command = parse("XAUUSD BUY NOW @2350 SL 2340", signal_symbol)

    assert isinstance(command, OpenSignal)
    assert command.order.price is None  # a market order fills at the market
    assert command.entry_reference == D("2350")


def test_open_signal_check_refuses_stop_on_the_wrong_side_of_the_quote():
    command = parse("XAUUSD BUY @2350 SL 2360", signal_symbol)

    with pytest.raises(AppError) as caught:
        command.check()

    assert caught.value.code == "sl_wrong_side"


def test_open_signal_without_risk_or_lot_is_sized_by_each_accounts_own_risk():
    command = parse("XAUUSD BUY NOW SL 2340", signal_symbol)

    assert isinstance(command, OpenSignal)
    assert command.sizing.to_json() == {"mode": "account_risk", "default_percent": "1"}


def test_open_signal_lot_without_stop_loss_is_fine_risk_is_not():
    parse("XAUUSD BUY NOW LOT 0.01", signal_symbol).check()

    with pytest.raises(AppError) as caught:
        parse("XAUUSD BUY NOW RISK 1%", signal_symbol).check()

    assert caught.value.code == "stop_loss_required"


def test_follow_up_close_all_cannot_name_a_signal():
    with pytest.raises(SignalNotUnderstood):
        parse("CLOSE ALL #4", signal_symbol)


def test_follow_up_action_kinds_cover_the_trade_management_actions():
    kinds = {
        parse(text, signal_symbol).actions[0].kind  # type: ignore[union-attr]
        for text in ("SL TO BE", "SL 2345", "CLOSE", "CANCEL")
    }

    assert kinds == {ActionKind.BREAKEVEN, ActionKind.MODIFY, ActionKind.CLOSE, ActionKind.CANCEL}
    assert parse("CLOSE ALL", signal_symbol).scope is FollowUpScope.ALL  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("word", "expected"),
    [("GOLD", "XAUUSD"), ("xauusd.m", "XAUUSD"), ("XAUUSDm", "XAUUSD"), ("XAUUSDc", "XAUUSD"),
     ("XAU/USD", "XAUUSD"), ("#XAUUSD", "XAUUSD"), ("EURUSD.pro", "EURUSD"), ("NZDCAD", "NZDCAD"),
     ("DJ30", "US30"), ("SILVER", "XAGUSD"), ("STOP", None), ("HELLO", None), ("ABCDEF", None)],
)  # fmt: skip
def test_signal_symbol_resolves_aliases_and_broker_suffixes(word, expected):
    assert signal_symbol(word) == expected


def test_tokenize_drops_emoji_and_punctuation_keeps_marks():
    tokens = tokenize("🟢 Gold: BUY @2,350.5 (1%) ✅")

    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "GOLD"), ("word", "BUY"), ("mark", "@"), ("number", "2350.5"),
        ("number", "1"), ("mark", "%"),
    ]  # fmt: skip


# --- properties --------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
WORDS = st.sampled_from(
    ["XAUUSD", "GOLD", "EURUSD", "BUY", "SELL", "NOW", "@", "LIMIT", "STOP", "SL", "TP", "TP1",
     "TP2", "RISK", "LOT", "%", "CLOSE", "HALF", "ALL", "CANCEL", "TO", "BE", "MOVE", "#3", "-",
     "2350", "2340.5", "0.05", "1", "0", "🔥", "\n", ":", "PIPS", "$", "ENTRY"]
)  # fmt: skip


def _parses_or_stops(text: str) -> None:
    try:
        command = parse(text, signal_symbol)
    except SignalNotUnderstood as exc:
        assert exc.status_code == 422
        assert set(exc.details) == {"word", "position", "reason", "expected"}
        assert exc.details["position"] >= 0
        return
    assert isinstance(command, OpenSignal | FollowUp)
    assert command.to_json()["kind"] in {"open", "follow_up"}
    try:
        command.check()
    except AppError as exc:  # the order's own rules: still a 422, never a crash
        assert exc.status_code == 422


@PROPERTY_SETTINGS
@given(st.text(max_size=300))
def test_property_any_text_is_a_command_or_a_422(text):
    _parses_or_stops(text)


@PROPERTY_SETTINGS
@given(st.lists(WORDS, max_size=14).map(" ".join))
def test_property_any_sequence_of_signal_words_is_a_command_or_a_422(text):
    _parses_or_stops(text)


@PROPERTY_SETTINGS
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    sl_distance=st.decimals(min_value=1, max_value=50, places=2),
    tps=st.lists(st.decimals(min_value=1, max_value=50, places=2), max_size=4),
)
def test_property_a_well_formed_open_reads_back_its_numbers(side, sl_distance, tps):
    entry = D("2350.00")
    sign = 1 if side == "BUY" else -1
    sl = entry - sign * sl_distance
    tp_prices = [entry + sign * d for d in tps]
    text = f"XAUUSD {side} @ {entry} SL {sl} " + " ".join(
        f"TP{n} {p}" for n, p in enumerate(tp_prices, 1)
    )

    command = parse(text, signal_symbol)

    assert isinstance(command, OpenSignal)
    assert command.order.stop_loss == sl
    assert [tp.price for tp in command.order.take_profits] == tp_prices
    command.check()
