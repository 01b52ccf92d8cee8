"""Positions: closing by ticket, hedging vs netting, pending triggers, SL/TP, balance and deals."""

from typing import Any

from mt5sim.broker import Broker
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c

LOGIN = 1001


def make_terminal(**account: Any) -> SimTerminal:
    broker = Broker(":memory:", seed=1, step_ms=0)
    broker.create_account(LOGIN, "pw", "Sim-Demo", **account)
    terminal = SimTerminal(broker)
    assert terminal.initialize(login=LOGIN, password="pw", server="Sim-Demo")
    return terminal


def market(order_type: int = c.ORDER_TYPE_BUY, volume: float = 0.1, **fields: Any) -> dict:
    request = {
        "action": c.TRADE_ACTION_DEAL,
        "symbol": "XAUUSD",
        "volume": volume,
        "type": order_type,
        "type_filling": c.ORDER_FILLING_FOK,
        "magic": 7,
        "comment": "tagged",
    }
    return request | fields


def test_order_send_close_by_position_realises_profit_into_balance() -> None:
    terminal = make_terminal()
    opened = terminal.order_send(market())  # buys at 2350.20
    terminal.broker.set_quote("XAUUSD", 2360.0, 2360.2)
    closed = terminal.order_send(market(c.ORDER_TYPE_SELL, position=opened.order))
    assert closed.retcode == c.TRADE_RETCODE_DONE
    assert terminal.positions_total() == 0
    assert terminal.account_info().balance == 10000.0 + 98.0  # 9.80 * 100 * 0.1
    out = terminal.history_deals_get(ticket=closed.deal)[0]
    assert (out.entry, out.profit, out.position_id) == (c.DEAL_ENTRY_OUT, 98.0, opened.order)


def test_order_send_partial_close_leaves_remaining_volume() -> None:
    terminal = make_terminal()
    opened = terminal.order_send(market(volume=0.3))
    terminal.order_send(market(c.ORDER_TYPE_SELL, volume=0.1, position=opened.order))
    assert terminal.positions_get()[0].volume == 0.2


def test_order_send_close_same_direction_is_invalid() -> None:
    terminal = make_terminal()
    opened = terminal.order_send(market())
    result = terminal.order_send(market(position=opened.order))
    assert result.retcode == c.TRADE_RETCODE_INVALID


def test_order_send_close_unknown_position_is_position_closed() -> None:
    terminal = make_terminal()
    result = terminal.order_send(market(c.ORDER_TYPE_SELL, position=999))
    assert result.retcode == c.TRADE_RETCODE_POSITION_CLOSED


def test_order_send_close_more_than_held_on_hedging_is_invalid_close_volume() -> None:
    terminal = make_terminal()
    opened = terminal.order_send(market())
    result = terminal.order_send(market(c.ORDER_TYPE_SELL, volume=0.2, position=opened.order))
    assert result.retcode == c.TRADE_RETCODE_INVALID_CLOSE_VOLUME


def test_order_send_hedging_opposite_orders_keep_two_positions() -> None:
    terminal = make_terminal()
    terminal.order_send(market())
    terminal.order_send(market(c.ORDER_TYPE_SELL))
    assert sorted(p.type for p in terminal.positions_get()) == [0, 1]


