"""Where terminal sessions come from: simulated brokers, terminal nodes, the native package."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from mt5sim.broker import Broker
from mt5sim.facade import make_module
from services.mt5.dto import AccountRef
from services.mt5.sessions import (
    ModuleSession,
    NativeModules,
    RpycSettings,
    TerminalSession,
    TerminalURL,
    open_rpyc,
)
from services.mt5.sim_process import SimProcess, SimProcessSession


@dataclass(frozen=True)
class SimSettings:
    db_path: str  # the "default" broker's SQLite file; other names get a sibling file
    latency_ms: int = 0
    seed: int | None = None
    commission_per_lot: Decimal = Decimal(0)  # the brokers' default for new accounts
    ticks_path: str = ""  # a recorded tick file the brokers replay as their quotes
    in_process: bool = True  # False: the brokers run in a child process (sim_process.py)

    def for_child(self) -> dict[str, Any]:
        """The settings a simulator process is started with, as JSON (sim_server reads them)."""
        settings = {**asdict(self), "commission_per_lot": str(self.commission_per_lot)}
        del settings["in_process"]
        return settings


def sim_db_path(base: str, name: str) -> str:
    """``sim://default`` uses MT5_SIM_DB itself; ``sim://demo2`` uses ``<stem>.demo2<suffix>``."""
    if name == "default" or base == ":memory:":
        return base
    path = Path(base)
    return str(path.with_name(f"{path.stem}.{name}{path.suffix or '.sqlite'}"))


class SimBrokers:
    """The simulated brokers by name, opened on first use (constructing the gateway is free)."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._brokers: dict[str, Broker] = {}

    def get(self, name: str) -> Broker:
        with self._lock:
            broker = self._brokers.get(name)
            if broker is None:
                broker = Broker(
                    sim_db_path(self.settings.db_path, name), name=name,
                    seed=self.settings.seed, latency_ms=self.settings.latency_ms,
                    default_commission_per_lot=self.settings.commission_per_lot,
                    ticks_path=self.settings.ticks_path or None,
                )  # fmt: skip
                self._brokers[name] = broker
            return broker

    def module(self, name: str, *, sleeps: bool = True) -> Any:
        """A ``MetaTrader5``-like module on a new simulated terminal of broker ``name``
        (``sleeps=False``: its caller waits the simulated latency out, see ``SimTerminal``)."""
        return make_module(self.get(name), sleeps=sleeps)

    def opened(self) -> list[str]:
        with self._lock:
            return list(self._brokers)

    def close(self) -> None:
        with self._lock:
            brokers, self._brokers = list(self._brokers.values()), {}
        for broker in brokers:
            broker.close()


NativeFactory = Callable[[str], Any]


class Sources:
    """Opens sessions: one per account on ``sim://``, one per terminal URL otherwise."""

    def __init__(
        self,
        sim: SimSettings,
        rpyc: RpycSettings,
        native_modules: NativeFactory | None = None,
        *,
        sim_connections: int = 0,
    ) -> None:
        self.brokers = SimBrokers(sim)
        self.rpyc = rpyc
        self.native_modules: NativeFactory = native_modules or NativeModules()
        # sim:// in a child process (MT5_SIM_PROCESS): ``brokers`` is then never opened here,
        # the child is the one owner of the simulator's files.
        self.sim_process: SimProcess | None = None
        if not sim.in_process:
            self.sim_process = SimProcess(
                sim.for_child(), timeout_s=rpyc.timeout_s, connections=sim_connections
            )

    @staticmethod
    def session_key(account: AccountRef) -> str:
        # A simulated terminal per account, as production runs one terminal per account.
        if account.terminal.startswith("sim://"):
            return f"{account.terminal}#{account.login}"
        return account.terminal

    def open(self, terminal: str, key: str) -> TerminalSession:
        where = TerminalURL.parse(terminal)
        if where.scheme == "sim":
            if self.sim_process is not None:
                return SimProcessSession(
                    key=key, simulated=True, process=self.sim_process, target=where.target
                )
            return ModuleSession(key=key, simulated=True, module=self.brokers.module(where.target))
        if where.scheme == "native":
            module = self.native_modules(where.target)
            simulated = bool(getattr(module, "broker", None))
            return ModuleSession(
                key=key, simulated=simulated, module=module, init_args=(where.target,)
            )
        return open_rpyc(key, where, self.rpyc)

    def sim_health(self, name: str) -> dict[str, Any]:
        """A simulated broker answers once open (this opens it): how many accounts it holds."""
        if self.sim_process is not None:  # a request starts the child if need be
            accounts = self.sim_process.request("health", name)["accounts"]
        else:
            accounts = len(self.brokers.get(name).accounts)
        return {"ok": True, "simulated": True, "connected": True, "accounts": accounts}

    def release(self, session: TerminalSession) -> None:
        """Forget a session (closed or broken); the native package may attach elsewhere after."""
        with contextlib.suppress(Exception):  # a broken session may not close cleanly
            session.close()
        release = getattr(self.native_modules, "release", None)
        if release is not None and session.key.startswith("native://"):
            release(session.key.removeprefix("native://"))

    def close(self) -> None:
        self.brokers.close()
        if self.sim_process is not None:
            self.sim_process.close()
