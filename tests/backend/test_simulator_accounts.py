"""Logins, flavours by server name, the module facade and persistence across restarts."""

from decimal import Decimal
from pathlib import Path

import pytest

from mt5sim.broker import Broker
from mt5sim.facade import make_module
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c


def make_broker(path: str | Path = ":memory:") -> Broker:
    return Broker(path, seed=3, step_ms=0)


def buy_gold(terminal: SimTerminal, symbol: str = "XAUUSD") -> object:
    return terminal.order_send(
        {
            "action": c.TRADE_ACTION_DEAL,
            "symbol": symbol,
            "volume": 0.1,
            "type": c.ORDER_TYPE_BUY,
            "type_filling": c.ORDER_FILLING_IOC,
            "magic": 9,
            "comment": "persist me",
        }
    )


def test_login_first_time_creates_account_with_default_balance() -> None:
    terminal = SimTerminal(make_broker())
    assert terminal.initialize()
    assert terminal.login(555, password="secret", server="AnyBroker-Live 12")
    info = terminal.account_info()
    assert (info.login, info.server, info.currency, info.balance) == (
        555,
        "AnyBroker-Live 12",
        "USD",
        10000.0,
    )
    assert info.margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING


def test_login_wrong_password_fails_with_auth_failed() -> None:
    broker = make_broker()
    SimTerminal(broker).initialize(login=555, password="secret", server="Sim-Demo")
    terminal = SimTerminal(broker)
    terminal.initialize()
    assert terminal.login(555, password="wrong", server="Sim-Demo") is False
    assert terminal.last_error()[0] == c.RES_E_AUTH_FAILED
    assert terminal.account_info() is None


def test_initialize_wrong_password_returns_false() -> None:
    broker = make_broker()
    broker.create_account(7, "right", "Sim-Demo")
    terminal = SimTerminal(broker)
    assert terminal.initialize(login=7, password="nope", server="Sim-Demo") is False
    assert terminal.last_error()[0] == -6


def test_account_info_before_initialize_returns_none_with_ipc_error() -> None:
    terminal = SimTerminal(make_broker())
    assert terminal.account_info() is None
    assert terminal.last_error()[0] == c.RES_E_INTERNAL_FAIL_CONNECT


def test_create_account_explicit_settings_are_reported() -> None:
    broker = make_broker()
    broker.create_account(
        8,
        "pw",
        "Sim-Demo",
        balance=Decimal(250000),
        currency="THB",
        leverage=500,
        margin_mode=c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING,
    )
    terminal = SimTerminal(broker)
    terminal.initialize(login=8, password="pw", server="Sim-Demo")
    info = terminal.account_info()
    assert (info.balance, info.currency, info.leverage, info.margin_mode) == (
        250000.0,
        "THB",
        500,
        0,
    )


def test_create_account_unsupported_currency_raises() -> None:
    with pytest.raises(ValueError, match="currency"):
        make_broker().create_account(9, "pw", "Sim-Demo", currency="XYZ")


@pytest.mark.parametrize(
    ("server", "present", "absent", "currency"),
    [
        ("Sim-Demo", "XAUUSD", "GOLD", "USD"),
        ("Sim-Cent", "XAUUSDc", "XAUUSD.m", "USC"),
        ("SimGOLD-Live", "GOLD", "XAUUSD", "USD"),
        ("Sim-Live.m", "XAUUSD.m", "XAUUSD", "USD"),
        ("Exness-MT5Trial7", "XAUUSDm", "XAUUSD", "USD"),
    ],
)
def test_login_server_name_selects_flavour(
    server: str, present: str, absent: str, currency: str
) -> None:
    terminal = SimTerminal(make_broker())
    terminal.initialize(login=42, password="pw", server=server)
    names = {s.name for s in terminal.symbols_get()}
    assert present in names
    assert absent not in names
    assert terminal.symbol_info(absent) is None
    assert terminal.account_info().currency == currency
    assert terminal.symbols_total() == len(names)


def test_symbols_get_group_filters_names() -> None:
    terminal = SimTerminal(make_broker())
    terminal.initialize(login=42, password="pw", server="Sim-Demo")
    names = [s.name for s in terminal.symbols_get(group="*JPY*,!EUR*")]
    assert names == ["USDJPY", "GBPJPY"]


def test_suffix_flavour_eurusd_m_trades_with_eurusd_price() -> None:
    terminal = SimTerminal(make_broker())
    terminal.initialize(login=42, password="pw", server="Sim-Live.m")
    assert terminal.symbol_info_tick("EURUSD.m").bid == 1.085
    assert buy_gold(terminal, "XAUUSD.m").retcode == c.TRADE_RETCODE_DONE


def test_make_module_runs_code_written_for_metatrader5() -> None:
    mt5 = make_module(make_broker())
    assert mt5.__name__ == "MetaTrader5"
    assert mt5.initialize(login=1, password="pw", server="Sim-Demo")
    assert mt5.TRADE_RETCODE_DONE == 10009
    assert mt5.ORDER_FILLING_RETURN == 2
    assert mt5.RES_E_AUTO_TRADING_DISABLED == -8
    tick = mt5.symbol_info_tick("XAUUSD")
    result = mt5.order_send(
        {
            "action": mt5.TRADE_ACTION_DEAL,
            "symbol": "XAUUSD",
            "volume": 0.01,
            "type": mt5.ORDER_TYPE_SELL,
            "price": tick.bid,
            "deviation": 5,
            "type_filling": mt5.ORDER_FILLING_FOK,
        }
    )
    assert result.retcode == mt5.TRADE_RETCODE_DONE
    assert mt5.last_error() == (1, "Success")
    assert mt5.version()[1] > 0


def test_broker_restart_same_file_keeps_accounts_positions_deals_and_tickets(
    tmp_path: Path,
) -> None:
    db = tmp_path / "sim.db"
    first = make_broker(db)
    terminal = SimTerminal(first)
    terminal.initialize(login=77, password="pw", server="Sim-Demo")
    opened = buy_gold(terminal)
    first.set_quote("XAUUSD", 2400.0, 2400.2)
    first.close()

    second = make_broker(db)
    again = SimTerminal(second)
    assert again.login(77, password="pw", server="Sim-Demo") is False  # not initialized yet
    again.initialize()
    assert again.login(77, password="wrong", server="Sim-Demo") is False
    assert again.login(77, password="pw", server="Sim-Demo")
    (position,) = again.positions_get()
    assert (position.ticket, position.comment, position.magic) == (opened.order, "persist me", 9)
    assert again.symbol_info_tick("XAUUSD").bid == 2400.0
    assert len(again.history_deals_get(0, 2**40)) == 2
    later = buy_gold(again)
    assert later.order > opened.order
    assert later.deal > opened.deal


def test_broker_restart_keeps_pending_orders_live(tmp_path: Path) -> None:
    db = tmp_path / "sim.db"
    first = make_broker(db)
    terminal = SimTerminal(first)
    terminal.initialize(login=78, password="pw", server="Sim-Demo")
    terminal.order_send(
        {
            "action": c.TRADE_ACTION_PENDING,
            "symbol": "XAUUSD",
            "volume": 0.1,
            "type": c.ORDER_TYPE_BUY_LIMIT,
            "price": 2300.0,
            "type_filling": c.ORDER_FILLING_RETURN,
        }
    )
    first.close()
    second = make_broker(db)
    second.set_quote("XAUUSD", 2299.0, 2299.2)
    assert len(second.positions[78]) == 1
