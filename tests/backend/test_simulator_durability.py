"""The simulated broker's group commit: a call returns only once what it changed is on disk,
whatever other calls run meanwhile; records are written in the order the broker made them."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mt5sim.broker import Broker
from mt5sim.persistence import Store
from mt5sim.sim_terminal import SimTerminal
from mt5sim.state import Position
from services.mt5 import constants as c

THREADS = 24


def market(order_type: int = c.ORDER_TYPE_BUY, **fields: Any) -> dict[str, Any]:
    request = {
        "action": c.TRADE_ACTION_DEAL, "symbol": "XAUUSD", "volume": 0.1, "type": order_type,
        "type_filling": c.ORDER_FILLING_IOC, "magic": 9, "comment": "durable",
    }  # fmt: skip
    return request | fields


def on_disk(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """What another connection (a process started after a crash) reads from the file."""
    with sqlite3.connect(path) as other:
        return list(other.execute(sql, params))


def logged_in(broker: Broker, login: int) -> SimTerminal:
    terminal = SimTerminal(broker)
    assert terminal.initialize(login=login, password="pw", server="Sim-Demo")
    return terminal


@pytest.fixture
def broker(tmp_path: Path):
    broker = Broker(tmp_path / "sim.db", seed=3, step_ms=0)
    yield broker
    broker.close()


def test_a_fill_is_on_disk_when_order_send_returns(broker, tmp_path):
    terminal = logged_in(broker, 501)

    result = terminal.order_send(market())

    assert result.retcode == c.TRADE_RETCODE_DONE
    db = tmp_path / "sim.db"
    assert on_disk(db, "SELECT ticket FROM positions WHERE ticket = ?", result.order) == [
        (result.order,)
    ]
    assert on_disk(db, "SELECT ticket FROM deals WHERE ticket = ?", result.deal) == [(result.deal,)]


def test_concurrent_fills_are_each_on_disk_when_their_call_returns(broker, tmp_path):
    db = tmp_path / "sim.db"
    terminals = [logged_in(broker, 600 + n) for n in range(THREADS)]
    start = threading.Barrier(THREADS)
    missing: list[int] = []

    def trade(terminal: SimTerminal) -> None:
        start.wait()
        for _ in range(5):
            result = terminal.order_send(market())
            assert result.retcode == c.TRADE_RETCODE_DONE
            if not on_disk(db, "SELECT 1 FROM positions WHERE ticket = ?", result.order):
                missing.append(result.order)

    threads = [threading.Thread(target=trade, args=(t,)) for t in terminals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert missing == []
    assert on_disk(db, "SELECT count(*) FROM positions") == [(THREADS * 5,)]
    assert on_disk(db, "SELECT count(*) FROM deals WHERE type = ?", c.DEAL_TYPE_BUY) == [
        (THREADS * 5,)
    ]


def test_writes_queued_together_commit_in_the_brokers_order(tmp_path):
    """One commit for several writes: the last write of a record wins, a closed position is
    gone even when it was written earlier in the same batch."""
    store = Store(tmp_path / "sim.db")
    first = _position(1)
    moved = replace(first, sl=Decimal("2340"))
    closed = _position(2)
    store.write(first)
    store.write(closed)
    store.write(moved)
    store.write(delete_positions=(2,))

    store.sync_mine()

    assert on_disk(tmp_path / "sim.db", "SELECT ticket, sl FROM positions") == [(1, "2340")]
    store.close()


def test_a_thread_that_wrote_nothing_does_not_commit_for_others(tmp_path):
    store = Store(tmp_path / "sim.db")
    other = threading.Thread(target=lambda: store.write(_position(9)))
    other.start()
    other.join()

    store.sync_mine()  # this thread queued nothing: nothing to wait for

    assert on_disk(tmp_path / "sim.db", "SELECT count(*) FROM positions") == [(0,)]
    store.close()  # closing commits what is queued
    assert on_disk(tmp_path / "sim.db", "SELECT ticket FROM positions") == [(9,)]


def test_leaving_a_nested_broker_lock_commits_only_at_the_outermost(broker, tmp_path):
    db = tmp_path / "sim.db"
    with broker.lock:
        with broker.lock:
            broker.store.write(_position(42))
        assert on_disk(db, "SELECT count(*) FROM positions WHERE ticket = 42") == [(0,)]
    assert on_disk(db, "SELECT count(*) FROM positions WHERE ticket = 42") == [(1,)]


def _position(ticket: int) -> Position:
    return Position(ticket=ticket, login=7, symbol="XAUUSD", type=0, volume=Decimal("0.10"),
                    price_open=Decimal("2350"), sl=Decimal("0"), tp=Decimal("0"), magic=0,
                    comment="", time_msc=0, time_update_msc=0)  # fmt: skip
