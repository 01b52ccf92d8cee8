"""order_send / order_check against the documented trade server answers, one retcode per test."""

from collections import UserDict
from datetime import time
from typing import Any

import pytest

from mt5sim.broker import Broker
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c

LOGIN = 1001


def make_terminal(server: str = "Sim-Demo", **account: Any) -> SimTerminal:
    broker = Broker(":memory:", seed=1, step_ms=0)
    broker.create_account(LOGIN, "pw", server, **account)
    terminal = SimTerminal(broker)
    assert terminal.initialize(login=LOGIN, password="pw", server=server)
    return terminal


def market(symbol: str = "XAUUSD", order_type: int = c.ORDER_TYPE_BUY, **fields: Any) -> dict:
    request = {
        "action": c.TRADE_ACTION_DEAL,
        "symbol": symbol,
        "volume": 0.1,
        "type": order_type,
        "deviation": 10,
        "type_filling": c.ORDER_FILLING_IOC,
        "magic": 42,
        "comment": "test",
    }
    return request | fields


def pending(order_type: int, price: float, **fields: Any) -> dict:
    request = market(order_type=order_type, price=price, type_filling=c.ORDER_FILLING_RETURN)
    return request | {"action": c.TRADE_ACTION_PENDING} | fields


def test_order_send_market_buy_fills_at_ask() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(price=2350.2))
    assert result.retcode == c.TRADE_RETCODE_DONE
    assert result.price == 2350.2
    assert result.volume == 0.1
    assert result.order and result.deal
    assert result.request.magic == 42


def test_order_send_market_sell_fills_at_bid() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(order_type=c.ORDER_TYPE_SELL, price=2350.0))
    assert result.retcode == c.TRADE_RETCODE_DONE
    assert result.price == 2350.0


def test_order_send_price_beyond_deviation_requotes_with_fresh_prices() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(price=2349.0, deviation=10))
    assert result.retcode == c.TRADE_RETCODE_REQUOTE
    assert (result.bid, result.ask) == (2350.0, 2350.2)
    assert terminal.positions_total() == 0


def test_order_send_price_within_deviation_fills() -> None:
    terminal = make_terminal()
    assert terminal.order_send(market(price=2350.1, deviation=10)).retcode == 10009


@pytest.mark.parametrize("volume", [0.001, 0.015, 101.0])
def test_order_send_bad_volume_is_invalid_volume(volume: float) -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(volume=volume))
    assert result.retcode == c.TRADE_RETCODE_INVALID_VOLUME


def test_order_send_one_ounce_contract_fractional_lot_is_invalid_volume() -> None:
    terminal = make_terminal()
    assert terminal.order_send(market("XAUUSD.1oz", volume=0.5)).retcode == 10014
    assert terminal.order_send(market("XAUUSD.1oz", volume=3.0)).retcode == 10009


@pytest.mark.parametrize(
    ("order_type", "sl", "tp"),
    [
        (c.ORDER_TYPE_BUY, 2351.0, 0.0),  # buy SL above Bid
        (c.ORDER_TYPE_BUY, 2349.95, 0.0),  # within 10 points of Bid
        (c.ORDER_TYPE_BUY, 0.0, 2349.0),  # buy TP below
        (c.ORDER_TYPE_SELL, 2349.0, 0.0),  # sell SL below Ask
        (c.ORDER_TYPE_SELL, 0.0, 2351.0),  # sell TP above
    ],
)
def test_order_send_stops_on_wrong_side_or_too_close_is_invalid_stops(
    order_type: int, sl: float, tp: float
) -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(order_type=order_type, sl=sl, tp=tp))
    assert result.retcode == c.TRADE_RETCODE_INVALID_STOPS


def test_order_send_stops_on_right_side_keeps_them_on_position() -> None:
    terminal = make_terminal()
    assert terminal.order_send(market(sl=2340.0, tp=2360.0)).retcode == 10009
    position = terminal.positions_get()[0]
    assert (position.sl, position.tp) == (2340.0, 2360.0)


def test_order_send_index_stop_off_tick_grid_is_invalid_stops() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market("US30", sl=38900.3, type_filling=c.ORDER_FILLING_FOK))
    assert result.retcode == c.TRADE_RETCODE_INVALID_STOPS


