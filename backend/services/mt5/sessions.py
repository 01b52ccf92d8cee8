"""Terminal sessions: one attached MetaTrader5 module (in process or over RPyC), who is logged in.

A session is used only under its slot's lock (see ``gateway``), so nothing here locks.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from rpyc.core.service import ClassicClient
from rpyc.core.stream import SocketStream
from rpyc.utils.factory import connect_stream

from errors import MT5Unavailable
from services.mt5 import wire

SIM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_RPYC_PORT = 18812
CONNECT_TIMEOUT_S = 5
LastError = tuple[int, str]


@dataclass(frozen=True)
class TerminalURL:
    """A parsed ``sim://NAME``, ``rpyc://HOST:PORT``, ``rpycs://HOST:PORT`` or ``native://PATH``."""

    scheme: str
    target: str  # sim name, "host:port", or the terminal64.exe path
    host: str = ""
    port: int = 0

    @classmethod
    def parse(cls, url: str) -> TerminalURL:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("sim", "rpyc", "rpycs", "native"):
            raise MT5Unavailable(f"Unsupported terminal URL {url!r}.", details={"terminal": url})
        if scheme == "sim":
            name = rest or "default"
            if not SIM_NAME.match(name):
                raise MT5Unavailable(
                    "A simulated terminal name is 1-64 letters, digits, ., - or _.",
                    details={"terminal": url},
                )
            return cls("sim", name)
        if scheme == "native":
            return cls("native", rest)
        host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
        try:
            port_number = int(port) if port else DEFAULT_RPYC_PORT
        except ValueError:
            raise MT5Unavailable(f"Bad port in {url!r}.", details={"terminal": url}) from None
        return cls(scheme, rest, host.strip("[]") or "127.0.0.1", port_number)


_SCALARS = (int, float, str, bool, type(None), bytes)


def to_plain(value: Any) -> Any:
    """In process: named tuples to dicts (nested ones too), sequences to tuples.

    Scalars are kept as they are without a call each: a trade result's ~20 fields were 20
    recursive calls, a few percent of the server's CPU per order in a fan-out.
    """
    if hasattr(value, "_asdict"):
        return {k: v if type(v) in _SCALARS else to_plain(v) for k, v in value._asdict().items()}
    if isinstance(value, tuple | list):
        return tuple(v if type(v) in _SCALARS else to_plain(v) for v in value)
    return value


@dataclass
class TerminalSession:
    """One terminal attached through a MetaTrader5 module; ``login`` is who it is logged in as."""

    key: str
    simulated: bool
    remote: bool = False
    initialized: bool = False
    login: int | None = None
    init_args: tuple[Any, ...] = ()
    # Per-server caches (a terminal switching logins may switch brokers too).
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resolved: dict[tuple[Any, ...], str] = field(default_factory=dict)
    executions: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    currencies: dict[int, str] = field(default_factory=dict)
    margin_modes: dict[int, str] = field(default_factory=dict)  # login -> "hedging" | "netting"

    def call(
        self, name: str, *args: Any, request: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Any, LastError]:
        raise NotImplementedError

    def symbol_names(self) -> tuple[tuple[str, ...] | None, LastError]:
        raise NotImplementedError

    @property
    def broken(self) -> bool:
        return False

    def close(self) -> None:
        raise NotImplementedError


@dataclass
class ModuleSession(TerminalSession):
    """The module lives in this process: the simulator's facade or the real MetaTrader5 package."""

    module: Any = None

    def call(
        self, name: str, *args: Any, request: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Any, LastError]:
        items = None if request is None else tuple(request.items())
        return wire.plain_call(self.module, name, args, tuple(kwargs.items()), items, to_plain)  # type: ignore[no-any-return]

    def symbol_names(self) -> tuple[tuple[str, ...] | None, LastError]:
        return wire.symbol_names(self.module)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.module.shutdown()


