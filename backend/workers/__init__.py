"""The order executor (thread pool or Celery), its sweeper, and their wiring into the app."""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask

from extensions import EXECUTOR, GATEWAY
from services.notifications.settings import NotifySettings
from workers.embedded import ThreadExecutor
from workers.notifier import Notifier

NOTIFIER = "notifier"


class Executor(Protocol):
    """What the services ask of a runner: start it, hand it a committed dispatch, wait for
    its outcomes (the ledger table is the queue; a runner may lose a message without harm)."""

    kind: str

    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...
    def submit_dispatch(self, dispatch_id: int) -> None: ...
    def wait_changed(self, timeout: float) -> None: ...
    def wait_dispatch(self, dispatch_id: int, timeout: float) -> None: ...
    def health(self) -> dict[str, Any]: ...


def init_app(app: Flask) -> None:
    """Build the configured executor; it starts on the first request (or when serving)."""
    kind = app.config["EXECUTOR"]
    executor: Executor
    if kind == "celery":
        # Celery and its broker client load only for the scale-out deployment.
        from workers.celery_app import CeleryExecutor

        executor = CeleryExecutor(app)
    elif kind == "threads":
        executor = ThreadExecutor(
            app,
            threads=app.config["EXECUTOR_THREADS"],
            gateway_getter=lambda: app.extensions[GATEWAY],
            hooks=app.config.get("EXECUTOR_HOOKS"),
        )
    else:
        raise RuntimeError(f"EXECUTOR must be 'threads' or 'celery', not {kind!r}")
    app.extensions[EXECUTOR] = executor
    # The deliverer runs where the executor does: here with threads, in the Celery workers
    # otherwise (workers/celery_app.py starts theirs).
    notifier = app.extensions[NOTIFIER] = Notifier(app, NotifySettings.from_config(app.config))
    embedded_notifier = kind == "threads" and app.config["NOTIFY_ENABLED"]

    def stop(timeout: float = 10.0) -> None:
        executor.stop(timeout)
        notifier.stop(timeout)

    app.extensions["executor_stop"] = stop

    if app.config.get("EXECUTOR_AUTOSTART", True):

        @app.before_request
        def _start_executor() -> None:
            executor.start()
            if embedded_notifier:
                notifier.start()


def executor_health(app: Flask) -> dict[str, Any]:
    executor = app.extensions.get(EXECUTOR)
    if executor is None:
        return {"kind": app.config["EXECUTOR"], "running": False}
    return dict(executor.health())
