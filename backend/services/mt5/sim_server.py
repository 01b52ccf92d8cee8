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
"""

from __future__ import annotations

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

    def handle(self, request: tuple[Any, ...]) -> Any:
        op, *args = request
        if op == "call":
            sid, name, call_args, kwargs, items = args
            return wire.plain_call(self._module(sid), name, call_args, kwargs, items, to_plain)
        if op == "open":
            sid, target = args
            module = self.brokers.module(target)
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


def serve(conn: Connection, terminals: Terminals) -> None:
    """Answer one connection's requests, one after another, until it closes."""
    with conn:
        while True:
            try:
                request = pickle.loads(conn.recv_bytes())  # noqa: S301 (our parent, authenticated)
            except (EOFError, OSError):
                return
            try:
                reply: tuple[str, Any] = ("ok", terminals.handle(request))
            except Exception as exc:  # the terminal call's own error: raised again over there
                reply = ("raised", exc)
            try:
                data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError):
                failure = RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}")
                data = pickle.dumps(("raised", failure), pickle.HIGHEST_PROTOCOL)
            try:
                conn.send_bytes(data)
            except OSError:
                return


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
            threading.Thread(target=serve, args=(conn, terminals), daemon=True).start()
    finally:
        listener.close()  # unlinks the socket
        brokers.close()
        with contextlib.suppress(OSError):  # the server's mkdtemp: gone with us, however it ended
            os.rmdir(os.path.dirname(config["address"]))


if __name__ == "__main__":
    main()
