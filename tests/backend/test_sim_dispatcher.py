"""The simulator process's dispatcher: terminal calls wait the latency out in one queue and run
in batches, one broker lock hold and one commit per batch, answered only after that commit.

In process, on a real broker file: the dispatcher and the connection loop of
``services.mt5.sim_server`` over ``multiprocessing.Pipe`` connections (the framing the child
speaks), so faults can be injected into the broker directly.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from services.mt5 import sim_server
from services.mt5.sources import SimBrokers, SimSettings

LATENCY_S = 0.15
DONE = 10009
BUY = tuple(
    {"action": 1, "symbol": "XAUUSD", "volume": 0.1, "type": 0, "price": 0.0, "deviation": 20,
     "magic": 7, "comment": "d", "type_filling": 1, "type_time": 0}.items()
)  # fmt: skip


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[sim_server.Terminals]:
    brokers = SimBrokers(SimSettings(db_path=str(tmp_path / "sim.sqlite"), seed=1))
    yield sim_server.Terminals(brokers)
    brokers.close()


@pytest.fixture
def dispatcher(terminals: sim_server.Terminals) -> sim_server.Dispatcher:
    return sim_server.Dispatcher(terminals, LATENCY_S)


def logged_in(terminals: sim_server.Terminals, sid: str, login: int) -> None:
    terminals.handle(("open", sid, "default"))
    assert terminals.handle(("call", sid, "initialize", (), (), None))[0] is True
    kwargs = (("password", "pw"), ("server", "Sim-Demo"))
    assert terminals.handle(("call", sid, "login", (login,), kwargs, None))[0] is True


def answer(conn: Connection, timeout: float = 5.0) -> tuple[str, Any]:
    assert conn.poll(timeout), "no answer"
    return pickle.loads(conn.recv_bytes())  # type: ignore[no-any-return]


def order(sid: str) -> tuple[Any, ...]:
    return ("call", sid, "order_send", (), (), BUY)


def test_calls_wait_the_latency_and_a_batch_is_one_commit_answered_after_it(
    terminals: sim_server.Terminals, monkeypatch
) -> None:
    latency_s = 0.5  # the twenty submits land well within one latency, even on a loaded machine
    dispatcher = sim_server.Dispatcher(terminals, latency_s)
    pipes = [Pipe() for _ in range(20)]
    for k in range(20):
        logged_in(terminals, f"s{k}", 51_000 + k)
    store = terminals.brokers.get("default").store
    commits: list[int] = []
    commit = store._commit_queued

    def counted() -> None:
        commits.append(len(store._queued))
        commit()

    monkeypatch.setattr(store, "_commit_queued", counted)
    started = time.monotonic()

    for k, (ours, _theirs) in enumerate(pipes):
        dispatcher.submit(ours, order(f"s{k}"))
    answers = [answer(theirs) for _ours, theirs in pipes]

    waited = time.monotonic() - started
    assert all(kind == "ok" and value[0]["retcode"] == DONE for kind, value in answers)
    assert latency_s <= waited < latency_s + 2.0
    assert [n for n in commits if n] == [20]  # twenty fills queued, one transaction
    tickets = {value[0]["order"] for _kind, value in answers}
    assert len(tickets) == 20


def test_a_failed_commit_answers_every_call_of_its_batch_raised(
    terminals: sim_server.Terminals, dispatcher: sim_server.Dispatcher, monkeypatch
) -> None:
    logged_in(terminals, "a", 52_001)
    logged_in(terminals, "b", 52_002)
    store = terminals.brokers.get("default").store

    def disk_full() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store, "_commit_queued", disk_full)
    (a, a_far), (b, b_far) = Pipe(), Pipe()

    dispatcher.submit(a, order("a"))
    dispatcher.submit(b, order("b"))

    for far in (a_far, b_far):
        kind, value = answer(far)
        assert kind == "raised" and isinstance(value, OSError) and "disk full" in str(value)
    monkeypatch.undo()  # the dispatcher carries on: the next call is answered
    dispatcher.submit(a, ("call", "a", "account_info", (), (), None))
    kind, value = answer(a_far)
    assert kind == "ok" and value[0]["login"] == 52_001


def test_a_fault_that_sleeps_holds_up_only_its_own_call(
    terminals: sim_server.Terminals, dispatcher: sim_server.Dispatcher
) -> None:
    logged_in(terminals, "slow", 53_001)
    logged_in(terminals, "fast", 53_002)
    terminals.brokers.get("default").inject_fault(53_001, "timeout", delay_s=1.5)
    (slow, slow_far), (fast, fast_far) = Pipe(), Pipe()
    started = time.monotonic()

    dispatcher.submit(slow, order("slow"))
    dispatcher.submit(fast, order("fast"))

    kind, value = answer(fast_far)
    assert kind == "ok" and value[0]["retcode"] == DONE
    assert time.monotonic() - started < 1.2  # not behind the sleeping fault
    kind, value = answer(slow_far)
    assert kind == "raised" and isinstance(value, TimeoutError)
    assert time.monotonic() - started >= 1.5


def test_the_connection_loop_answers_other_requests_at_once_and_calls_after_the_latency(
    terminals: sim_server.Terminals, dispatcher: sim_server.Dispatcher
) -> None:
    ours, theirs = Pipe()
    loop = threading.Thread(target=sim_server.serve, args=(ours, terminals, dispatcher))
    loop.start()
    try:
        started = time.monotonic()
        theirs.send_bytes(pickle.dumps(("open", "x", "default")))
        assert answer(theirs) == ("ok", None)
        assert time.monotonic() - started < LATENCY_S  # no round trip for the session itself

        started = time.monotonic()
        theirs.send_bytes(pickle.dumps(("call", "x", "initialize", (), (), None)))
        kind, (value, _error) = answer(theirs)
        assert kind == "ok" and value is True
        assert time.monotonic() - started >= LATENCY_S

        theirs.send_bytes(pickle.dumps(("call", "nobody", "account_info", (), (), None)))
        kind, value = answer(theirs)
        assert kind == "raised" and isinstance(value, ConnectionError)  # an unknown session
    finally:
        theirs.close()
        loop.join(5)
    assert not loop.is_alive()  # the loop ends with its connection
