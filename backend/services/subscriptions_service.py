"""Subscriptions: an account owner's opt-in to broadcasts, their terms, pausing and reset."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from errors import NotFound
from extensions import DbSession
from ledger.follower import OPEN_STATES, FollowerSizing, Protection, SymbolFilter
from models import MT5Account, Subscription, User
from models.columns import utcnow
from services.accounts_service import get_account
from services.audit_service import record_event


def subscription_of(session: DbSession, account_id: int) -> Subscription | None:
    return session.scalars(
        select(Subscription).where(Subscription.account_id == account_id)
    ).first()


def view(account_id: int, subscription: Subscription | None, terms_version: str) -> dict[str, Any]:
    """What the owner sees of an account's subscription (an unsubscribed account too)."""
    sub = subscription
    return {
        "account_id": account_id,
        "subscribed": sub is not None and sub.state != "paused",
        "receives_opens": sub is not None and sub.state in OPEN_STATES,
        "state": sub.state if sub else None,
        "consent": sub.consent if sub else None,
        "terms_version": sub.terms_version if sub else None,
        "current_terms_version": terms_version,
        "accepted_at": sub.accepted_at if sub else None,
        "sizing": sub.sizing if sub else None,
        "symbols": sub.symbols if sub else None,
        "protection": sub.protection if sub else None,
        "breach": sub.breach if sub else None,
        "breached_at": sub.breached_at if sub else None,
        "equity": {
            "day": sub.day_key if sub else None,
            "day_start": sub.day_start_equity if sub else None,
            "high": sub.equity_high if sub else None,
            "last": sub.last_equity if sub else None,
            "currency": sub.currency if sub else None,
            "checked_at": sub.checked_at if sub else None,
        },
        "updated_at": sub.updated_at if sub else None,
    }


def get_subscription(
    *, session: DbSession, user: User, account_id: int, terms_version: str
) -> dict[str, Any]:
    account = get_account(session=session, user=user, account_id=account_id)
    return view(account.id, subscription_of(session, account.id), terms_version)


def subscribe(
    *,
    session: DbSession,
    user: User,
    account_id: int,
    sizing: FollowerSizing | None,
    symbols: SymbolFilter | None,
    protection: Protection | None,
    terms_version: str,
    ip: str | None,
) -> dict[str, Any]:
    """Accept the terms for this account with these settings (replacing earlier ones).

    A paused or legacy subscription becomes active and confirmed; one a protection breach
    moved to close_only or stopped_out stays there until it is reset.
    """
    account = get_account(session=session, user=user, account_id=account_id)
    now = utcnow()
    sub = subscription_of(session, account.id)
    created = sub is None
    if sub is None:
        sub = Subscription(account_id=account.id, user_id=account.user_id, state="active")
        session.add(sub)
    previous = None if created else (sub.state, sub.consent)
    if sub.state == "paused":
        sub.state = "active"
    sub.consent = "confirmed"
    sub.terms_version = terms_version
    sub.accepted_at = now
    sub.accepted_ip = ip
    sub.sizing = sizing.to_json() if sizing else None
    sub.symbols = symbols.to_json() if symbols else None
    sub.protection = protection.to_json() if protection else None
    sub.updated_at = now
    _audit(session, "subscription_accepted", user, account, ip, {
        "terms_version": terms_version, "previous": previous, "state": sub.state,
        "sizing": sub.sizing, "symbols": sub.symbols, "protection": sub.protection,
    })  # fmt: skip
    session.commit()
    return view(account.id, sub, terms_version)


def unsubscribe(
    *, session: DbSession, user: User, account_id: int, terms_version: str, ip: str | None
) -> dict[str, Any]:
    """No new opens from now on (state paused, the settings kept for a return); closes and
    other follow-ups still reach what the account holds."""
    account = get_account(session=session, user=user, account_id=account_id)
    sub = subscription_of(session, account.id)
    if sub is None:
        raise NotFound("This account is not subscribed.", code="not_subscribed")
    if sub.state != "paused":
        previous = sub.state
        sub.state = "paused"
        sub.updated_at = utcnow()
        _audit(session, "subscription_paused", user, account, ip, {"previous": previous})
        session.commit()
    return view(account.id, sub, terms_version)


def reset(
    *, session: DbSession, actor: User, account_id: int, terms_version: str, ip: str | None
) -> dict[str, Any]:
    """After a breach (close_only or stopped_out): active again, the equity marks measured
    afresh from the next read. The owner, or a super admin for any account."""
    account = session.get(MT5Account, account_id)
    mine = account is not None and account.user_id == actor.id
    if (
        account is None
        or account.deleted_at is not None
        or not (mine or actor.has_role("super_admin"))
    ):
        raise NotFound("No such account.", code="account_not_found")
    sub = subscription_of(session, account.id)
    if sub is None:
        raise NotFound("This account is not subscribed.", code="not_subscribed")
    previous = sub.state
    if previous in ("close_only", "stopped_out"):
        sub.state = "active"
    sub.breach = None
    sub.breached_at = None
    sub.close_pending = False
    sub.day_key = sub.day_start_equity = sub.equity_high = None
    sub.updated_at = utcnow()
    _audit(session, "subscription_reset", actor, account, ip, {"previous": previous})
    session.commit()
    return view(account.id, sub, terms_version)


def _audit(
    session: DbSession,
    event: str,
    actor: User,
    account: MT5Account,
    ip: str | None,
    details: dict[str, Any],
) -> None:
    record_event(
        session=session,
        event=event,
        actor_id=actor.id,
        subject_user_id=account.user_id,
        target_type="account",
        target_id=account.id,
        ip=ip,
        details=details,
    )
