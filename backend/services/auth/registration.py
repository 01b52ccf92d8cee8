"""New users: self-registration (always role `user`) and the operator's create-user."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from errors import Conflict
from extensions import DbSession
from models import User
from services.audit_service import record_event
from services.auth.audit import record_own_event
from services.auth.passwords import PasswordPolicy, refuse_weak_password
from utils.security import hash_password


def register_user(
    *,
    session: DbSession,
    username: str,
    email: str,
    password: str,
    password_policy: PasswordPolicy,
    ip: str | None,
) -> User:
    """Create a plain `user` (roles are never taken from a request body)."""
    user = _insert_user(session, username, email, password, "user", password_policy)
    record_own_event(session, user, "user_registered", ip=ip)
    session.commit()
    return user


def create_user(
    *,
    session: DbSession,
    username: str,
    email: str,
    password: str,
    role: str,
    password_policy: PasswordPolicy,
) -> User:
    """Operator path (CLI): any role, same rules otherwise."""
    user = _insert_user(session, username, email, password, role, password_policy)
    record_event(
        session=session, event="user_created", subject_user_id=user.id, details={"role": role}
    )
    session.commit()
    return user


def _insert_user(
    session: DbSession, username: str, email: str, password: str, role: str, policy: PasswordPolicy
) -> User:
    """Add the user (flushed, not committed); a taken username or email is a 409."""
    refuse_weak_password(password, breach_check=policy.breach_check)
    user = User(
        username=username,
        email=email.lower(),
        password_hash=hash_password(password, policy.rounds),
        role=role,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("That username or email is already registered.", code="user_exists") from exc
    return user
