"""A recorded tick file replayed as the simulator's quotes: parsing, looping, and quotes that
fire orders and stops like any other."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from mt5sim.broker import Broker
from mt5sim.price_feed import PriceFeed
from mt5sim.replay import ReplayError, TickPath, load_ticks
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c
from services.mt5.catalog import CATALOG

TICKS = """time_ms,symbol,bid,ask
0,XAUUSD,2350.00,2350.20
100,XAUUSD,2351.00,2351.20
200,XAUUSD,2352.00,2352.20
50,EURUSD,1.08000,1.08010
"""


def write(tmp_path: Path, text: str = TICKS) -> Path:
    path = tmp_path / "ticks.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_ticks_sorts_each_symbols_path(tmp_path):
    paths = load_ticks(write(tmp_path), {"XAUUSD", "EURUSD"})
    assert paths["XAUUSD"].offsets == (0, 100, 200)
    assert paths["EURUSD"].quotes == ((Decimal("1.08000"), Decimal("1.08010")),)


@pytest.mark.parametrize(
    ("text", "message"),
    [("time_ms,symbol,bid,ask\n0,NOPE,1,2\n", "line 2: unknown symbol"),
     ("time_ms,symbol,bid,ask\nx,XAUUSD,1,2\n", "line 2: needs time_ms"),
     ("time_ms,symbol,bid,ask\n0,XAUUSD,2,1\n", "line 2: bid 2 and ask 1"),
     ("time_ms,symbol,bid,ask\n", "no ticks")],
)  # fmt: skip
def test_load_ticks_refuses_a_broken_file_naming_the_line(tmp_path, text, message):
    with pytest.raises(ReplayError, match=message):
        load_ticks(write(tmp_path, text), {"XAUUSD"})


def test_a_path_loops_after_its_last_tick():
    path = TickPath((0, 100, 200), tuple((Decimal(b), Decimal(b) + 1) for b in ("1", "2", "3")))
    assert path.period_ms == 300
    assert [path.quote_at(ms)[0] for ms in (0, 99, 100, 250, 300, 401)] == [
        Decimal(v) for v in ("1", "1", "2", "3", "1", "2")
    ]


def test_price_feed_replays_its_symbols_and_walks_the_others(tmp_path):
    now = {"t": 1000.0}
    gold = CATALOG["XAUUSD"]
    feed = PriceFeed(
        [gold, CATALOG["EURUSD"]], seed=1, step_ms=10, clock=lambda: now["t"],
        replay={"XAUUSD": load_ticks(write(tmp_path), {"XAUUSD", "EURUSD"})["XAUUSD"]},
    )  # fmt: skip
    now["t"] += 0.15
    changed = feed.catch_up()
    assert feed.quote("XAUUSD") == (Decimal("2351.00"), Decimal("2351.20"))
    assert "XAUUSD" in changed and "EURUSD" in changed  # the walk goes on for the rest


def test_replayed_quotes_fire_take_profits(tmp_path):
    broker = Broker(":memory:", step_ms=0, ticks_path=str(write(tmp_path)))
    broker.create_account(7001, "pw", "Sim-Demo")
    terminal = SimTerminal(broker)
    assert terminal.initialize(login=7001, password="pw", server="Sim-Demo")
    result = terminal.order_send(
        {"action": c.TRADE_ACTION_DEAL, "symbol": "XAUUSD", "volume": 0.1,
         "type": c.ORDER_TYPE_BUY, "price": 0.0, "tp": 2351.0, "deviation": 1000,
         "type_filling": c.ORDER_FILLING_FOK}
    )  # fmt: skip
    assert result.retcode == c.TRADE_RETCODE_DONE
    deadline = time.monotonic() + 2
    while terminal.positions_get() and time.monotonic() < deadline:
        time.sleep(0.02)
        broker.catch_up()
    assert terminal.positions_get() == ()
    broker.close()
