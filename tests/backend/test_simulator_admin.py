"""Admin requests reach the broker that owns the simulator file: ownership, watcher, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from mt5sim import broker as broker_module
from mt5sim.admin_commands import RequestPending, RequestRefused, submit
from mt5sim.admin_requests import account_request, quote_request
from mt5sim.broker import Broker
from mt5sim.ownership import OwnerLock, holder_pid
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c

BACKEND = Path(__file__).resolve().parents[2] / "backend"
BUY_GOLD = {
    "action": c.TRADE_ACTION_DEAL, "symbol": "XAUUSD", "volume": 0.1,
    "type": c.ORDER_TYPE_BUY, "type_filling": c.ORDER_FILLING_IOC,
}  # fmt: skip


def account_payload(login: int, **overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "password": "pw", "server": "Sim-Demo", "balance": Decimal(2500), "currency": None,
        "leverage": 200, "netting": True,
    }  # fmt: skip
    fields.update(overrides)
    return account_request(login, **fields)  # type: ignore[arg-type]


@pytest.fixture
def sim_db(tmp_path: Path) -> str:
    return str(tmp_path / "sim.sqlite")


def test_submit_with_nothing_running_applies_to_the_file(sim_db):
    applied = submit(sim_db, "account", account_payload(501), wait_s=1)

    assert applied.result == "created 501 on Sim-Demo: 2500 USD, 1:200, netting"
    assert not applied.by_running_simulator
    broker = Broker(sim_db, step_ms=0)
    account = broker.accounts[501]
    assert (account.balance, account.leverage, account.margin_mode) == (Decimal(2500), 200, 0)
    assert broker.store.queued_requests() == []  # the command removed its answered request
    broker.close()


def test_submit_to_a_running_owner_is_applied_by_it_and_seen_by_its_terminals(sim_db):
    broker = Broker(sim_db, step_ms=0)
    terminal = SimTerminal(broker)
    assert broker.owns_file and terminal.initialize(login=1, password="x", server="Sim-Demo")

    applied = submit(sim_db, "account", account_payload(502, netting=False), wait_s=5)

    assert applied.result.endswith("hedging") and applied.by_running_simulator
    other = SimTerminal(broker)
    assert other.initialize(login=502, password="pw", server="Sim-Demo")
    info = other.account_info()
    assert (info.balance, info.margin_mode) == (2500.0, c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING)
    broker.close()


def test_submit_existing_login_funds_it(sim_db):
    broker = Broker(sim_db, step_ms=0)
    broker.create_account(503, "pw", "Sim-Demo", balance=Decimal(100))

    top_up = account_payload(503, balance=Decimal(50), leverage=None, netting=None)

    applied = submit(sim_db, "account", top_up, wait_s=5)

    assert applied.result == "funded 503 with 50; balance 150"
    assert broker.accounts[503].balance == Decimal(150)
    broker.close()


def test_submit_existing_login_says_which_settings_it_did_not_apply(sim_db):
    broker = Broker(sim_db, step_ms=0)
    broker.create_account(509, "pw", "Sim-Demo", balance=Decimal(100))
    other = account_payload(509, password="new", currency="USC", balance=Decimal(0), netting=None)

    applied = submit(sim_db, "account", other, wait_s=5)

    assert applied.result == (
        "funded 509 with 0; balance 100; 509 already exists, so these were not applied: "
        "--password; --currency USC (it holds USD); --leverage 200 (it has 1:100) "
        "(--reset recreates it with them)"
    )
    account = broker.accounts[509]
    assert (account.currency, account.leverage) == ("USD", 100)
    assert broker.authenticate(509, "pw", "Sim-Demo")
    broker.close()


def test_submit_existing_login_with_reset_recreates_it_without_its_records(sim_db):
    broker = Broker(sim_db, step_ms=0)
    broker.create_account(510, "pw", "Sim-Demo", balance=Decimal(10000))
    terminal = SimTerminal(broker)
    terminal.initialize(login=510, password="pw", server="Sim-Demo")
    assert terminal.order_send(BUY_GOLD).retcode == c.TRADE_RETCODE_DONE
    fresh = account_payload(510, password="new", currency="USC", netting=None, reset=True)

    applied = submit(sim_db, "account", fresh, wait_s=5)

    assert applied.result == (
        "recreated 510 on Sim-Demo: 2500 USC, 1:200, hedging "
        "(its orders, positions and deals were removed)"
    )
    assert broker.positions[510] == {} and len(broker.deals[510]) == 1  # the new deposit
    assert broker.authenticate(510, "new", "Sim-Demo")
    broker.close()
    reopened = Broker(sim_db, step_ms=0)
    assert (reopened.accounts[510].currency, reopened.positions[510]) == ("USC", {})
    assert len(reopened.deals[510]) == 1
    reopened.close()


def test_submit_quote_far_from_the_current_one_is_refused_naming_the_price_it_moves(sim_db):
    broker = Broker(sim_db, step_ms=0)
    before = broker.quote("XAUUSD")

    with pytest.raises(RequestRefused) as refused:
        submit(sim_db, "quote", quote_request("XAUUSD.m", Decimal(1), Decimal(2), freeze=False))

    assert str(refused.value) == (
        "XAUUSD.m 1/2 is 100% away from its quote 2350.00/2350.20; it would move the price of "
        "XAUUSD (GOLD, XAUUSD, XAUUSD.1oz, XAUUSD.m, XAUUSDc, XAUUSDm) for every account. "
        "More than 20% needs --force."
    )
    assert broker.quote("XAUUSD") == before
    broker.close()


def test_submit_quote_far_away_with_force_is_applied(sim_db):
    broker = Broker(sim_db, step_ms=0)
    payload = quote_request("XAUUSD.m", Decimal(1), Decimal(2), freeze=False, force=True)

    applied = submit(sim_db, "quote", payload, wait_s=5)

    assert applied.result.startswith("XAUUSD.m 1/2 on sim://default: moved the price of XAUUSD")
    assert broker.quote("GOLD") == (Decimal(1), Decimal(2))
    broker.close()


def test_submit_quote_fires_the_running_owners_pending_orders_once(sim_db):
    broker = Broker(sim_db, step_ms=0)
    terminal = SimTerminal(broker)
    terminal.initialize(login=504, password="pw", server="Sim-Demo")
    limit = {
        "action": c.TRADE_ACTION_PENDING, "symbol": "XAUUSD", "volume": 0.1,
        "type": c.ORDER_TYPE_BUY_LIMIT, "price": 2000.0, "type_filling": c.ORDER_FILLING_RETURN,
    }  # fmt: skip
    assert terminal.order_send(limit).retcode == c.TRADE_RETCODE_PLACED

    payload = quote_request("XAUUSD", Decimal("1999.50"), Decimal("1999.80"), freeze=True)
    applied = submit(sim_db, "quote", payload, wait_s=5)

    assert applied.result == (
        "XAUUSD 1999.50/1999.80 on sim://default (frozen): moved the price of XAUUSD (GOLD, "
        "XAUUSD, XAUUSD.1oz, XAUUSD.m, XAUUSDc, XAUUSDm) for every account (it was "
        "2350.00/2350.20)"
    )
    tick = terminal.symbol_info_tick("XAUUSD")
    assert (tick.bid, tick.ask) == (1999.5, 1999.8)
    (position,) = terminal.positions_get()
    assert position.price_open == 1999.8
    broker.close()
    reopened = Broker(sim_db, step_ms=0)
    assert reopened.prices.quote("XAUUSD") == (Decimal("1999.50"), Decimal("1999.80"))
    assert len(reopened.positions[504]) == 1  # filled by the owner, written once
    reopened.close()


@pytest.mark.parametrize(
    ("kind", "payload", "message"),
    [
        ("quote", quote_request("NOPE", Decimal(1), Decimal(2), freeze=False), "NOPE"),
        ("account", account_payload(505, currency="XYZ"), "unsupported account currency"),
    ],
)
def test_submit_refused_by_the_owner_raises_with_its_reason(sim_db, kind, payload, message):
    broker = Broker(sim_db, step_ms=0)

    with pytest.raises(RequestRefused, match=message):
        submit(sim_db, kind, payload, wait_s=5)

    assert 505 not in broker.accounts
    broker.close()


def test_submit_unknown_kind_is_refused_before_queueing(sim_db):
    with pytest.raises(ValueError, match="unknown admin request kind"):
        submit(sim_db, "balance", {}, wait_s=0)


def test_submit_owner_that_never_answers_leaves_it_queued_for_the_next_owner(sim_db):
    stuck = OwnerLock.acquire(sim_db)  # an owner that holds the file but does not look
    assert stuck is not None

    with pytest.raises(RequestPending) as pending:
        submit(sim_db, "account", account_payload(506), wait_s=0.2)

    assert pending.value.owner_pid == os.getpid()
    stuck.release()
    broker = Broker(sim_db, step_ms=0)  # applies what was queued as it opens
    assert broker.accounts[506].balance == Decimal(2500)
    assert broker.store.request_outcome(pending.value.request_id).done
    broker.close()


def test_login_to_an_account_still_queued_gets_the_admins_settings(sim_db, monkeypatch):
    monkeypatch.setattr(broker_module, "SYNC_INTERVAL_S", 3600)  # the watcher will not look
    broker = Broker(sim_db, step_ms=0)
    with pytest.raises(RequestPending):
        submit(sim_db, "account", account_payload(507, balance=Decimal(777)), wait_s=0.1)

    terminal = SimTerminal(broker)
    assert terminal.initialize(login=507, password="pw", server="Sim-Demo")

    assert terminal.account_info().balance == 777.0  # not the default 10000 of a first login
    assert SimTerminal(broker).initialize(login=507, password="other", server="Sim-Demo") is False
    broker.close()


def test_sync_without_outside_changes_does_nothing(sim_db):
    broker = Broker(sim_db, step_ms=0)
    terminal = SimTerminal(broker)
    terminal.initialize(login=508, password="pw", server="Sim-Demo")
    assert terminal.order_send(BUY_GOLD).retcode == c.TRADE_RETCODE_DONE

    assert broker.sync() == 0  # its own commits do not move data_version
    broker.close()
    assert broker.sync() == 0  # closed: nothing to look at


def test_second_broker_on_an_owned_file_is_a_guest_until_the_owner_closes(sim_db):
    owner = Broker(sim_db, step_ms=0)
    guest = Broker(sim_db, step_ms=0)

    assert owner.owns_file and not guest.owns_file
    assert guest.sync() == 0
    guest.close()
    owner.close()
    successor = Broker(sim_db, step_ms=0)
    assert successor.owns_file
    successor.close()


def test_memory_broker_owns_nothing(sim_db):
    broker = Broker(":memory:")

    assert not broker.owns_file and broker.sync() == 0
    broker.close()


def test_owner_lock_excludes_other_processes_and_names_the_holder(sim_db):
    lock = OwnerLock.acquire(sim_db)
    assert lock is not None
    probe = (
        "import sys; from mt5sim.ownership import OwnerLock; "
        f"print(OwnerLock.acquire({sim_db!r}, wait_s=0.1) is None)"
    )

    def other_process_blocked() -> str:
        env = {**os.environ, "PYTHONPATH": str(BACKEND)}
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30
        )
        return done.stdout.strip()

    assert other_process_blocked() == "True"
    assert holder_pid(sim_db) == os.getpid()
    lock.release()
    lock.release()  # twice is harmless
    assert other_process_blocked() == "False"


def test_lock_file_that_cannot_be_opened_means_no_owner(sim_db, caplog, monkeypatch):
    monkeypatch.setattr(broker_module, "OWNER_WAIT_S", 0)
    Path(f"{sim_db}.owner").mkdir()  # not a file: os.open fails as for another user's file

    broker = Broker(sim_db, step_ms=0)

    assert not broker.owns_file
    assert "cannot be opened" in caplog.text
    broker.close()


def test_broker_that_cannot_load_its_file_gives_the_file_back(tmp_path):
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"this is not a database" * 100)

    with pytest.raises(Exception, match="not a database"):
        Broker(str(corrupt), step_ms=0)

    lock = OwnerLock.acquire(str(corrupt))
    assert lock is not None
    lock.release()


def test_killed_broker_reopens_at_the_walks_last_quote_not_the_last_set_quote(sim_db):
    """The walk's quotes are saved as they move, so a process killed without close() (Ctrl-C
    on `make run`, a crash) restarts where the price was."""
    walk = (
        "import os; from decimal import Decimal; from mt5sim.broker import Broker\n"
        f"b = Broker({sim_db!r}, step_ms=0, seed=7)\n"
        "b.set_quote('XAUUSD', Decimal('2350.00'), Decimal('2350.20'))\n"
        "b.advance(50)\n"
        "print(*b.quote('XAUUSD'))\n"
        "os._exit(0)  # no close(): as a killed process\n"
    )
    env = {**os.environ, "PYTHONPATH": str(BACKEND)}
    done = subprocess.run(
        [sys.executable, "-c", walk], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    walked = tuple(Decimal(price) for price in done.stdout.split())

    reopened = Broker(sim_db, step_ms=0)

    assert walked != (Decimal("2350.00"), Decimal("2350.20"))
    assert reopened.quote("XAUUSD") == walked
    reopened.close()
