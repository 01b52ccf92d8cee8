"""Injected faults, AutoTrading off, latency outside the lock, and the seeded price walk."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mt5sim.broker import Broker
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c

LOGIN = 1001
BUY = {
    "action": c.TRADE_ACTION_DEAL,
    "symbol": "XAUUSD",
    "volume": 0.1,
    "type": c.ORDER_TYPE_BUY,
    "type_filling": c.ORDER_FILLING_IOC,
    "magic": 3,
}


def make_terminal(**broker_options: object) -> SimTerminal:
    options = {"seed": 1, "step_ms": 0} | broker_options
    broker = Broker(":memory:", **options)  # type: ignore[arg-type]
    terminal = SimTerminal(broker)
    terminal.initialize(login=LOGIN, password="pw", server="Sim-Demo")
    return terminal


def test_order_send_timeout_fault_raises_without_trading() -> None:
    terminal = make_terminal()
    terminal.broker.inject_fault(LOGIN, "timeout")
    with pytest.raises(TimeoutError):
        terminal.order_send(BUY)
    assert terminal.positions_total() == 0
    assert terminal.order_send(BUY).retcode == c.TRADE_RETCODE_DONE


def test_order_send_none_fault_returns_none_with_last_error() -> None:
    terminal = make_terminal()
    terminal.broker.inject_fault(LOGIN, "none", count=2)
    assert terminal.order_send(BUY) is None
    assert terminal.last_error()[0] == c.RES_E_INTERNAL_FAIL_SEND
    assert terminal.order_send(BUY) is None
    assert terminal.order_send(BUY) is not None
    assert terminal.positions_total() == 1


def test_order_send_drop_after_fill_fills_then_raises() -> None:
    terminal = make_terminal()
    terminal.broker.inject_fault(LOGIN, "drop_after_fill")
    with pytest.raises(ConnectionError):
        terminal.order_send(BUY)
    (position,) = terminal.positions_get()
    assert position.magic == 3


def test_fault_on_another_call_leaves_order_send_alone() -> None:
    terminal = make_terminal()
    terminal.broker.inject_fault(LOGIN, "timeout", call="positions_get")
    assert terminal.order_send(BUY).retcode == c.TRADE_RETCODE_DONE
    with pytest.raises(TimeoutError):
        terminal.positions_get()


def test_inject_fault_unknown_kind_raises() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        make_terminal().broker.inject_fault(LOGIN, "explode")


def test_order_send_autotrading_disabled_returns_none_with_minus_8() -> None:
    terminal = make_terminal()
    terminal.broker.set_trade_allowed(LOGIN, False)
    assert terminal.terminal_info().trade_allowed is False
    assert terminal.order_send(BUY) is None
    assert terminal.last_error()[0] == c.RES_E_AUTO_TRADING_DISABLED
    terminal.broker.set_trade_allowed(LOGIN, True)
    assert terminal.order_send(BUY).retcode == c.TRADE_RETCODE_DONE


def test_latency_different_accounts_run_in_parallel() -> None:
    broker = Broker(":memory:", seed=1, step_ms=0, latency_ms=50)
    terminals = []
    for login in range(20):
        terminal = SimTerminal(broker)
        terminal.initialize(login=login + 1, password="pw", server="Sim-Demo")
        terminals.append(terminal)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda t: t.order_send(BUY), terminals))
    elapsed = time.perf_counter() - started
    assert all(r.retcode == c.TRADE_RETCODE_DONE for r in results)
    assert elapsed < 0.5  # serialised it would take 20 * 50 ms = 1 s


def test_latency_terminal_override_is_slept_per_call() -> None:
    terminal = SimTerminal(Broker(":memory:", step_ms=0), latency_ms=30)
    started = time.perf_counter()
    terminal.initialize(login=1, password="pw", server="Sim-Demo")
    terminal.symbol_info_tick("XAUUSD")
    assert time.perf_counter() - started >= 0.06
    assert terminal.terminal_info().ping_last == 30000


def test_advance_same_seed_gives_same_prices() -> None:
    first, second = Broker(":memory:", seed=11, step_ms=0), Broker(":memory:", seed=11, step_ms=0)
    first.advance(25)
    for _ in range(25):
        second.advance()
    assert first.prices.bids() == second.prices.bids()
    assert first.prices.bids()["XAUUSD"] != second.prices.quote("XAUUSD")[1]


def test_advance_other_seed_gives_other_prices() -> None:
    first, second = Broker(":memory:", seed=11, step_ms=0), Broker(":memory:", seed=12, step_ms=0)
    first.advance(25)
    second.advance(25)
    assert first.prices.bids() != second.prices.bids()


def test_advance_keeps_spread_and_tick_grid() -> None:
    broker = Broker(":memory:", seed=5, step_ms=0)
    broker.advance(50)
    bid, ask = broker.quote("US30")
    assert ask - bid == 2  # 20 points of 0.1
    assert bid % broker.symbols["US30"].tick_size == 0
    assert broker.quote("XAUUSDc") == broker.quote("XAUUSD")


def test_set_quote_frozen_symbol_does_not_walk() -> None:
    broker = Broker(":memory:", seed=5, step_ms=0)
    broker.set_quote("XAUUSD", 2000, 2000.5, freeze=True)
    broker.advance(20)
    assert broker.quote("XAUUSD") == (2000, 2000.5)
    assert broker.quote("EURUSD")[0] != broker.symbols["EURUSD"].start_bid


def test_step_ms_walks_with_wall_clock() -> None:
    broker = Broker(":memory:", seed=5, step_ms=1)
    start = broker.quote("XAUUSD")
    time.sleep(0.02)
    assert broker.quote("XAUUSD") != start
    assert broker.prices.steps_taken >= 10
