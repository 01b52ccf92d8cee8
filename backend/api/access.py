"""Who is calling: a JWT or an X-API-Key, re-read from the database on every request."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from flask_jwt_extended import get_jwt, verify_jwt_in_request

from errors import Forbidden, Unauthorized
from extensions import db
from models import User
from services import auth_service

F = TypeVar("F", bound=Callable[..., Any])
SECURITY: list[dict[str, list[str]]] = [{"BearerAuth": []}, {"ApiKeyAuth": []}]


def _annotate(view: Any, role: str | None) -> None:
    spec = view.__dict__.setdefault("_spec", {})
    spec["security"] = SECURITY
    responses = dict(spec.get("responses") or {})
    responses.setdefault(401, "Missing, invalid, expired or revoked credentials")
    if role:
        responses.setdefault(403, f"Requires the {role} role")
    spec["responses"] = responses


def _load_caller() -> User:
    api_key = request.headers.get("X-API-Key")
    if api_key is not None:
        return auth_service.user_for_api_key(
            session=db.session, key=api_key, pepper=current_app.config["API_KEY_PEPPER"]
        )
    verify_jwt_in_request()
    claims = get_jwt()
    loaded = g.pop("token_user", None)
    user = loaded[1] if loaded is not None and loaded[0] == claims.get("jti") else None
    return auth_service.user_for_claims(session=db.session, claims=claims, loaded=user)


def auth_required(role: str | None = None) -> Callable[[F], F]:
    """Require a logged-in, active caller (and at least ``role``); sets ``g.current_user``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = _load_caller()
            if role and not user.has_role(role):
                raise Forbidden(f"This needs the {role} role.", code="forbidden")
            g.current_user = user
            return view(*args, **kwargs)

        _annotate(wrapper, role)
        return cast(F, wrapper)

    return decorator


def current_user() -> User:
    user = getattr(g, "current_user", None)
    if user is None:
        raise Unauthorized()
    return cast(User, user)


def client_ip() -> str | None:
    return request.remote_addr


def register_jwt_callbacks() -> None:
    """Flask-JWT-Extended's failures become our envelope; revocation is read from the database."""
    from api.error_handlers import envelope
    from extensions import jwt

    @jwt.token_in_blocklist_loader
    def _revoked(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        user, revoked = auth_service.token_user(session=db.session, claims=payload)
        g.token_user = (payload.get("jti"), user)  # read once; auth_required uses it
        return revoked

    @jwt.unauthorized_loader
    def _missing(reason: str) -> Any:
        return envelope(401, "unauthorized", "Authentication is required.", {"reason": reason})

    @jwt.invalid_token_loader
    def _invalid(reason: str) -> Any:
        return envelope(401, "invalid_token", "The token is not valid.", {"reason": reason})

    @jwt.expired_token_loader
    def _expired(_header: dict[str, Any], _payload: dict[str, Any]) -> Any:
        return envelope(401, "token_expired", "The token has expired.")

    @jwt.revoked_token_loader
    def _revoked_response(_header: dict[str, Any], _payload: dict[str, Any]) -> Any:
        return envelope(401, "token_revoked", "The token has been revoked.")

    @jwt.needs_fresh_token_loader
    def _not_fresh(_header: dict[str, Any], _payload: dict[str, Any]) -> Any:
        return envelope(401, "fresh_login_required", "Log in again to do this.")

    @jwt.token_verification_failed_loader
    def _failed(_header: dict[str, Any], _payload: dict[str, Any]) -> Any:
        return envelope(401, "invalid_token", "The token is not valid.")
