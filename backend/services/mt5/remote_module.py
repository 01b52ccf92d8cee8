"""A ``MetaTrader5``-shaped module over a terminal node: scripts for the real package run unchanged.

``mt5 = remote_module("rpyc://host:18812")`` then ``mt5.initialize()``, ``mt5.order_send({...})``:
each call is one round trip through ``wire.plain_call`` (a real dict on the node, last_error read
right after, plain data back), and records come back with attribute access and ``_asdict()``.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from services.mt5.sessions import LastError, RpycSession, RpycSettings, TerminalURL, open_rpyc


def revive(value: Any) -> Any:
    """Plain dicts back into named tuples (as the real package returns them)."""
    if isinstance(value, dict):
        record = namedtuple("Record", list(value))  # type: ignore[misc]
        return record(**{k: revive(v) for k, v in value.items()})
    if isinstance(value, tuple):
        return tuple(revive(v) for v in value)
    return value


class RemoteModule:
    """Functions and UPPER_CASE constants of the node's ``MetaTrader5``, forwarded safely."""

    def __init__(self, session: RpycSession) -> None:
        self._session = session
        self._last_error: LastError = (1, "Success")
        self._constants: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name.isupper():
            if name not in self._constants:
                self._constants[name] = self._session.constant(name)
            return self._constants[name]

        def function(*args: Any, **kwargs: Any) -> Any:
            if len(args) == 1 and isinstance(args[0], dict) and not kwargs:
                result, self._last_error = self._session.call(name, request=args[0])
            else:
                result, self._last_error = self._session.call(name, *args, **kwargs)
            return revive(result)

        return function

    def last_error(self) -> LastError:
        return self._last_error

    def close(self) -> None:
        self._session.close()


def remote_module(url: str, settings: RpycSettings | None = None) -> RemoteModule:
    where = TerminalURL.parse(url)
    return RemoteModule(open_rpyc(url, where, settings or RpycSettings(timeout_s=75)))
