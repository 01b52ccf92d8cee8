"""The simulated brokers in a process of their own (``MT5_SIM_PROCESS``): the child's side.

Started by ``sim_process.SimProcess`` as ``python -m services.mt5.sim_server`` from backend/.
It reads one JSON line on stdin (the brokers' settings, the Unix socket to listen on, the auth
key, the parent's pid: never on the command line or in the environment, which ``ps`` shows),
listens, prints ``ready`` and serves each connection on a thread of its own. A request is a
tuple ``(op, *args)``:

- ``("open", sid, broker)``: a new simulated terminal of that broker, known as ``sid``;
- ``("call", sid, name, args, kwargs, request)``: ``wire.plain_call`` on it (the call, then
  ``last_error()``, results as plain dicts and tuples);
- ``("names", sid)``: its symbol names; ``("close", sid)``: shut it down and forget it;
- ``("health", broker)``: how many accounts that broker holds.

The answer is ``("ok", value)`` or ``("raised", exception)``. The child exits on SIGTERM (closing
the brokers' files) and when its parent is gone, so a killed server leaves no broker behind.

Terminal calls (``call``, ``names``) do not each sleep the simulated latency on their own thread:
a thousand threads waking at once and queueing for the interpreter's lock and the broker's cost
the child three times the broker's own work (0.29 ms of CPU an order against 0.07 in one
thread). The connection's thread hands the call to the ``Dispatcher``, which waits the latency
out in one queue (every call has the same, so the queue is in due order) and runs all the calls
due at that moment in one hold of each broker's lock: their writes are committed once, when the
hold ends, and only then are their answers sent, as a broker answers once its books are on disk.
A broker with an injected fault pending runs its calls on a thread each, as before (a "timeout"
fault sleeps and must not hold up the others).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import pickle
import signal
import sys
import threading
import time
from decimal import Decimal
from multiprocessing.connection import Connection, Listener
from multiprocessing.context import AuthenticationError
from typing import Any

from services.mt5 import wire
from services.mt5.sessions import to_plain
from services.mt5.sources import SimBrokers, SimSettings

logger = logging.getLogger("services.mt5.sim_server")
ORPHAN_CHECK_S = 1.0


class Terminals:
    """The open simulated terminals by session id."""

    def __init__(self, brokers: SimBrokers) -> None:
        self.brokers = brokers
        self._lock = threading.Lock()
        self._modules: dict[str, Any] = {}

    def broker_of(self, request: tuple[Any, ...]) -> Any:
        """The broker a terminal call acts on (None when its session is unknown)."""
        module = self._modules.get(request[1])
        return None if module is None else module.broker

    def handle(self, request: tuple[Any, ...]) -> Any:
        op, *args = request
        if op == "call":
            sid, name, call_args, kwargs, items = args
            return wire.plain_call(self._module(sid), name, call_args, kwargs, items, to_plain)
        if op == "open":
            sid, target = args
            module = self.brokers.module(target, sleeps=False)  # the Dispatcher waits instead
            with self._lock:
                self._modules[sid] = module
            return None
        if op == "names":
            return wire.symbol_names(self._module(args[0]))
        if op == "close":
            with self._lock:
                module = self._modules.pop(args[0], None)
            if module is not None:
                module.shutdown()
            return None
        if op == "health":
            return {"accounts": len(self.brokers.get(args[0]).accounts)}
        raise ValueError(f"unknown request {op!r}")

    def _module(self, sid: str) -> Any:
        module = self._modules.get(sid)
        if module is None:  # opened in an earlier life of this process: the link is stale
            raise ConnectionError("no such terminal session in the simulator process")
        return module


TERMINAL_CALLS = ("call", "names")  # what a terminal's round trip delays


def reply_of(terminals: Terminals, request: tuple[Any, ...]) -> bytes:
    """The pickled answer to one request: its value, or the exception it raised."""
    try:
        reply: tuple[str, Any] = ("ok", terminals.handle(request))
    except Exception as exc:  # the terminal call's own error: raised again over there
        reply = ("raised", exc)
    return _pickled(reply)


def _pickled(reply: tuple[str, Any]) -> bytes:
    try:
        return pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):
        failure = RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")
        return pickle.dumps(("raised", failure), pickle.HIGHEST_PROTOCOL)


def _send(conn: Connection, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server went away: nobody is waiting for it
        conn.send_bytes(data)


class Dispatcher:
    """Terminal calls after the simulated latency, a batch of due calls at a time."""

    def __init__(self, terminals: Terminals, latency_s: float) -> None:
        self.terminals = terminals
        self.latency_s = latency_s
        self._due: collections.deque[tuple[float, Connection, tuple[Any, ...]]] = (
            collections.deque()
        )
        self._arrived = threading.Condition()
        threading.Thread(target=self._run, name="dispatcher", daemon=True).start()

    def submit(self, conn: Connection, request: tuple[Any, ...]) -> None:
        """Answer ``request`` on ``conn`` once its round trip is over."""
        with self._arrived:
            self._due.append((time.monotonic() + self.latency_s, conn, request))
            if len(self._due) == 1:  # a later arrival is due later: only a new head wakes us
                self._arrived.notify()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                self._execute(batch)
            except Exception:  # never leave: the calls after these still need answers
                logger.exception("simulator process: a batch of %s calls failed", len(batch))

    def _next_batch(self) -> list[tuple[Connection, tuple[Any, ...]]]:
        with self._arrived:
            while True:
                if not self._due:
                    self._arrived.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait <= 0:
                    break
                self._arrived.wait(wait)
            now = time.monotonic()
            batch = []
            while self._due and self._due[0][0] <= now:
                _, conn, request = self._due.popleft()
                batch.append((conn, request))
            return batch

    def _execute(self, batch: list[tuple[Connection, tuple[Any, ...]]]) -> None:
        by_broker: dict[int, tuple[Any, list[tuple[Connection, tuple[Any, ...]]]]] = {}
        for conn, request in batch:
            broker = self.terminals.broker_of(request)
            if broker is None or broker.has_faults:
                threading.Thread(target=self._answer, args=(conn, request), daemon=True).start()
            else:
                by_broker.setdefault(id(broker), (broker, []))[1].append((conn, request))
        for broker, calls in by_broker.values():
            try:
                with broker.lock:  # leaving the outermost hold commits every call's writes
                    answers = [(conn, reply_of(self.terminals, request)) for conn, request in calls]
            except Exception as exc:  # the commit failed: none of these calls is on disk
                logger.exception("simulator process: committing %s calls failed", len(calls))
                answers = [(conn, _pickled(("raised", exc))) for conn, _ in calls]
            for conn, data in answers:
                _send(conn, data)

    def _answer(self, conn: Connection, request: tuple[Any, ...]) -> None:
        _send(conn, reply_of(self.terminals, request))


def serve(conn: Connection, terminals: Terminals, dispatcher: Dispatcher) -> None:
    """Read one connection's requests until it closes; a request is answered before the next
    arrives (its caller waits), terminal calls by the dispatcher, the rest right here."""
    with conn:
        while True:
            try:
                request = pickle.loads(conn.recv_bytes())  # noqa: S301 (our parent, authenticated)
            except (EOFError, OSError):
                return
            if request[0] in TERMINAL_CALLS:
                dispatcher.submit(conn, request)
            else:
                _send(conn, reply_of(terminals, request))


def _leave_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_S)
    os.kill(os.getpid(), signal.SIGTERM)


def _settings(raw: dict[str, Any]) -> SimSettings:
    return SimSettings(
        **{**raw, "commission_per_lot": Decimal(str(raw.get("commission_per_lot") or 0))}
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = json.loads(sys.stdin.readline())
    brokers = SimBrokers(_settings(config["settings"]))
    terminals = Terminals(brokers)
    dispatcher = Dispatcher(terminals, brokers.settings.latency_ms / 1000)
    listener = Listener(
        config["address"], family="AF_UNIX", authkey=bytes.fromhex(config["authkey"])
    )

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=_leave_with_parent, args=(config["parent"],), daemon=True).start()
    print("ready", flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing more goes to the parent's pipe
    try:
        while True:
            try:
                conn = listener.accept()
            except AuthenticationError:
                logger.warning("simulator process: a connection without the key was refused")
                continue
            threading.Thread(target=serve, args=(conn, terminals, dispatcher), daemon=True).start()
    finally:
        listener.close()  # unlinks the socket
        brokers.close()
        with contextlib.suppress(OSError):  # the server's mkdtemp: gone with us, however it ended
            os.rmdir(os.path.dirname(config["address"]))


if __name__ == "__main__":
    main()