@dataclass
class RpycSession(TerminalSession):
    """A terminal node (RPyC classic server): ``import MetaTrader5`` happens on the node."""

    conn: Any = None
    _call: Any = None
    _names: Any = None
    _module: Any = None

    def __post_init__(self) -> None:
        # Fixed source, sent once: no argument is ever pasted into code evaluated remotely.
        self.conn.execute(inspect.getsource(wire))
        self.conn.execute("import MetaTrader5")
        namespace = self.conn.namespace
        self._call, self._names = namespace["plain_call"], namespace["symbol_names"]
        self._module = namespace["MetaTrader5"]
        # The simulator's facade carries its broker; the real package does not.
        self.simulated = bool(self.conn.eval("hasattr(MetaTrader5, 'broker')"))

    def call(
        self, name: str, *args: Any, request: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Any, LastError]:
        # Tuples of plain values travel by value (brine); a dict would travel as a netref.
        items = None if request is None else tuple(request.items())
        result, last_error = self._call(self._module, name, args, tuple(kwargs.items()), items)
        return wire.decode(result), tuple(last_error)  # type: ignore[return-value]

    def symbol_names(self) -> tuple[tuple[str, ...] | None, LastError]:
        names, last_error = self._names(self._module)
        return names, tuple(last_error)  # type: ignore[return-value]

    def constant(self, name: str) -> Any:
        """A module constant (an int: it travels by value)."""
        return getattr(self._module, name)

    @property
    def broken(self) -> bool:
        return bool(self.conn.closed)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a dead link cannot be closed more
            self.conn.close()


class NodeClient(ClassicClient):
    """Our side of a terminal node link: we drive the node, the node gets nothing of ours.

    The standard classic server (``rpyc_classic``, mt5linux) is a one-way ``SlaveService``. A
    full-duplex ``ClassicService`` node also asks the client for its modules on connect; a plain
    ``ClassicClient`` answers that with None-the-function and the node drops the link. Here the
    node gets None for every module, so both kinds of node work and neither can run our code.
    """

    __slots__ = ()

    def exposed_getmodule(self, name: Any) -> None:
        return None


@dataclass(frozen=True)
class RpycSettings:
    timeout_s: float  # above MT5's own 60 s IPC timeout
    keyfile: str = ""
    certfile: str = ""
    ca_certs: str = ""


def open_rpyc(url: str, where: TerminalURL, settings: RpycSettings) -> RpycSession:
    """Connect to a terminal node; refused/unreachable -> MT5Unavailable (no retry storm)."""
    config = {"sync_request_timeout": settings.timeout_s, "allow_pickle": False}
    try:
        if where.scheme == "rpycs":
            stream = SocketStream.ssl_connect(
                where.host, where.port, _ssl_kwargs(settings),
                timeout=CONNECT_TIMEOUT_S, attempts=1, keepalive=True,
            )  # fmt: skip
        else:
            stream = SocketStream.connect(
                where.host, where.port, timeout=CONNECT_TIMEOUT_S, attempts=1, keepalive=True
            )
        conn = connect_stream(stream, NodeClient, config)
        return RpycSession(key=url, simulated=False, remote=True, conn=conn)
    except (OSError, EOFError) as exc:  # TimeoutError and ssl.SSLError are OSErrors
        raise MT5Unavailable(
            f"The terminal node {where.host}:{where.port} could not be reached.",
            details={"terminal": url, "reason": type(exc).__name__},
        ) from exc


def _ssl_kwargs(settings: RpycSettings) -> dict[str, Any]:
    import ssl

    kwargs: dict[str, Any] = {}
    if settings.certfile:
        kwargs["certfile"] = settings.certfile
        kwargs["keyfile"] = settings.keyfile or None
    if settings.ca_certs:
        kwargs["ca_certs"] = settings.ca_certs
        kwargs["cert_reqs"] = ssl.CERT_REQUIRED
    return kwargs


class NativeModules:
    """The real MetaTrader5 package, imported lazily: one process attaches to ONE terminal."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: str | None = None

    def __call__(self, path: str) -> Any:
        import importlib

        with self._lock:
            if self._path is not None and self._path != path:
                raise MT5Unavailable(
                    "This process is already attached to another native terminal.",
                    details={"terminal": f"native://{path}", "attached": self._path},
                )
            try:
                module = importlib.import_module("MetaTrader5")
            except ImportError as exc:
                raise MT5Unavailable(
                    "MetaTrader5 package not available on this platform.",
                    details={"terminal": f"native://{path}"},
                ) from exc
            self._path = path
            return module

    def release(self, path: str) -> None:
        with self._lock:
            if self._path == path:
                self._path = None
