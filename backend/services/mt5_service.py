"""The MT5 gateway: one adapter over the MetaTrader5 API, per-terminal locks, our own types."""

from __future__ import annotations

from typing import Any

from flask import Flask


def init_gateway(app: Flask, gateway: Any) -> None:
    app.extensions["mt5_gateway"] = gateway


def gateway_health(app: Flask) -> dict[str, Any]:
    gateway = app.extensions.get("mt5_gateway")
    if gateway is None:
        return {"ok": True, "default_terminal": app.config["MT5_DEFAULT_TERMINAL"], "checked": False}
    return dict(gateway.health(app.config["MT5_DEFAULT_TERMINAL"]))
