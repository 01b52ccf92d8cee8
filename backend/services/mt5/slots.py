"""A terminal slot: the lock that serialises one terminal, its (re)opened session, error mapping."""

from __future__ import annotations

import threading
from typing import Any

from errors import MT5AuthFailed, MT5Error, MT5Timeout, MT5Unavailable
from services.mt5.constants import (
    RES_E_AUTH_FAILED,
    RES_E_INTERNAL_FAIL_CONNECT,
    RES_E_INTERNAL_FAIL_INIT,
    RES_E_INTERNAL_FAIL_TIMEOUT,
    RES_S_OK,
)
from services.mt5.dto import AccountRef
from services.mt5.sessions import LastError, TerminalSession
from services.mt5.sources import Sources

NOT_ATTACHED = (RES_E_INTERNAL_FAIL_INIT, RES_E_INTERNAL_FAIL_CONNECT)


def attach_error(step: str, last_error: LastError, terminal: str, login: int) -> MT5Error:
    """initialize/login failed: wrong credentials, a timeout, or a terminal out of reach."""
    details = {"terminal": terminal, "login": login, "step": step}
    if last_error[0] == RES_E_AUTH_FAILED:
        return MT5AuthFailed(last_error=last_error, details=details)
    if last_error[0] == RES_E_INTERNAL_FAIL_TIMEOUT:
        return MT5Timeout(last_error=last_error, details=details)
    return MT5Unavailable(f"MT5 {step} failed: {last_error[1]}", last_error=last_error,
                          details=details)  # fmt: skip


def call_error(name: str, last_error: LastError, terminal: str) -> MT5Error:
    details = {"terminal": terminal, "call": name}
    if last_error[0] == RES_E_INTERNAL_FAIL_TIMEOUT:
        return MT5Timeout(last_error=last_error, details=details)
    if last_error[0] in NOT_ATTACHED:
        return MT5Unavailable(last_error=last_error, details=details)
    if last_error[0] == RES_E_AUTH_FAILED:
        return MT5AuthFailed(last_error=last_error, details=details)
    return MT5Error(f"MT5 {name} failed: {last_error[1]}", last_error=last_error, details=details)


class Slot:
    """One terminal (or, on ``sim://``, one account's terminal); use only while holding ``lock``."""

    def __init__(self, key: str, terminal: str, sources: Sources) -> None:
        self.key, self.terminal, self.sources = key, terminal, sources
        self.lock = threading.Lock()
        self._session: TerminalSession | None = None

    @property
    def session(self) -> TerminalSession:
        """The live session, (re)opened if there is none or the link broke."""
        if self._session is not None and self._session.broken:
            self.drop()
        if self._session is None:
            self._session = self.sources.open(self.terminal, self.key)
        return self._session

    @property
    def is_open(self) -> bool:
        return self._session is not None and not self._session.broken

    def drop(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            self.sources.release(session)

    def call(
        self, name: str, *args: Any, request: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[Any, LastError]:
        """One terminal call: (plain result, last_error read right after it)."""
        session = self.session
        try:
            return session.call(name, *args, request=request, **kwargs)
        except TimeoutError as exc:  # the node's sync timeout, or a terminal that hung
            if session.remote:
                self.drop()  # a late reply would arrive on a link we no longer trust
            raise MT5Timeout(details={"terminal": self.terminal, "call": name}) from exc
        except (EOFError, OSError) as exc:  # ConnectionError and friends: the link is gone
            self.drop()
            raise MT5Unavailable(
                details={"terminal": self.terminal, "call": name, "reason": type(exc).__name__}
            ) from exc

    def expect(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A call whose None means failure (most of the API): raise the mapped error."""
        result, last_error = self.call(name, *args, **kwargs)
        if result is None:
            if last_error[0] in NOT_ATTACHED:
                self.session.initialized = False
            raise call_error(name, last_error, self.terminal)
        return result

    def records(self, name: str, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], ...]:
        """A ``*_get`` call: a tuple of records; None with RES_S_OK means "none" (MT5 quirk)."""
        result, last_error = self.call(name, *args, **kwargs)
        if result is None:
            if last_error[0] == RES_S_OK:
                return ()
            raise call_error(name, last_error, self.terminal)
        return tuple(result)

    def attach(self, account: AccountRef, *, relogin: bool = False) -> TerminalSession:
        """initialize once, then log in as ``account`` unless the terminal already is."""
        session = self.session
        if not session.initialized:
            ok, last_error = self.call("initialize", *session.init_args)
            if not ok:
                raise attach_error("initialize", last_error, self.terminal, account.login)
            session.initialized = True
        if relogin or session.login != account.login:
            session.login = None
            ok, last_error = self.call(
                "login", account.login, password=account.password, server=account.server
            )
            if not ok:
                raise attach_error("login", last_error, self.terminal, account.login)
            session.login = account.login
        return session
