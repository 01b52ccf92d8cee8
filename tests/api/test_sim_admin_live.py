"""`flask mt5 sim-account` / `set-quote` against a running server: the next API call sees them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import assert_error, auth_headers, make_account, make_user

BACKEND = Path(__file__).resolve().parents[2] / "backend"
MT5_PASSWORD = "Admin-Made-1!"


@pytest.fixture
def headers(app, client):
    return auth_headers(client, make_user(app))


@pytest.fixture
def running(app, client, headers, sim_broker) -> dict[str, Any]:
    """The server has traded: its simulated broker is open, in memory, owning MT5_SIM_DB."""
    account = make_account(client, headers)
    assert client.post(f"/api/accounts/{account['id']}/connect", headers=headers).status_code == 200
    assert sim_broker().owns_file
    return account


def flask_cli(app, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it: another process, the same MT5_SIM_DB."""
    env = {
        **os.environ,
        "FLASK_ENV": "development",
        "MT5_SIM_DB": app.config["MT5_SIM_DB"],
        "DATABASE_PATH": str(tmp_path / "db.sqlite"),
        "DATABASE_URL": "",
        "LOG_DIR": str(tmp_path / "cli-logs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "mt5", *args],
        cwd=BACKEND, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def connect(client, headers, login: str, password: str = MT5_PASSWORD) -> Any:
    account = make_account(client, headers, login=login, password=password)
    return client.post(f"/api/accounts/{account['id']}/connect", headers=headers)


def test_sim_account_in_another_process_is_seen_by_the_running_server(
    app, client, headers, running, tmp_path
):
    done = flask_cli(
        app, tmp_path, "sim-account", "7100001", "--password", MT5_PASSWORD, "--server",
        "Sim-Demo", "--balance", "2500", "--currency", "EUR", "--margin-mode", "netting",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == (
        "created 7100001 on Sim-Demo: 2500 EUR, 1:100, netting "
        f"(applied by the running simulator, pid {os.getpid()})"
    )
    response = connect(client, headers, "7100001")
    assert response.status_code == 200, response.get_json()
    info = response.get_json()["account_info"]
    assert (info["balance"], info["currency"], info["margin_mode"]) == ("2500.00", "EUR", "netting")


def test_sim_account_password_is_the_one_the_running_server_checks(app, client, headers, running):
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["mt5", "sim-account", "7100002", "--password", MT5_PASSWORD, "--server", "Sim-Demo"]
    )
    assert created.exit_code == 0, created.output

    response = connect(client, headers, "7100002", password="Not-The-Admins-1!")

    assert_error(response, 422, "mt5_auth_failed")


def test_sim_account_top_up_moves_the_running_balance(app, client, headers, running):
    runner = app.test_cli_runner()

    funded = runner.invoke(
        args=["mt5", "sim-account", running["login"], "--password", "x", "--server", "Sim-Demo",
              "--balance", "-250.50"]
    )  # fmt: skip

    assert funded.exit_code == 0, funded.output
    assert funded.output.startswith(f"funded {running['login']} with -250.50; balance 9749.50")
    response = client.post(f"/api/accounts/{running['id']}/connect", headers=headers)
    assert response.get_json()["account_info"]["balance"] == "9749.50"


def test_set_quote_on_the_running_server_prices_the_next_order(app, client, headers, running):
    runner = app.test_cli_runner()

    quoted = runner.invoke(args=["mt5", "set-quote", "XAUUSD", "2500.00", "2500.30", "--freeze"])

    assert quoted.exit_code == 0, quoted.output
    assert "XAUUSD 2500.00/2500.30 on sim://default (frozen)" in quoted.output
    body = {"account_ids": [running["id"]], "symbol": "XAUUSD", "side": "buy", "volume": "0.10",
            "wait_s": 10}  # fmt: skip
    response = client.post("/api/send_orders", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    (target,) = response.get_json()["targets"]
    assert (target["status"], target["price"]) == ("executed", "2500.3")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set-quote", "NOPE", "1", "2"], "unknown symbol NOPE"),
        (["set-quote", "XAUUSD", "2", "1"], "BID must not exceed ASK"),
        (["set-quote", "XAUUSD", "abc", "1"], "BID and ASK must be decimals"),
        (["set-quote", "XAUUSD", "0", "1"], "positive"),
        (["sim-account", "7100003", "--password", "p", "--server", "S", "--currency", "XYZ"],
         "unsupported account currency XYZ"),
        (["sim-account", "7100003", "--password", "p", "--server", "S", "--balance", "lots"],
         "must be a decimal"),
    ],
)  # fmt: skip
def test_refused_change_exits_non_zero_and_changes_nothing(app, running, sim_broker, args, message):
    broker = sim_broker()
    before = broker.prices.quote("XAUUSD")

    result = app.test_cli_runner().invoke(args=["mt5", *args])

    assert result.exit_code != 0
    assert message in result.output
    assert 7100003 not in broker.accounts and broker.prices.quote("XAUUSD") == before


def test_unconfirmed_change_reports_it_stays_queued(app, tmp_path):
    from mt5sim.ownership import OwnerLock

    db_path = str(tmp_path / "stuck.sqlite")
    stuck = OwnerLock.acquire(db_path)  # a simulator that owns the file but never looks
    try:
        result = app.test_cli_runner().invoke(
            args=["mt5", "set-quote", "XAUUSD", "1", "2", "--db", db_path, "--wait", "0.1"]
        )
    finally:
        assert stuck is not None
        stuck.release()

    assert result.exit_code == 1
    assert f"(pid {os.getpid()}) did not confirm request 1 within 0.1 s" in result.output
    assert "stays queued" in result.output


def test_with_no_server_running_the_command_applies_it_to_the_file(app, tmp_path):
    from mt5sim.broker import Broker

    db_path = str(tmp_path / "idle.sqlite")

    result = app.test_cli_runner().invoke(
        args=["mt5", "sim-account", "7100004", "--password", "p", "--server", "Sim-Demo",
              "--db", db_path]
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created 7100004 on Sim-Demo: 10000 USD, 1:100, hedging"
    broker = Broker(db_path, step_ms=0)
    assert broker.accounts[7100004].balance == 10000
    broker.close()
