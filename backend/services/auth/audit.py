"""The audit record of what a user did to their own account (the actor is the subject)."""

from __future__ import annotations

from typing import Any

from extensions import DbSession
from models import User
from services.audit_service import record_event


def record_own_event(
    session: DbSession,
    user: User,
    event: str,
    *,
    ip: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Added to the caller's transaction, like every audit event."""
    record_event(
        session=session,
        event=event,
        actor_id=user.id,
        subject_user_id=user.id,
        ip=ip,
        details=details,
    )
