"""Signal webhook tokens: created by a super admin (shown once), listed, revoked, and checked.

A token is stored as its keyed hash (HMAC-SHA256 under API_KEY_PEPPER, as API keys are), so a
copy of the database gives no working token. Looking a token up by that hash is what makes the
check constant-time: the comparison the database does is on a digest an attacker cannot steer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import select

from errors import NotFound, Unauthorized
from extensions import DbSession
from models import SignalToken, User
from models.columns import utcnow
from services.audit_service import record_event
from utils.security import api_key_digest

TOKEN_PREFIX = "sig_"
MAX_TOKEN_LENGTH = 200


def _invalid() -> Unauthorized:
    """One answer for a wrong, revoked or disabled token: it never says which."""
    return Unauthorized("Invalid signal token.", code="invalid_signal_token")


def create_token(
    *,
    session: DbSession,
    user: User,
    pepper: str,
    name: str | None,
    symbols: list[str] | None,
    ip: str | None,
) -> tuple[str, SignalToken]:
    """A new token for ``user``; the token itself is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = SignalToken(
        user_id=user.id,
        token_hash=api_key_digest(token, pepper),
        prefix=token[: len(TOKEN_PREFIX) + 6],
        name=name,
        symbols=sorted(set(symbols)) if symbols else None,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    _audit(session, "signal_token_created", user, row, ip)
    session.commit()
    return token, row


def list_tokens(session: DbSession, *, user: User) -> list[SignalToken]:
    """The caller's tokens, revoked ones too (their signals stay addressable), newest first."""
    query = select(SignalToken).where(SignalToken.user_id == user.id)
    return list(session.scalars(query.order_by(SignalToken.id.desc())))


def revoke_token(session: DbSession, *, user: User, token_id: int, ip: str | None) -> SignalToken:
    """Revoke one of the caller's tokens (404 ``signal_token_not_found`` for anyone else's)."""
    row = session.get(SignalToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such signal token.", code="signal_token_not_found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _audit(session, "signal_token_revoked", user, row, ip)
        session.commit()
    return row


def authenticate(
    session: DbSession, *, token: str, pepper: str, mfa_required_roles: Iterable[str]
) -> tuple[SignalToken, User]:
    """The live token and its owner, who must still be an active super admin (and enrolled in
    MFA where the role must use it); otherwise 401 ``invalid_signal_token``, whatever the cause."""
    row = None
    if 0 < len(token) <= MAX_TOKEN_LENGTH:
        row = session.scalars(
            select(SignalToken).where(SignalToken.token_hash == api_key_digest(token, pepper))
        ).first()
    owner = session.get(User, row.user_id) if row is not None else None
    if (
        row is None
        or row.revoked_at is not None
        or owner is None
        or not owner.is_active
        or not owner.has_role("super_admin")
        or owner.mfa_enrolment_pending(tuple(mfa_required_roles))
    ):
        raise _invalid()
    return row, owner


def _audit(session: DbSession, event: str, user: User, row: SignalToken, ip: str | None) -> None:
    record_event(
        session=session,
        event=event,
        actor_id=user.id,
        subject_user_id=user.id,
        target_type="signal_token",
        target_id=row.id,
        ip=ip,
        details={"prefix": row.prefix, "name": row.name, "symbols": row.symbols},
    )
