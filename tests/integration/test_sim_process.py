"""The simulated brokers in a child process (MT5_SIM_PROCESS): a real child, real sockets.

What the server's default run does: trading through the child, what its terminal calls raise
arriving as raised in process, a SIGKILLed child replaced on the next call with its books
intact, a mid-broadcast kill that neither loses nor doubles an order, the key, the private
socket directory, and a child that does not outlive its server.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from multiprocessing.connection import Client
from multiprocessing.context import AuthenticationError
from pathlib import Path

import pytest
from ledger_helpers import (
    broker_fills,
    new_dispatch,
    running_ledger,
    seed_accounts,
    wait_final,
    wait_one_executed,
)

from services.mt5.dto import AccountRef, OrderRequest
from services.mt5.gateway import MT5Gateway
from services.mt5.sim_process import SimProcess, SimProcessSession
from services.mt5.sources import SimSettings

BACKEND = Path(__file__).resolve().parents[2] / "backend"
DONE = 10009


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[MT5Gateway]:
    gw = MT5Gateway.from_config(
        {"MT5_SIM_DB": str(tmp_path / "sim.sqlite"), "MT5_SIM_PROCESS": True, "EXECUTOR_THREADS": 4}
    )
    yield gw
    gw.close()


def account(login: int, password: str = "pw") -> AccountRef:
    return AccountRef(
        account_id=login,
        terminal="sim://default",
        login=login,
        password=password,
        server="Sim-Demo",
    )


def child_process(db_path: Path) -> SimProcess:
    """A SimProcess of its own (not a gateway's): the settings a gateway would hand it."""
    return SimProcess(SimSettings(db_path=str(db_path), seed=1).for_child(), timeout_s=10)


def child_of(gateway: MT5Gateway) -> SimProcess:
    process = gateway.sources.sim_process
    assert process is not None
    return process


def test_trades_through_the_child_process_and_its_file(gateway: MT5Gateway, tmp_path: Path) -> None:
    ref = account(41001)
    since = datetime.now(UTC)

    snapshot, terminal, _latency = gateway.connect(ref)
    spec = gateway.symbol_spec(ref, "GOLD")
    opened = gateway.send_order(
        ref,
        OrderRequest(symbol=spec.name, side="buy", volume=Decimal("0.2"), magic=5, comment="p-1"),
    )
    [position] = gateway.positions(ref)

    process = child_of(gateway)
    assert process.pid is not None and process.pid != os.getpid()
    assert gateway.sources.brokers.opened() == []  # no broker of this process touched the file
    assert snapshot.login == 41001 and terminal.simulated
    assert (spec.name, spec.contract_size) == ("XAUUSD", Decimal(100))
    assert opened.retcode == DONE and position.volume == Decimal("0.2")
    tagged = gateway.find_tagged(ref, magic=5, comment="p-1", since=since)
    assert tagged is not None and tagged.order == opened.order
    assert (tmp_path / "sim.sqlite").stat().st_size > 0


def test_wrong_password_is_auth_failed_as_in_process(gateway: MT5Gateway) -> None:
    from errors import MT5AuthFailed

    gateway.connect(account(41002))

    with pytest.raises(MT5AuthFailed):
        gateway.connect(account(41002, password="wrong"))


def test_an_error_of_the_call_itself_comes_back_raised_and_keeps_the_session(
    gateway: MT5Gateway,
) -> None:
    ref = account(41003)
    gateway.connect(ref)
    slot = gateway._slots["sim://default#41003"]
    session = slot.session

    with pytest.raises(AttributeError):
        session.call("no_such_function")

    assert not session.broken and slot.session is session
    assert gateway.account_snapshot(ref).login == 41003


def test_a_killed_child_is_replaced_on_the_next_call_with_its_books(gateway: MT5Gateway) -> None:
    ref = account(41004)
    gateway.connect(ref)
    gateway.send_order(
        ref,
        OrderRequest(symbol="XAUUSD", side="buy", volume=Decimal("0.1"), magic=6, comment="k-1"),
    )
    process = child_of(gateway)
    first_pid, first_generation = process.pid, process.generation

    process.kill()
    positions = gateway.positions(ref)  # the slot finds its session broken and opens another

    assert process.pid != first_pid and process.generation == first_generation + 1
    assert [(p.comment, p.volume) for p in positions] == [("k-1", Decimal("0.1"))]


def test_an_order_in_flight_when_the_child_dies_is_an_unknown_outcome(tmp_path: Path) -> None:
    from errors import OrderOutcomeUnknown

    slow = MT5Gateway.from_config(
        {"MT5_SIM_DB": str(tmp_path / "slow.sqlite"), "MT5_SIM_PROCESS": True,
         "MT5_SIM_LATENCY_MS": 400}
    )  # fmt: skip
    try:
        ref = account(41005)
        slow.connect(ref)
        process = child_of(slow)
        killer = threading.Timer(0.2, process.kill)  # while order_send waits out its latency
        send = process.request

        def request_then_kill(*message: object) -> object:
            if message[:3] == ("call", message[1], "order_send"):
                killer.start()
            return send(*message)

        process.request = request_then_kill  # type: ignore[method-assign]
        order = OrderRequest(symbol="XAUUSD", side="buy", volume=Decimal("0.1"), comment="u-1")
        with pytest.raises(OrderOutcomeUnknown):
            slow.send_order(ref, order)
        killer.join()
        process.request = send  # type: ignore[method-assign]

        assert slow.account_snapshot(ref).login == 41005  # a new child, the same books
    finally:
        slow.close()


def test_a_connection_without_the_key_is_refused_and_the_child_serves_on(
    gateway: MT5Gateway,
) -> None:
    ref = account(41006)
    gateway.connect(ref)
    process = child_of(gateway)

    with pytest.raises(AuthenticationError):
        Client(process._address, family="AF_UNIX", authkey=b"not the key")

    mode = stat.S_IMODE(os.stat(os.path.dirname(process._address)).st_mode)
    assert mode == 0o700
    assert gateway.account_snapshot(ref).login == 41006


def test_close_stops_the_child_and_removes_its_socket(tmp_path: Path) -> None:
    process = child_process(tmp_path / "s.sqlite")
    session = SimProcessSession(key="k", simulated=True, process=process, target="default")
    assert session.call("initialize") == (True, (1, "Success"))
    child, address = process._process, process._address
    assert child is not None

    process.close()

    assert child.poll() is not None and not os.path.exists(os.path.dirname(address))
    assert session.broken


def test_the_child_leaves_when_its_server_is_killed(tmp_path: Path) -> None:
    script = (
        "import os\n"
        "from services.mt5.sim_process import SimProcess, SimProcessSession\n"
        "from services.mt5.sources import SimSettings\n"
        f"settings = SimSettings(db_path={str(tmp_path / 'o.sqlite')!r}, seed=1).for_child()\n"
        "p = SimProcess(settings, timeout_s=10)\n"
        "SimProcessSession(key='k', simulated=True, process=p, target='default')\n"
        "print(p.pid, os.path.dirname(p._address), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    server = subprocess.run(
        [sys.executable, "-c", script], cwd=BACKEND, capture_output=True, timeout=60, check=False
    )
    child, directory = int(server.stdout.split()[0]), server.stdout.split()[1].decode()

    deadline = time.monotonic() + 10
    while _running(child):
        assert time.monotonic() < deadline, "the simulator process outlived its server"
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while os.path.exists(directory):  # the child takes its socket directory with it
        assert time.monotonic() < deadline, f"{directory} left behind"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as status:  # a zombie of init is gone for our purpose
        return status.read().split(")")[-1].split()[0] != "Z"


def test_broadcast_survives_the_child_killed_mid_way_each_target_once(tmp_path, migrated_sqlite):
    settings = {"MT5_SIM_PROCESS": True, "MT5_SIM_LATENCY_MS": 60}
    with running_ledger(tmp_path, migrated_sqlite, **settings) as app:
        admin, accounts = seed_accounts(app, 8)
        logins = [int(a.login) for a in accounts]
        dispatch_id = new_dispatch(app, admin, accounts, expires_in_s=600)
        app.extensions["executor"].submit_dispatch(dispatch_id)
        wait_one_executed(dispatch_id)
        child_of(app.extensions["mt5_gateway"]).kill()
        rows = wait_final(dispatch_id, timeout=120)

    statuses = {r.status for r in rows}
    assert statuses <= {"executed", "failed"}, [(r.id, r.status, r.error_message) for r in rows]
    failed = [r for r in rows if r.status == "failed"]
    assert all((r.error_message or "").startswith("mt5_") for r in failed), [
        (r.id, r.error_message) for r in failed
    ]
    fills = broker_fills(str(tmp_path / "sim.sqlite"), logins)
    assert fills == {r.comment_tag: 1 for r in rows if r.status == "executed"}


def test_no_child_is_started_after_close(tmp_path: Path) -> None:
    process = child_process(tmp_path / "c.sqlite")
    process.ensure()
    process.close()

    with pytest.raises(ConnectionError):
        SimProcessSession(key="late", simulated=True, process=process, target="default")
    assert process.pid is None


# --- the link itself: one send and, usually, one recv a request ---------------------------


def link_pair(timeout_s: float = 5.0):
    import socket
    from multiprocessing.connection import Connection

    from services.mt5.sim_process import Link

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    conn = Connection(ours.detach())
    try:
        link = Link(conn, generation=1, timeout_s=timeout_s)
    finally:
        conn.close()
    return link, Connection(theirs.detach())  # the child's end speaks multiprocessing's framing


@pytest.mark.parametrize("size", [0, 10, 16_385, 300_000])
def test_an_answer_of_any_size_comes_back_whole(size: int) -> None:
    link, peer = link_pair()
    answer = os.urandom(size)
    asked: list[bytes] = []
    serving = threading.Thread(target=lambda: (asked.append(peer.recv_bytes()),
                                               peer.send_bytes(answer)))  # fmt: skip
    serving.start()
    assert link.exchange(b"a request") == answer
    serving.join(5)
    assert asked == [b"a request"]
    link.close()
    peer.close()


def test_a_link_without_an_answer_in_time_times_out_and_a_closed_one_is_lost() -> None:
    from services.mt5.sim_process import LinkTimeout

    link, peer = link_pair(timeout_s=0.2)
    started = time.monotonic()
    with pytest.raises(LinkTimeout):
        link.exchange(b"nobody answers")
    assert 0.15 < time.monotonic() - started < 2
    assert peer.recv_bytes() == b"nobody answers"
    peer.close()
    with pytest.raises((EOFError, ConnectionError)):  # what request() calls a lost link
        link.exchange(b"the child has gone")
    link.close()


def test_a_call_past_the_timeout_drops_its_link_and_the_next_call_works(tmp_path: Path) -> None:
    from services.mt5.sim_process import LinkTimeout

    settings = SimSettings(db_path=str(tmp_path / "sim.sqlite"), seed=1, latency_ms=600)
    process = SimProcess(settings.for_child(), timeout_s=0.2)
    try:
        process.request("open", "slow", "default")
        with pytest.raises(LinkTimeout):
            process.request("call", "slow", "terminal_info", (), (), None)  # sleeps 600 ms
        assert all(link.sock.fileno() != -1 for link in process._idle)  # not given back
        assert process.request("health", "default") == {"accounts": 0}
    finally:
        process.close()
