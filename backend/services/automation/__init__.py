"""Server-side trade automation: the price watcher and its wiring into the app.

Embedded (EXECUTOR=threads): one watcher in the server process, started with the executor on the
first request. Scale-out: one in each Celery worker (``start_watcher`` from the worker's start
signal); several watchers are safe, a firing's unique key lets one of them through.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from celery import signals
from flask import Flask

from extensions import EXECUTOR
from services.automation.watcher import AutomationWatcher

WATCHER = "automation_watcher"
_building = threading.Lock()


def init_app(app: Flask) -> None:
    app.extensions[WATCHER] = None
    if not app.config["AUTOMATION_ENABLED"]:
        return
    if app.config["EXECUTOR"] == "celery":
        # Only a worker process sends worker_ready: web processes never start a watcher.
        signals.worker_ready.connect(lambda **_: start_watcher(app), weak=False)
    elif app.config.get("EXECUTOR_AUTOSTART", True):

        @app.before_request
        def _start_watcher() -> None:
            start_watcher(app)


def start_watcher(app: Flask) -> AutomationWatcher:
    with _building:
        watcher = app.extensions.get(WATCHER)
        if watcher is None:
            watcher = app.extensions[WATCHER] = build_watcher(app)
    watcher.start()
    return watcher


def stop_watcher(app: Flask) -> None:
    watcher = app.extensions.get(WATCHER)
    if watcher is not None:
        watcher.stop()


def build_watcher(app: Flask) -> AutomationWatcher:
    executor = app.extensions[EXECUTOR]
    return AutomationWatcher(
        app,
        tick_s=app.config["AUTOMATION_TICK_MS"] / 1000,
        max_age=timedelta(days=app.config["AUTOMATION_MAX_AGE_DAYS"]),
        submit=executor.submit_dispatch,
    )
