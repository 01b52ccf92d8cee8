"""The notification deliverer's thread: in the server (embedded) or in each Celery worker.

Any number of them may run against one database: a delivery is claimed by one at a time
(services/notifications/delivery.py). The thread polls every NOTIFY_POLL_S and checks for
disconnected accounts every DISCONNECT_CHECK_S.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from extensions import SECRET_BOX, db
from ledger import leases
from models.columns import utcnow
from services.notifications import deliverer, disconnects
from services.notifications.settings import NotifySettings

logger = logging.getLogger("workers.notifier")
DISCONNECT_CHECK_S = 30.0


class Notifier:
    """Delivers the outbox in the background until stopped."""

    def __init__(self, app: Flask, settings: NotifySettings) -> None:
        self.app = app
        self.settings = settings
        self.owner = leases.new_owner_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run_pass(self, pool: ThreadPoolExecutor) -> deliverer.PassReport:
        """One pass, in the caller's app context."""
        return deliverer.run_once(
            db.session, box=self.app.extensions[SECRET_BOX], settings=self.settings,
            owner=self.owner, pool=pool,
        )  # fmt: skip

    def _run(self) -> None:
        next_check = 0.0
        with ThreadPoolExecutor(self.settings.threads, thread_name_prefix="notify-send") as pool:
            while not self._stop.is_set():
                with self.app.app_context():
                    try:
                        self.run_pass(pool)
                        if time.monotonic() >= next_check:
                            next_check = time.monotonic() + DISCONNECT_CHECK_S
                            self._check_disconnected()
                    except Exception:  # a database outage must not end the thread
                        logger.exception("notifier: pass failed")
                        db.session.rollback()
                    finally:
                        db.session.remove()
                self._stop.wait(self.settings.poll_s)

    def _check_disconnected(self) -> None:
        disconnects.alert_disconnected(
            db.session, now=utcnow(), threshold_s=self.settings.alert_disconnected_s
        )
