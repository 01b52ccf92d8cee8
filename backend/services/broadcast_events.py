"""Server-Sent Events for a broadcast: each target's change, then a final summary."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime

from sqlalchemy import select

from extensions import db
from models import BroadcastQueue
from services.dispatch_service import counts_for, is_final, summary_status, target_view
from utils.validators import StrictJSONProvider

HEARTBEAT_S = 15.0
MAX_STREAM_S = 3600.0


def _sse(event: str, payload: object) -> str:
    text = json.dumps(payload, default=StrictJSONProvider.default_for_sse, ensure_ascii=False)
    return f"event: {event}\ndata: {text}\n\n"


def event_stream(dispatch_id: int, wait_changed: Callable[[float], None]) -> Iterator[str]:
    """Yield every row whose state changed since the last look, until all rows are final."""
    seen: dict[int, tuple[str, datetime | None]] = {}
    waited = 0.0
    while True:
        db.session.rollback()
        rows = db.session.scalars(
            select(BroadcastQueue)
            .where(BroadcastQueue.dispatch_id == dispatch_id)
            .order_by(BroadcastQueue.id)
        ).all()
        for row in rows:
            state = (row.status, row.updated_at)
            if seen.get(row.id) != state:
                seen[row.id] = state
                yield _sse("target", target_view(row))
        if is_final(db.session, dispatch_id) or waited >= MAX_STREAM_S:
            counts = counts_for(db.session, dispatch_id)
            yield _sse(
                "done",
                {"dispatch_id": dispatch_id, "status": summary_status(counts), "counts": counts},
            )
            return
        db.session.rollback()  # hand the connection back while waiting
        wait_changed(0.25)
        waited += 0.25