def test_order_send_margin_above_free_margin_is_no_money() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(volume=50.0))  # 50 * 100 * 2350 / 100 = 117500
    assert result.retcode == c.TRADE_RETCODE_NO_MONEY


def test_order_send_filling_missing_from_mask_is_invalid_fill() -> None:
    terminal = make_terminal(server="Sim-Demo.m")  # XAUUSD.m allows IOC only
    result = terminal.order_send(market("XAUUSD.m", type_filling=c.ORDER_FILLING_FOK))
    assert result.retcode == c.TRADE_RETCODE_INVALID_FILL
    ok = terminal.order_send(market("XAUUSD.m", type_filling=c.ORDER_FILLING_IOC))
    assert ok.retcode == c.TRADE_RETCODE_DONE


def test_order_send_return_filling_on_market_order_is_invalid_fill() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(type_filling=c.ORDER_FILLING_RETURN))
    assert result.retcode == c.TRADE_RETCODE_INVALID_FILL


def test_order_send_closed_market_is_market_closed() -> None:
    terminal = make_terminal()
    terminal.broker.set_market_open("XAUUSD", False)
    assert terminal.order_send(market()).retcode == c.TRADE_RETCODE_MARKET_CLOSED
    terminal.broker.set_market_open("XAUUSD", True)
    assert terminal.order_send(market()).retcode == c.TRADE_RETCODE_DONE


def test_order_send_outside_session_is_market_closed() -> None:
    broker = Broker(":memory:", step_ms=0, clock=lambda: 1_700_000_000.0)  # 22:13 UTC
    broker.set_session("XAUUSD", time(1, 0), time(21, 0))
    terminal = SimTerminal(broker)
    terminal.initialize(login=5, password="pw", server="Sim-Demo")
    assert terminal.order_send(market()).retcode == c.TRADE_RETCODE_MARKET_CLOSED


def test_order_send_disabled_symbol_is_trade_disabled() -> None:
    terminal = make_terminal()
    terminal.broker.set_trade_mode("XAUUSD", c.SYMBOL_TRADE_MODE_DISABLED)
    assert terminal.order_send(market()).retcode == c.TRADE_RETCODE_TRADE_DISABLED
    assert terminal.symbol_info("XAUUSD").trade_mode == c.SYMBOL_TRADE_MODE_DISABLED


@pytest.mark.parametrize(
    ("mode", "order_type", "retcode"),
    [
        (c.SYMBOL_TRADE_MODE_LONGONLY, c.ORDER_TYPE_SELL, c.TRADE_RETCODE_LONG_ONLY),
        (c.SYMBOL_TRADE_MODE_SHORTONLY, c.ORDER_TYPE_BUY, c.TRADE_RETCODE_SHORT_ONLY),
        (c.SYMBOL_TRADE_MODE_CLOSEONLY, c.ORDER_TYPE_BUY, c.TRADE_RETCODE_CLOSE_ONLY),
    ],
)
def test_order_send_restricted_trade_mode_refuses_opening(
    mode: int, order_type: int, retcode: int
) -> None:
    terminal = make_terminal()
    terminal.broker.set_trade_mode("XAUUSD", mode)
    assert terminal.order_send(market(order_type=order_type)).retcode == retcode


def test_order_send_unknown_symbol_is_invalid() -> None:
    terminal = make_terminal()
    assert terminal.order_send(market("XAUUSD.m")).retcode == c.TRADE_RETCODE_INVALID


def test_order_send_close_by_action_is_invalid() -> None:
    terminal = make_terminal()
    request = market() | {"action": c.TRADE_ACTION_CLOSE_BY}
    assert terminal.order_send(request).retcode == c.TRADE_RETCODE_INVALID


def test_order_send_non_dict_mapping_returns_none_with_invalid_params() -> None:
    terminal = make_terminal()
    assert terminal.order_send(UserDict(market())) is None
    assert terminal.last_error() == (c.RES_E_INVALID_PARAMS, "Unnamed arguments not allowed")


