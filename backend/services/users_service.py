"""User administration: list users, activate/deactivate, change roles and reset MFA (super admin
only for those two)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from errors import AppError, Forbidden, NotFound
from extensions import DbSession
from models import User
from services import auth
from services.audit_service import record_event


def list_users(*, session: DbSession, page: int, per_page: int) -> tuple[list[User], int]:
    total = session.scalar(select(func.count(User.id))) or 0
    rows = session.scalars(
        select(User).order_by(User.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), total


def update_user(
    *, session: DbSession, actor: User, user_id: int, changes: dict[str, Any], ip: str | None
) -> User:
    """Admins (de)activate users below their rank; only a super admin changes roles."""
    target = session.get(User, user_id)
    if target is None:
        raise NotFound("No such user.")
    if not changes:
        raise AppError("Nothing to change.", code="validation_error", status_code=422)
    if "role" in changes and not actor.has_role("super_admin"):
        raise Forbidden("Only a super admin changes roles.", code="forbidden")
    if target.id == actor.id and ("role" in changes or changes.get("is_active") is False):
        raise AppError(
            "You cannot demote or deactivate yourself.", code="cannot_modify_self", status_code=409
        )
    if target.has_role(actor.role) and not actor.has_role("super_admin"):
        raise Forbidden("You cannot change a user of your rank or above.", code="forbidden")
    for field in ("is_active", "role", "allow_broadcast"):
        if field in changes and getattr(target, field) != changes[field]:
            old = getattr(target, field)
            setattr(target, field, changes[field])
            record_event(
                session=session,
                event=f"user_{field}_changed",
                actor_id=actor.id,
                subject_user_id=target.id,
                ip=ip,
                details={"from": old, "to": changes[field]},
            )
    session.commit()
    return target


def reset_mfa(*, session: DbSession, actor: User, user_id: int, ip: str | None) -> None:
    """A super admin clears another user's MFA (the route checks the role and a fresh login)."""
    target = session.get(User, user_id)
    if target is None:
        raise NotFound("No such user.")
    auth.reset_mfa(session=session, user=target, actor=actor, ip=ip)
