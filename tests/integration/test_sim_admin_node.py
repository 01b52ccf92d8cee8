"""`flask mt5 sim-account` / `set-quote` reach a running `flask mt5 serve-simulator` node."""

from __future__ import annotations

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


def flask_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FLASK_ENV": "development",
        "DATABASE_PATH": str(tmp_path / "db.sqlite"),
        "DATABASE_URL": "",
        "LOG_DIR": str(tmp_path / "logs"),
        "MT5_SIM_DB": str(tmp_path / "unused.sqlite"),
    }


def flask_mt5(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "mt5", *args],
        cwd=BACKEND, env=flask_env(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[int, str, int]]:
    """A running terminal node on its own simulator file: (port, file, pid)."""
    port, db_path = free_port(), str(tmp_path / "node.sqlite")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "mt5", "serve-simulator",
         "--port", str(port), "--db", db_path],
        cwd=BACKEND, env=flask_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                rpyc.classic.connect("127.0.0.1", port).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, db_path, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_commands_change_the_running_node_without_restart(node, tmp_path):
    port, db_path, pid = node
    conn = rpyc.classic.connect("127.0.0.1", port)
    mt5 = conn.modules.MetaTrader5
    assert mt5.initialize()

    created = flask_mt5(
        tmp_path, "sim-account", "880011", "--password", "pw", "--server", "Sim-Demo",
        "--balance", "1234.5", "--leverage", "500", "--db", db_path,
    )  # fmt: skip
    quoted = flask_mt5(
        tmp_path, "set-quote", "EURUSD", "1.2000", "1.2002", "--freeze", "--db", db_path
    )

    assert created.returncode == 0, created.stderr[-2000:]
    assert f"(applied by the running simulator, pid {pid})" in created.stdout
    assert quoted.returncode == 0, quoted.stderr[-2000:]
    assert mt5.login(880011, password="pw", server="Sim-Demo")
    info = mt5.account_info()
    assert (info.balance, info.leverage) == (1234.5, 500)
    tick = mt5.symbol_info_tick("EURUSD")
    assert (tick.bid, tick.ask) == (1.2, 1.2002)
    conn.close()