def test_order_send_wrong_field_type_returns_none_with_invalid_params() -> None:
    terminal = make_terminal()
    assert terminal.order_send(market(volume="0.1")) is None
    assert terminal.last_error()[0] == c.RES_E_INVALID_PARAMS


def test_order_send_long_comment_truncated_to_31_characters() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(comment="x" * 40))
    assert result.retcode == 10009
    assert terminal.positions_get()[0].comment == "x" * 31
    deal = terminal.history_deals_get(ticket=result.deal)[0]
    assert (deal.comment, deal.magic) == ("x" * 31, 42)


def test_order_send_pending_buy_limit_below_ask_is_placed() -> None:
    terminal = make_terminal()
    result = terminal.order_send(pending(c.ORDER_TYPE_BUY_LIMIT, 2340.0))
    assert result.retcode == c.TRADE_RETCODE_PLACED
    orders = terminal.orders_get()
    assert [o.ticket for o in orders] == [result.order]
    assert orders[0].state == c.ORDER_STATE_PLACED
    assert terminal.orders_total() == 1


@pytest.mark.parametrize(
    ("order_type", "price"),
    [
        (c.ORDER_TYPE_BUY_LIMIT, 2351.0),
        (c.ORDER_TYPE_SELL_LIMIT, 2349.0),
        (c.ORDER_TYPE_BUY_STOP, 2349.0),
        (c.ORDER_TYPE_SELL_STOP, 2351.0),
        (c.ORDER_TYPE_BUY_LIMIT, 0.0),
    ],
)
def test_order_send_pending_price_on_wrong_side_is_invalid_price(
    order_type: int, price: float
) -> None:
    terminal = make_terminal()
    result = terminal.order_send(pending(order_type, price))
    assert result.retcode == c.TRADE_RETCODE_INVALID_PRICE


def test_order_send_remove_pending_cancels_it() -> None:
    terminal = make_terminal()
    placed = terminal.order_send(pending(c.ORDER_TYPE_SELL_LIMIT, 2360.0))
    removed = terminal.order_send({"action": c.TRADE_ACTION_REMOVE, "order": placed.order})
    assert removed.retcode == c.TRADE_RETCODE_DONE
    assert terminal.orders_get() == ()
    history = terminal.history_orders_get(ticket=placed.order)
    assert history[0].state == c.ORDER_STATE_CANCELED


def test_order_send_remove_unknown_order_is_invalid_order() -> None:
    terminal = make_terminal()
    result = terminal.order_send({"action": c.TRADE_ACTION_REMOVE, "order": 5})
    assert result.retcode == c.TRADE_RETCODE_INVALID_ORDER


def test_order_send_sltp_same_values_is_no_changes() -> None:
    terminal = make_terminal()
    opened = terminal.order_send(market(sl=2340.0))
    request = {"action": c.TRADE_ACTION_SLTP, "position": opened.order, "sl": 2340.0}
    assert terminal.order_send(request).retcode == c.TRADE_RETCODE_NO_CHANGES
    request["tp"] = 2370.0
    assert terminal.order_send(request).retcode == c.TRADE_RETCODE_DONE
    assert terminal.positions_get(ticket=opened.order)[0].tp == 2370.0


def test_order_check_valid_request_gives_zero_and_margin() -> None:
    terminal = make_terminal()
    result = terminal.order_check(market(volume=1.0))
    assert result.retcode == 0
    assert result.margin == 2350.2  # at Ask
    assert result.margin_free == 10000.0 - 2350.2
    assert result.balance == result.equity == 10000.0
    assert terminal.positions_total() == 0


def test_order_check_too_large_is_no_money() -> None:
    terminal = make_terminal()
    assert terminal.order_check(market(volume=50.0)).retcode == c.TRADE_RETCODE_NO_MONEY


def test_results_as_dict_keep_real_field_names() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market())
    fields = result._asdict()
    assert list(fields)[:3] == ["retcode", "deal", "order"]
    assert fields["request"]._asdict()["symbol"] == "XAUUSD"
    assert "margin_free" in terminal.account_info()._asdict()
    assert "trade_tick_value_loss" in terminal.symbol_info("XAUUSD")._asdict()
    assert set(terminal.symbol_info_tick("XAUUSD")._asdict()) >= {"bid", "ask", "time_msc"}
