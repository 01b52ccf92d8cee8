"""One daemon thread per service object, started and stopped the same way everywhere.

The session keeper, the automation watcher and the protection watcher each run a loop in a
thread of their own until told to stop. ``BackgroundLoop`` holds that lifecycle once: ``start``
is idempotent (a thread that died is started again), ``stop`` sets ``_stopping`` and joins,
``running`` says whether the thread is alive. Subclasses write ``_run`` and watch
``_stopping``.
"""

from __future__ import annotations

import threading


class BackgroundLoop:
    thread_name = "background"
    stop_timeout_s = 5.0

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()

    def start(self) -> None:
        with self._lifecycle:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        with self._lifecycle:
            thread, self._thread = self._thread, None
        self._stopping.set()
        if thread is not None:
            thread.join(self.stop_timeout_s if timeout is None else timeout)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
