"""A real Celery worker for the ledger tests, optionally SIGKILLing itself at CRASH_AT."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "backend"))


def crash_hook(point: str, _job: object) -> None:
    if point == os.environ.get("CRASH_AT"):
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    os.environ.setdefault("EXECUTOR", "celery")
    import wsgi

    wsgi.app.config["EXECUTOR_HOOKS"] = crash_hook
    wsgi.celery.worker_main(
        [
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "8",
            "--loglevel",
            "WARNING",
            "-Q",
            "ledger",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
