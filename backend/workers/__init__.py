"""The order executor (thread pool or Celery), its sweeper, and their wiring into the app."""

from __future__ import annotations

from typing import Any

from flask import Flask


def init_executor(app: Flask) -> None:
    app.extensions.setdefault("executor", None)


def executor_health(app: Flask) -> dict[str, Any]:
    executor = app.extensions.get("executor")
    if executor is None:
        return {"kind": app.config["EXECUTOR"], "running": False}
    return dict(executor.health())