def test_order_send_netting_same_direction_merges_at_average_price() -> None:
    terminal = make_terminal(margin_mode=c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
    first = terminal.order_send(market())
    terminal.broker.set_quote("XAUUSD", 2360.0, 2360.2)
    terminal.order_send(market())
    (position,) = terminal.positions_get()
    assert position.ticket == first.order
    assert position.volume == 0.2
    assert position.price_open == 2355.2


def test_order_send_netting_opposite_order_reverses_with_inout_deal() -> None:
    terminal = make_terminal(margin_mode=c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
    terminal.order_send(market(volume=0.1))
    result = terminal.order_send(market(c.ORDER_TYPE_SELL, volume=0.3))
    (position,) = terminal.positions_get()
    assert (position.type, position.volume) == (c.POSITION_TYPE_SELL, 0.2)
    deal = terminal.history_deals_get(ticket=result.deal)[0]
    assert deal.entry == c.DEAL_ENTRY_INOUT
    assert terminal.account_info().margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING


def test_order_send_netting_equal_opposite_order_closes() -> None:
    terminal = make_terminal(margin_mode=c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING)
    terminal.order_send(market())
    terminal.order_send(market(c.ORDER_TYPE_SELL))
    assert terminal.positions_get() == ()


def test_pending_buy_limit_price_crossed_fills_position() -> None:
    terminal = make_terminal()
    placed = terminal.order_send(
        market(
            action=c.TRADE_ACTION_PENDING,
            type=c.ORDER_TYPE_BUY_LIMIT,
            price=2340.0,
            type_filling=c.ORDER_FILLING_RETURN,
        )
    )
    terminal.broker.set_quote("XAUUSD", 2345.0, 2345.2)
    assert terminal.positions_total() == 0
    terminal.broker.set_quote("XAUUSD", 2339.8, 2340.0)
    (position,) = terminal.positions_get()
    assert (position.ticket, position.price_open, position.magic) == (placed.order, 2340.0, 7)
    assert terminal.orders_total() == 0
    assert terminal.history_orders_get(ticket=placed.order)[0].state == c.ORDER_STATE_FILLED


def test_pending_sell_stop_price_crossed_fills_at_bid() -> None:
    terminal = make_terminal()
    terminal.order_send(
        market(
            action=c.TRADE_ACTION_PENDING,
            type=c.ORDER_TYPE_SELL_STOP,
            price=2345.0,
            type_filling=c.ORDER_FILLING_RETURN,
        )
    )
    terminal.broker.set_quote("XAUUSD", 2344.5, 2344.7)
    (position,) = terminal.positions_get()
    assert (position.type, position.price_open) == (c.POSITION_TYPE_SELL, 2344.5)


def test_position_stop_loss_crossed_closes_with_loss() -> None:
    terminal = make_terminal()
    opened = terminal.order_send(market(sl=2340.0, tp=2360.0))
    terminal.broker.set_quote("XAUUSD", 2339.9, 2340.1)
    assert terminal.positions_total() == 0
    deals = terminal.history_deals_get(position=opened.order)
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_OUT]
    assert deals[1].reason == c.DEAL_REASON_SL
    assert deals[1].profit == -103.0  # (2339.90 - 2350.20) * 100 * 0.1
    assert terminal.account_info().balance == 10000.0 - 103.0


def test_position_take_profit_crossed_closes_with_gain() -> None:
    terminal = make_terminal()
    opened = terminal.order_send(market(c.ORDER_TYPE_SELL, sl=2360.0, tp=2340.0))
    terminal.broker.set_quote("XAUUSD", 2339.8, 2340.0)
    deals = terminal.history_deals_get(position=opened.order)
    assert deals[-1].reason == c.DEAL_REASON_TP
    assert deals[-1].profit == 100.0


def test_account_info_open_position_moves_equity_and_margin() -> None:
    terminal = make_terminal()
    terminal.order_send(market(volume=1.0))  # margin 2350.20, at Bid 2350.00: -20
    info = terminal.account_info()
    assert (info.balance, info.profit, info.equity) == (10000.0, -20.0, 9980.0)
    assert info.margin == 2350.2
    assert info.margin_free == 9980.0 - 2350.2
    assert info.margin_level == 424.64  # 9980 / 2350.20 * 100


def test_account_creation_writes_balance_deal() -> None:
    terminal = make_terminal(balance=5000)
    terminal.broker.fund(LOGIN, 250)
    deals = terminal.history_deals_get(0, 2**40)
    assert [(d.type, d.profit) for d in deals] == [(c.DEAL_TYPE_BALANCE, 5000.0), (2, 250.0)]
    assert terminal.account_info().balance == 5250.0
    assert terminal.history_deals_total(0, 2**40) == 2


def test_positions_get_filters_by_symbol_group_and_ticket() -> None:
    terminal = make_terminal()
    gold = terminal.order_send(market())
    terminal.order_send(market(symbol="EURUSD"))
    assert [p.symbol for p in terminal.positions_get(symbol="EURUSD")] == ["EURUSD"]
    assert [p.symbol for p in terminal.positions_get(group="*,!EUR*")] == ["XAUUSD"]
    assert terminal.positions_get(ticket=gold.order)[0].ticket == gold.order
