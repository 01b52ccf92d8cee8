"""The rpyc:// backend end to end: `flask mt5 serve-simulator` in a subprocess, a gateway on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from errors import MT5AuthFailed, MT5Unavailable, OrderOutcomeUnknown
from services.mt5.dto import AccountRef, OrderRequest
from services.mt5.gateway import MT5Gateway
from services.mt5.remote_module import remote_module
from services.mt5.sources import SimSettings

BACKEND = Path(__file__).resolve().parents[2] / "backend"
DONE = 10009


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, node: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if node.poll() is not None:
            raise RuntimeError(f"serve-simulator exited with {node.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("serve-simulator did not open its port")


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("node")
    port = free_port()
    env = {
        **os.environ,
        "FLASK_ENV": "development",
        "DATABASE_PATH": str(tmp / "app.sqlite"),
        "LOG_DIR": str(tmp / "logs"),
        "MT5_SIM_LATENCY_MS": "0",
        "DATABASE_URL": "",
    }
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "app:create_app",
        "mt5",
        "serve-simulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        str(tmp / "node-sim.sqlite"),
    ]
    node = subprocess.Popen(command, cwd=BACKEND, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, node)
        yield f"rpyc://127.0.0.1:{port}"
    finally:
        node.terminate()
        node.wait(timeout=10)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[MT5Gateway]:
    gw = MT5Gateway(sim=SimSettings(db_path=str(tmp_path / "unused.sqlite")))
    yield gw
    gw.close()


def account(url: str, login: int, password: str = "pw") -> AccountRef:
    return AccountRef(
        account_id=login, terminal=url, login=login, password=password, server="Sim-Demo"
    )


def test_gateway_over_rpyc_connects_trades_and_closes(gateway: MT5Gateway, node_url: str) -> None:
    ref = account(node_url, 31001)
    since = datetime.now(UTC)

    snapshot, terminal, latency_ms = gateway.connect(ref)
    spec = gateway.symbol_spec(ref, "GOLD")
    opened = gateway.send_order(
        ref,
        OrderRequest(
            symbol=spec.name, side="buy", volume=Decimal("0.2"), magic=77, comment="rpyc-row-1"
        ),
    )
    [position] = gateway.positions(ref)
    closed = gateway.send_order(
        ref,
        OrderRequest(
            symbol=spec.name,
            side="sell",
            volume=Decimal("0.2"),
            magic=77,
            comment="rpyc-close-1",
            position=position.ticket,
        ),
    )

    assert snapshot.login == 31001 and terminal.simulated and latency_ms > 0
    assert (spec.name, spec.contract_size) == ("XAUUSD", Decimal(100))
    assert opened.retcode == closed.retcode == DONE
    assert (position.magic, position.comment, position.volume) == (77, "rpyc-row-1", Decimal("0.2"))
    assert gateway.positions(ref) == []
    tagged = gateway.find_tagged(ref, magic=77, comment="rpyc-row-1", since=since)
    assert tagged is not None and tagged.order == opened.order and tagged.state == "filled"


def test_gateway_over_rpyc_wrong_password_raises_auth_failed(
    gateway: MT5Gateway, node_url: str
) -> None:
    gateway.connect(account(node_url, 31002))

    with pytest.raises(MT5AuthFailed):
        gateway.connect(account(node_url, 31002, password="wrong"))


def test_gateway_over_rpyc_switches_login_between_accounts(
    gateway: MT5Gateway, node_url: str
) -> None:
    first, second = account(node_url, 31003), account(node_url, 31004)
    gateway.connect(first), gateway.connect(second)

    assert gateway.account_snapshot(first).login == 31003
    assert gateway.account_snapshot(second).login == 31004


def test_gateway_over_rpyc_reconnects_after_the_link_drops(
    gateway: MT5Gateway, node_url: str
) -> None:
    ref = account(node_url, 31005)
    gateway.connect(ref)
    slot = gateway._slots[node_url]
    slot.session.conn.close()  # type: ignore[attr-defined]

    assert gateway.account_snapshot(ref).login == 31005


def test_gateway_over_rpyc_none_from_order_send_is_outcome_unknown(node_url: str) -> None:
    # The node's broker is reachable over the classic link: inject the fault there.
    import rpyc

    conn = rpyc.classic.connect("127.0.0.1", int(node_url.rsplit(":", 1)[1]))
    gateway = MT5Gateway(sim=SimSettings(db_path=":memory:"))
    ref = account(node_url, 31006)
    gateway.connect(ref)
    conn.modules.MetaTrader5.broker.inject_fault(31006, "none")

    with pytest.raises(OrderOutcomeUnknown) as caught:
        gateway.send_order(ref, OrderRequest(symbol="XAUUSD", side="buy", volume=Decimal("0.1")))

    assert caught.value.last_error == (-10001, "IPC send failed")
    gateway.close()
    conn.close()


def test_gateway_unreachable_node_raises_mt5_unavailable(gateway: MT5Gateway) -> None:
    with pytest.raises(MT5Unavailable):
        gateway.connect(account(f"rpyc://127.0.0.1:{free_port()}", 31007))


def test_health_over_rpyc_reports_a_simulated_reachable_node(
    gateway: MT5Gateway, node_url: str
) -> None:
    report = gateway.health(node_url)

    assert report["ok"] and report["connected"] and report["simulated"]


# --- a script written for the real MetaTrader5 package, unchanged ------------------------------


def script_for_the_real_package(mt5: Any, login: int) -> None:
    """What MetaQuotes' own examples do: initialize, login, look, buy, close by position."""
    assert mt5.initialize(), mt5.last_error()
    assert mt5.login(login, password="script-pw", server="Sim-Demo"), mt5.last_error()
    info = mt5.symbol_info("XAUUSD")
    assert info is not None and info.trade_contract_size == 100.0
    tick = mt5.symbol_info_tick("XAUUSD")
    request = {
        "action": mt5.TRADE_ACTION_DEAL, "symbol": "XAUUSD", "volume": 0.1,
        "type": mt5.ORDER_TYPE_BUY, "price": tick.ask, "deviation": 20, "magic": 234000,
        "comment": "python script open", "type_time": mt5.ORDER_TIME_GTC,
        "type_filling": mt5.ORDER_FILLING_IOC,
    }  # fmt: skip
    result = mt5.order_send(request)
    assert result.retcode == mt5.TRADE_RETCODE_DONE, result._asdict()
    (position,) = mt5.positions_get(symbol="XAUUSD")
    close = {
        "action": mt5.TRADE_ACTION_DEAL, "symbol": "XAUUSD", "volume": position.volume,
        "type": mt5.ORDER_TYPE_SELL, "position": position.ticket,
        "price": mt5.symbol_info_tick("XAUUSD").bid, "deviation": 20, "magic": 234000,
        "comment": "python script close", "type_time": mt5.ORDER_TIME_GTC,
        "type_filling": mt5.ORDER_FILLING_IOC,
    }  # fmt: skip
    assert mt5.order_send(close).retcode == mt5.TRADE_RETCODE_DONE
    assert mt5.positions_get(symbol="XAUUSD") == ()
    mt5.shutdown()


def test_script_for_the_real_package_runs_unchanged_over_rpyc(node_url: str) -> None:
    mt5 = remote_module(node_url)
    try:
        script_for_the_real_package(mt5, 31010)
    finally:
        mt5.close()


def test_script_for_the_real_package_runs_unchanged_in_process(tmp_path: Path) -> None:
    from mt5sim.broker import Broker
    from mt5sim.facade import make_module

    broker = Broker(str(tmp_path / "script.sqlite"))
    script_for_the_real_package(make_module(broker), 31011)
    broker.close()
