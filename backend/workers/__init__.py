"""The order executor (thread pool or Celery), its sweeper, and their wiring into the app."""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask, current_app


class Executor(Protocol):
    kind: str

    def start(self) -> None: ...
    def stop(self, timeout: float = 10.0) -> None: ...
    def submit_dispatch(self, dispatch_id: int) -> None: ...
    def wait_changed(self, timeout: float) -> None: ...
    def wait_dispatch(self, dispatch_id: int, timeout: float) -> None: ...
    def health(self) -> dict[str, Any]: ...


def init_executor(app: Flask) -> None:
    """Build the configured executor; it starts on the first request (or when serving)."""
    kind = app.config["EXECUTOR"]
    executor: Executor
    if kind == "celery":
        from workers.celery_app import CeleryExecutor

        executor = CeleryExecutor(app)
    elif kind == "threads":
        from workers.embedded import ThreadExecutor

        executor = ThreadExecutor(
            app,
            threads=app.config["EXECUTOR_THREADS"],
            gateway_getter=lambda: app.extensions["mt5_gateway"],
            hooks=app.config.get("EXECUTOR_HOOKS"),
        )
    else:
        raise RuntimeError(f"EXECUTOR must be 'threads' or 'celery', not {kind!r}")
    app.extensions["executor"] = executor
    app.extensions["executor_stop"] = executor.stop

    if app.config.get("EXECUTOR_AUTOSTART", True):

        @app.before_request
        def _start_executor() -> None:
            executor.start()


def get_executor() -> Executor:
    executor: Executor = current_app.extensions["executor"]
    return executor


def executor_health(app: Flask) -> dict[str, Any]:
    executor = app.extensions.get("executor")
    if executor is None:
        return {"kind": app.config["EXECUTOR"], "running": False}
    return dict(executor.health())
