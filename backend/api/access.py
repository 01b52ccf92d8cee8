"""Who is calling: a JWT or an X-API-Key, re-read from the database on every request.

Four checks beyond "who", in this order: the role (403 ``forbidden``); MFA enrolment for the
roles in MFA_REQUIRED_ROLES (until MFA is on, a JWT reaches only the enrolment routes below and
an API key nothing: 403 ``mfa_enrollment_required``); a fresh login for sensitive actions (a JWT
from a password login within JWT_FRESH_MINUTES, else 401 ``fresh_login_required``; an API key
never, 403 ``api_key_not_allowed``); and an API key's scopes (403 ``insufficient_scope``), from
the table below.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from errors import Forbidden, Unauthorized
from extensions import auth_settings, db, jwt
from models import API_KEY_SCOPES, User
from services import auth

F = TypeVar("F", bound=Callable[..., Any])
SECURITY: list[dict[str, list[str]]] = [{"BearerAuth": []}, {"ApiKeyAuth": []}]
JWT_SECURITY: list[dict[str, list[str]]] = [{"BearerAuth": []}]

# The scope an API key needs: every GET needs "read"; other methods are listed by endpoint.
# A write endpoint missing here is closed to API keys (fail closed); routes that need a fresh
# login are closed to them whatever their scopes.
READ_SCOPE = "read"
WRITE_SCOPES: dict[str, str] = {
    "calculator.calculate": "calculate",
    "orders.send_orders": "trade",
    "broadcast.broadcast_orders": "trade",
    "broadcast.cancel_broadcast": "trade",
    "terminal.connect_account": "trade",
    "trades.modify_position": "trade",
    "trades.close_position": "trade",
    "trades.breakeven_position": "trade",
    "trades.close_all_positions": "trade",
    "trades.modify_order": "trade",
    "trades.cancel_order": "trade",
    "trades.dispatch_action": "trade",
    "trades.broadcast_action": "trade",
    "trades.dispatch_automation": "trade",
    "trades.broadcast_automation": "trade",
    "accounts.create_account": "manage",
    "accounts.update_account": "manage",
    "accounts.delete_account": "manage",
    "users.update_user": "manage",
    "notifications.put_notifications": "manage",
    "followers.delete_subscription": "manage",
    "followers.reset_subscription": "manage",
}
assert set(WRITE_SCOPES.values()) | {READ_SCOPE} <= set(API_KEY_SCOPES)

# What a user whose role is in MFA_REQUIRED_ROLES may reach before turning MFA on: enough to
# see who they are, enrol, change the password and end the session. Every other route (and any
# API key of such a user) answers 403 mfa_enrollment_required. Logout and refresh take their
# tokens without auth_required, so they are open anyway; they are listed to say so.
MFA_ENROLMENT_ENDPOINTS = frozenset(
    {
        "auth.me",
        "auth.mfa_setup",
        "auth.mfa_confirm",
        "auth.change_password",
        "auth.logout",
        "auth.refresh",
    }
)

Freshness = bool | Callable[[], bool]


def body_has(*fields: str) -> Callable[[], bool]:
    """A freshness rule: fresh only when the JSON body names one of ``fields``."""

    def check() -> bool:
        body = request.get_json(silent=True) if request.is_json else None
        return isinstance(body, dict) and any(name in body for name in fields)

    check.fields = fields  # type: ignore[attr-defined]
    return check


def required_scope(endpoint: str | None, method: str) -> str | None:
    """The scope an API key needs here; None: no key may call it."""
    if method in {"GET", "HEAD"}:
        return READ_SCOPE
    return WRITE_SCOPES.get(endpoint or "")


def _annotate(view: Any, role: str | None, fresh: Freshness) -> None:
    spec = view.__dict__.setdefault("_spec", {})
    spec["security"] = JWT_SECURITY if fresh is True else SECURITY
    responses = dict(spec.get("responses") or {})
    missing = "Missing, invalid, expired or revoked credentials"
    forbidden = [f"Requires the {role} role"] if role else []
    if fresh is True:
        missing += "; or a token not from a recent password login (`fresh_login_required`)"
        forbidden.append("API keys cannot do this (`api_key_not_allowed`)")
    elif fresh:
        names = ", ".join(getattr(fresh, "fields", ()))
        missing += f"; with {names} in the body, a token not from a recent password login"
        forbidden.append(f"API keys cannot change {names} (`api_key_not_allowed`)")
    if fresh is not True:
        forbidden.append("The API key lacks the scope (`insufficient_scope`)")
    forbidden.append(
        "The caller's role must use MFA (MFA_REQUIRED_ROLES) and it is not on yet "
        "(`mfa_enrollment_required`)"
    )
    responses.setdefault(401, missing)
    responses.setdefault(403, "; or ".join(forbidden))
    spec["responses"] = responses


def _load_caller() -> tuple[User, bool]:
    """The caller and whether it came with an API key (rather than a JWT)."""
    api_key = request.headers.get("X-API-Key")
    if api_key is not None:
        user = auth.user_for_api_key(
            session=db.session, key=api_key, pepper=auth_settings().api_key_pepper
        )
        return user, True
    verify_jwt_in_request()
    claims = get_jwt()
    loaded = g.pop("token_user", None)
    known = loaded[1] if loaded is not None and loaded[0] == claims.get("jti") else None
    return auth.user_for_claims(session=db.session, claims=claims, loaded=known), False


def _check_mfa_enrolment(user: User, by_api_key: bool) -> None:
    if not user.mfa_enrolment_pending(auth_settings().mfa_required_roles):
        return
    if not by_api_key and request.endpoint in MFA_ENROLMENT_ENDPOINTS:
        return
    then = (
        "; this API key works again once it is on"
        if by_api_key
        else " (POST /api/me/mfa/setup, then POST /api/me/mfa/confirm) before anything else"
    )
    raise Forbidden(
        f"Your role ({user.role}) must use two-factor authentication: turn it on{then}.",
        code="mfa_enrollment_required",
        details={"role": user.role, "setup": "/api/me/mfa/setup", "confirm": "/api/me/mfa/confirm"},
    )


def _check_api_key(user: User, needs_fresh: bool) -> None:
    if needs_fresh:
        raise Forbidden(
            "An API key cannot do this; log in with your password and use that token.",
            code="api_key_not_allowed",
        )
    scope = required_scope(request.endpoint, request.method)
    if scope is None or scope not in auth.api_key_scopes(user):
        raise Forbidden(
            f"This API key does not have the {scope or 'needed'} scope.",
            code="insufficient_scope",
            details={"required_scope": scope},
        )


def auth_required(role: str | None = None, *, fresh: Freshness = False) -> Callable[[F], F]:
    """Require a logged-in, active caller (and at least ``role``); sets ``g.current_user``.

    ``fresh``: True, or a rule such as ``body_has("password")``, for sensitive actions: a JWT
    from a password login within JWT_FRESH_MINUTES (401 ``fresh_login_required`` otherwise),
    and never an API key (403 ``api_key_not_allowed``). API keys are held to their scopes. A
    role in MFA_REQUIRED_ROLES without MFA on reaches only MFA_ENROLMENT_ENDPOINTS (by JWT).
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user, by_api_key = _load_caller()
            if role and not user.has_role(role):
                raise Forbidden(f"This needs the {role} role.", code="forbidden")
            _check_mfa_enrolment(user, by_api_key)
            needs_fresh = fresh() if callable(fresh) else fresh
            if by_api_key:
                _check_api_key(user, needs_fresh)
            elif needs_fresh and not auth.is_fresh(get_jwt()):
                raise Unauthorized(
                    "Log in again with your password to do this.", code="fresh_login_required"
                )
            g.current_user = user
            return view(*args, **kwargs)

        _annotate(wrapper, role, fresh)
        return cast(F, wrapper)

    return decorator


def current_user() -> User:
    user = getattr(g, "current_user", None)
    if user is None:
        raise Unauthorized()
    return cast(User, user)


def client_ip() -> str | None:
    return request.remote_addr


def register_revocation_check() -> None:
    """Every token's revocation (its jti or session) and user are read from the database."""

    @jwt.token_in_blocklist_loader
    def _revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        user, revoked = auth.token_user(session=db.session, claims=payload)
        g.token_user = (payload.get("jti"), user)  # read once; auth_required uses it
        return revoked
