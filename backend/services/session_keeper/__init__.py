"""The session keeper: every tradable account's terminal attached ahead of its orders, its
connection state, figures and equity history recorded by a heartbeat every MT5_HEARTBEAT_S.

Embedded (EXECUTOR=threads): one keeper in the server process, started when the server starts
serving (and on the first request). Scale-out: one in each Celery worker (``worker_ready``),
never in a web process; the accounts are shared out by lease, one keeper each at a time.
"""

from __future__ import annotations

import logging
import threading
import time

from celery import signals
from flask import Flask

from services.session_keeper.keeper import KeeperSettings, SessionKeeper
from services.session_keeper.store import forget, look_now

KEEPER = "session_keeper"
logger = logging.getLogger("session_keeper")
_building = threading.Lock()

__all__ = ["KEEPER", "KeeperSettings", "SessionKeeper", "forget", "init_app", "look_now",
           "start_in_server", "start_keeper", "stop_keeper"]  # fmt: skip


def init_app(app: Flask) -> None:
    app.extensions[KEEPER] = None
    if not app.config["SESSION_KEEPER_ENABLED"]:
        return
    if app.config["EXECUTOR"] == "celery":
        # Only a worker process sends worker_ready: web processes never keep sessions.
        signals.worker_ready.connect(lambda **_: start_keeper(app), weak=False)
    elif app.config.get("EXECUTOR_AUTOSTART", True):

        @app.before_request
        def _start_keeper() -> None:
            start_keeper(app)


def start_in_server(app: Flask) -> None:
    """`python app.py`: attach the accounts now, not when the first request comes, and serve
    once every account due at start was looked at (up to SESSION_KEEPER_WARM_START_S): the
    first broadcast after a restart or a deploy then finds its terminals logged in."""
    if not (app.config["SESSION_KEEPER_ENABLED"] and app.config["EXECUTOR"] == "threads"):
        return
    keeper = start_keeper(app)
    timeout = app.config["SESSION_KEEPER_WARM_START_S"]
    if timeout <= 0:
        return
    started = time.monotonic()
    if keeper.wait_warm(timeout):
        logger.info("sessions warm: %s accounts looked at in %.1f s", keeper.looks,
                    time.monotonic() - started)  # fmt: skip
    else:
        logger.warning("serving with %s accounts not looked at yet after %s s "
                       "(SESSION_KEEPER_WARM_START_S); the keeper carries on", keeper.warming,
                       timeout)  # fmt: skip


def start_keeper(app: Flask) -> SessionKeeper:
    with _building:
        keeper = app.extensions.get(KEEPER)
        if keeper is None:
            keeper = app.extensions[KEEPER] = SessionKeeper(
                app, KeeperSettings.from_config(app.config)
            )
    keeper.start()
    return keeper


def stop_keeper(app: Flask, timeout: float = 10.0) -> None:
    keeper = app.extensions.get(KEEPER)
    if keeper is not None:
        keeper.stop(timeout)
