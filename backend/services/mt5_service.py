"""The MT5 gateway's entry point: bind one to the app, read it back, report its health."""

from __future__ import annotations

import weakref
from typing import Any, Protocol

from flask import Flask

from extensions import GATEWAY
from services.mt5.dto import AccountRef
from services.mt5.gateway import MT5Gateway
from utils.security import SecretBox


def init_app(app: Flask, gateway: Any = None) -> None:
    """Store ``gateway`` (tests pass their own) or, when None, the default built from config."""
    if gateway is None:
        gateway = MT5Gateway.from_config(app.config)
        # The app built it, so the app's end closes it (the simulated brokers flush their files).
        weakref.finalize(app, gateway.close)
    app.extensions[GATEWAY] = gateway


def gateway_health(app: Flask) -> dict[str, Any]:
    """The default terminal: reachable, simulated or not (cheap; never raises)."""
    gateway = app.extensions.get("mt5_gateway")
    terminal = app.config["MT5_DEFAULT_TERMINAL"]
    if gateway is None:
        return {"ok": True, "terminal": terminal, "checked": False}
    return dict(gateway.health(terminal))


class StoredAccount(Protocol):
    """What ``account_ref`` reads of an account: an MT5Account row or plain columns."""

    @property
    def id(self) -> int: ...
    @property
    def terminal(self) -> str: ...
    @property
    def login(self) -> str: ...
    @property
    def server(self) -> str: ...
    @property
    def symbol_map(self) -> dict[str, Any] | None: ...
    @property
    def password_encrypted(self) -> str: ...


def password_aad(account_id: int) -> str:
    """Associated data: the ciphertext only opens in this row."""
    return f"mt5_accounts:{account_id}:password"


def account_ref(account: StoredAccount, box: SecretBox) -> AccountRef:
    """What the gateway needs to reach ``account``, its password decrypted.

    Raises ``DecryptionFailed`` when the stored password cannot be opened, ``ValueError`` when
    the login is not a number.
    """
    return AccountRef(
        account_id=account.id,
        terminal=account.terminal,
        login=int(account.login),
        password=box.decrypt(account.password_encrypted, password_aad(account.id)),
        server=account.server,
        symbol_map=dict(account.symbol_map or {}),
    )
