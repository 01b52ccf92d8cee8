"""The simulated brokers in a process of their own (``MT5_SIM_PROCESS``): the server's side.

In process, every simulated terminal call ran its broker's matching, accounting and disk
writes on the server's interpreter, under the same lock as the ledger and the HTTP threads (a
1000-target fan-out: 0.73 ms of server CPU per order in process, 0.50 with the child). A real
broker is not in our process either. ``SimProcess`` starts ``python -m
services.mt5.sim_server`` (the brokers, one simulated terminal per session, the simulated
latency) and talks to it over a Unix socket in a directory only this user can enter,
authenticated by a fresh random key per start (``multiprocessing.connection``'s HMAC
handshake; the key reaches the child on its stdin).

Calls from different threads travel in parallel on connections of a shared pool (opened ahead
of need after each start); the child serves each connection on a thread of its own. A call is
one ``send`` and one ``recv`` of a small pickled tuple (pickle: both ends are this program, and
nothing reaches the socket without the key). The answer is a value or the exception the
terminal call raised (an injected timeout, a dropped link), raised again here exactly as the
in-process simulator raises it. If the child dies, calls on its connections fail as a lost
link (``ConnectionError``: the slot drops the session, an order in flight becomes an unknown
outcome reconciled by its tag) and the next session opened starts a new child on the same
files.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import pickle
import secrets
import selectors
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from errors import MT5Unavailable
from services.mt5.sessions import LastError, TerminalSession

logger = logging.getLogger("services.mt5.sim_process")

BACKEND_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class LinkLost(ConnectionError):
    """The connection to the simulator process broke (not an error the terminal call raised)."""


class LinkTimeout(TimeoutError):
    """No answer from the simulator process in time; the connection is dropped."""


class SimProcess:
    """Starts, restarts and stops the simulator process; one connection per calling thread."""

    def __init__(self, settings: dict[str, Any], *, timeout_s: float, connections: int = 0) -> None:
        self.settings = settings  # JSON-ready: SimSettings as a dict
        self.timeout_s = timeout_s
        self.connections = connections  # opened ahead of need after each start
        self.generation = 0  # moves with every start: connections and sessions of an older one
        self._lock = threading.Lock()
        self._idle: collections.deque[Link] = collections.deque()  # append/pop are atomic
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None
        self._address = ""
        self._authkey = b""
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """As last seen: a child's death is noticed by the call it fails (or ``ensure``), so a
        call does not pay a ``waitpid`` for every look at its session."""
        process = self._process
        return process is not None and process.returncode is None

    def ensure(self) -> int:
        """The running child's generation, starting one if there is none (or it died)."""
        with self._lock:
            if self._closed:  # shutting down: a late call must not start another child
                raise LinkLost("the simulator process was stopped")
            if self._process is None or self._process.poll() is not None:
                self._start()
            return self.generation

    def _start(self) -> None:
        self._stop_locked()
        self._dir = tempfile.mkdtemp(prefix="mt5sim-")  # 0700: no other user can connect
        self._address = os.path.join(self._dir, "broker.sock")
        self._authkey = secrets.token_bytes(32)
        config = {
            "settings": self.settings,
            "address": self._address,
            "authkey": self._authkey.hex(),
            "parent": os.getpid(),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "services.mt5.sim_server"],
            cwd=BACKEND_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(config).encode() + b"\n")
        process.stdin.close()
        if not _ready(process, START_TIMEOUT_S):
            process.kill()
            process.wait()
            raise MT5Unavailable(
                "The simulator process did not start.",
                details={"exit_code": process.returncode},
            )
        self._process = process
        self.generation += 1
        threading.Thread(
            target=self._prefill, args=(self.generation,), name="sim-prefill", daemon=True
        ).start()
        logger.info("simulator process %s started (pid %s)", self.generation, process.pid)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop_locked()

    def _stop_locked(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()  # the child closes its brokers' files on SIGTERM
                try:
                    process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def kill(self) -> None:
        """SIGKILL the child (tests: a broker that vanishes mid-call)."""
        process = self._process
        if process is not None:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    # -- calls ----------------------------------------------------------------------------

    def request(self, *message: Any) -> Any:
        """Send one request on an idle connection and return its answer."""
        link = self._take()
        try:
            kind, value = pickle.loads(link.exchange(pickle.dumps(message, HIGHEST)))  # noqa: S301 (our child, authenticated)
        except LinkTimeout:
            link.close()  # the answer may still come: this link is out of step now
            raise
        except (EOFError, OSError) as exc:
            link.close()
            if self._process is not None:
                self._process.poll()  # died? then every session of it is broken from now on
            raise LinkLost("the simulator process went away") from exc
        self._idle.append(link)
        if kind == "raised":
            raise value
        return value

    def _take(self) -> Link:
        """An idle connection to the running child, or a new one. Idle ones are shared by all
        threads (last in, first out): the connections the session keeper opened at start are
        the ones the first broadcast sends on, instead of each thread's handshake of its own."""
        generation = self.generation if self.alive else self.ensure()
        while True:
            try:
                link = self._idle.pop()
            except IndexError:
                return self._connect(generation)
            if link.generation == generation:
                return link
            link.close()  # of an earlier child

    def _connect(self, generation: int) -> Link:
        try:
            conn = Client(self._address, family="AF_UNIX", authkey=self._authkey)
        except (EOFError, OSError) as exc:
            raise LinkLost("the simulator process cannot be reached") from exc
        try:
            return Link(conn, generation, self.timeout_s)
        finally:
            conn.close()  # the link has its own descriptor of the socket

    def _prefill(self, generation: int) -> None:
        """Open ``connections`` links ahead of need (on a thread of its own after a start)."""
        for _ in range(self.connections):
            if generation != self.generation:
                return
            try:
                self._idle.append(self._connect(generation))
            except LinkLost:
                return


HIGHEST = pickle.HIGHEST_PROTOCOL
_SIZE = struct.Struct("!i")  # multiprocessing.connection's framing, which the child speaks
_LONG_SIZE = struct.Struct("!Q")  # after a size of -1: a message over 2 GiB
_RECV = 16384  # an answer is a few hundred bytes; a longer one takes more reads


class Link:
    """One authenticated connection to the child, spoken to through its socket directly.

    ``Connection.send_bytes`` and ``recv_bytes`` with a ``poll`` for the timeout made four
    system calls per request (write, poll, read the size, read the body), and each gave the
    interpreter's lock up and queued to take it back behind the other order threads. Here a
    request is one ``sendall`` and, for the usual small answer, one ``recv``; the timeout is the
    kernel's (``SO_RCVTIMEO``), not a ``poll`` before each read.
    """

    __slots__ = ("generation", "sock")

    def __init__(self, conn: Connection, generation: int, timeout_s: float) -> None:
        self.generation = generation
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=os.dup(conn.fileno()))
        seconds = int(timeout_s)
        wait = struct.pack("ll", seconds, int((timeout_s - seconds) * 1_000_000))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, wait)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, wait)

    def exchange(self, payload: bytes) -> bytes:
        """Send one framed message, return the one that answers it (LinkTimeout, EOFError or
        OSError when there is none)."""
        try:
            self.sock.sendall(_SIZE.pack(len(payload)) + payload)
        except BlockingIOError as exc:
            raise LinkTimeout("the simulator did not take the request in time") from exc
        data = self._recv()
        while len(data) < _SIZE.size:
            data += self._recv()
        size, start = _SIZE.unpack_from(data)[0], _SIZE.size
        if size == -1:
            while len(data) < _SIZE.size + _LONG_SIZE.size:
                data += self._recv()
            size, start = _LONG_SIZE.unpack_from(data, _SIZE.size)[0], _SIZE.size + _LONG_SIZE.size
        end = start + size
        if len(data) < end:
            parts = [data]
            have = len(data)
            while have < end:
                part = self._recv()
                parts.append(part)
                have += len(part)
            data = b"".join(parts)
        if len(data) != end:
            raise LinkLost("the simulator sent more than one answer")
        return data[start:end]

    def _recv(self) -> bytes:
        try:
            data = self.sock.recv(_RECV)
        except BlockingIOError as exc:  # SO_RCVTIMEO ran out
            raise LinkTimeout("the simulator did not answer in time") from exc
        if not data:
            raise EOFError("the simulator closed the connection")
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _ready(process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait for the child's ``ready`` line (it prints it once it listens)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            return False
    return process.stdout.readline().strip() == b"ready"


@dataclass
class SimProcessSession(TerminalSession):
    """One simulated terminal, living in the simulator process."""

    process: SimProcess | None = None
    target: str = "default"
    sid: str = ""
    generation: int = 0
    _broken: bool = False

    def __post_init__(self) -> None:
        assert self.process is not None
        self.generation = self.process.ensure()
        self.sid = secrets.token_hex(8)
        self._request("open", self.sid, self.target)

    def _request(self, *message: Any) -> Any:
        assert self.process is not None
        try:
            return self.process.request(*message)
        except (LinkLost, LinkTimeout):
            self._broken = True
            raise

    def call(
        self, name: str, *args: Any, request: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Any, LastError]:
        items = None if request is None else tuple(request.items())
        message = ("call", self.sid, name, args, tuple(kwargs.items()), items)
        return self._request(*message)  # type: ignore[no-any-return]

    def symbol_names(self) -> tuple[tuple[str, ...] | None, LastError]:
        return self._request("names", self.sid)  # type: ignore[no-any-return]

    @property
    def broken(self) -> bool:
        process = self.process
        assert process is not None
        return self._broken or self.generation != process.generation or not process.alive

    def close(self) -> None:
        if not self.broken:
            self._request("close", self.sid)
