"""A client written for the real MetaTrader5 package, run over RPyC against a simulator node."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rpyc

BACKEND = Path(__file__).resolve().parents[2] / "backend"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def connect(port: int, node: subprocess.Popen) -> rpyc.Connection:
    deadline = time.monotonic() + 15
    while True:
        try:
            return rpyc.classic.connect("127.0.0.1", port)
        except OSError:
            if node.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def node_port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    code = (
        "from mt5sim.node import serve; "
        f"serve({str(tmp_path / 'sim.db')!r}, '127.0.0.1', {port}, step_ms=0)"
    )
    env = {**os.environ, "PYTHONPATH": str(BACKEND)}
    node = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        connect(port, node).close()
        yield port
    finally:
        node.terminate()
        node.wait(timeout=10)


def test_rpyc_client_for_real_package_trades_and_closes(node_port: int) -> None:
    conn = rpyc.classic.connect("127.0.0.1", node_port)
    mt5 = conn.modules.MetaTrader5
    assert mt5.initialize()
    assert mt5.login(123, password="x", server="Sim-Demo")
    info = mt5.symbol_info("XAUUSD")
    assert info.trade_contract_size == 100.0
    tick = mt5.symbol_info_tick("XAUUSD")
    request = {
        "action": mt5.TRADE_ACTION_DEAL,
        "symbol": "XAUUSD",
        "volume": 0.1,
        "type": mt5.ORDER_TYPE_BUY,
        "price": tick.ask,
        "deviation": 20,
        "magic": 2024,
        "comment": "over rpyc",
        "type_filling": mt5.ORDER_FILLING_IOC,
    }
    result = mt5.order_send(conn.builtins.dict(request))  # a real dict on the node
    assert dict(result._asdict())["retcode"] == mt5.TRADE_RETCODE_DONE
    (position,) = mt5.positions_get()
    assert (position.magic, position.comment) == (2024, "over rpyc")

    close = request | {
        "type": mt5.ORDER_TYPE_SELL,
        "price": mt5.symbol_info_tick("XAUUSD").bid,
        "position": position.ticket,
    }
    assert mt5.order_send(conn.builtins.dict(close)).retcode == mt5.TRADE_RETCODE_DONE
    assert mt5.positions_total() == 0
    conn.close()


def test_rpyc_local_dict_netref_is_refused_like_the_real_extension(node_port: int) -> None:
    conn = rpyc.classic.connect("127.0.0.1", node_port)
    mt5 = conn.modules.MetaTrader5
    mt5.initialize(login=124, password="x", server="Sim-Demo")
    request = {"action": 1, "symbol": "XAUUSD", "volume": 0.1, "type": 0, "type_filling": 1}
    assert mt5.order_send(request) is None
    assert tuple(mt5.last_error()) == (-2, "Unnamed arguments not allowed")
    conn.close()
