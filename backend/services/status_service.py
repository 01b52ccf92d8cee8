"""What /api/status reports: uptime, database reachability, gateway and executor state."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from services.mt5_service import gateway_health
from utils.database import database_reachable
from workers import executor_health


def health(app: Flask) -> dict[str, Any]:

    db_ok = database_reachable()
    backend = app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0].split("+", 1)[0]
    gateway = gateway_health(app)
    return {
        "status": "ok" if db_ok and gateway.get("ok", True) else "degraded",
        "version": app.config["VERSION"],
        "uptime_s": round(time.monotonic() - app.config["STARTED_AT"], 3),
        "database": {"ok": db_ok, "backend": backend},
        "gateway": gateway,
        "executor": executor_health(app),
    }
