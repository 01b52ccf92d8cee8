"""A ledger worker process for crash tests: run the embedded executor until the ledger is idle.

Environment: LEDGER_DB (SQLite path or a postgresql URL), SIM_DB, LOG_DIR, CRASH_AT
(before_send | after_send | after_record | empty). With CRASH_AT set, the process SIGKILLs
itself at that point of the first row it handles: no clean-up, no flush, like a power cut.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "backend"))


def crash_hook(point: str, _job: object) -> None:
    if point == os.environ.get("CRASH_AT"):
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    from app import create_app
    from sqlalchemy import func, select

    from extensions import db
    from models import BroadcastQueue
    from models.broadcast import FINAL_ROW_STATUSES

    target = os.environ["LEDGER_DB"]
    uri = target if "://" in target else f"sqlite:///{target}"
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": uri,
            "MT5_SIM_DB": os.environ["SIM_DB"],
            "LOG_DIR": Path(os.environ["LOG_DIR"]),
            "EXECUTOR": "threads",
            "EXECUTOR_THREADS": 4,
            "EXECUTOR_AUTOSTART": False,
            "EXECUTOR_HOOKS": crash_hook,
            "MT5_SIM_LATENCY_MS": 0,
        }
    )
    executor = app.extensions["executor"]
    # The start-up sweep recovers a dead predecessor's rows and re-drives pending ones.
    executor.start()
    deadline = time.monotonic() + 60
    with app.app_context():
        while time.monotonic() < deadline:
            db.session.rollback()
            open_rows = db.session.scalar(
                select(func.count()).where(BroadcastQueue.status.not_in(FINAL_ROW_STATUSES))
            )
            if not open_rows:
                break
            time.sleep(0.05)
        db.session.remove()
    executor.stop()
    app.extensions["mt5_gateway"].close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
