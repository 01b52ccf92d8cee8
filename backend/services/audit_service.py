"""The audit trail: one row per security-relevant event, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from extensions import DbSession
from models import AuditLog

SECRET_WORDS = ("password", "token", "secret", "api_key", "key")


def _scrub(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """Drop anything that looks like a credential, whatever a caller passes."""
    if not details:
        return None
    return {k: v for k, v in details.items() if not any(w in k.lower() for w in SECRET_WORDS)}


def record_event(
    *,
    session: DbSession,
    event: str,
    actor_id: int | None = None,
    subject_user_id: int | None = None,
    target_type: str | None = None,
    target_id: int | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    entry = AuditLog(
        event=event,
        actor_id=actor_id,
        subject_user_id=subject_user_id,
        target_type=target_type,
        target_id=target_id,
        ip=ip,
        details=_scrub(details),
    )
    session.add(entry)
    return entry


def list_events(
    *,
    session: DbSession,
    page: int,
    per_page: int,
    user_id: int | None = None,
    event: str | None = None,
) -> tuple[list[AuditLog], int]:
    query = select(AuditLog)
    if user_id is not None:
        query = query.where((AuditLog.actor_id == user_id) | (AuditLog.subject_user_id == user_id))
    if event:
        query = query.where(AuditLog.event == event)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(AuditLog.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), total
