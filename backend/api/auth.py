"""Authentication endpoints: register, login, refresh, logout, profile, password, API key."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app
from flask_jwt_extended import get_jwt, jwt_required

from api.access import auth_required, client_ip, current_user
from extensions import db, limiter
from models import User
from schemas.auth import (
    AccessTokenOut,
    ApiKeyOut,
    LoginIn,
    PasswordChangeIn,
    RegisterIn,
    TokensOut,
    UserOut,
)
from services import auth_service

bp = APIBlueprint("auth", __name__, url_prefix="/api", tag="Authentication")


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _register_limit() -> str:
    return str(current_app.config["REGISTER_RATE_LIMIT"])


def _tokens_body(user: User, pair: auth_service.TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "user": user,
    }


@bp.post("/register")
@limiter.limit(_register_limit)
@bp.input(RegisterIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(responses={409: "Username or email taken", 429: "Rate limited"})
def register(body: dict[str, Any]) -> User:
    """Register a new user (role `user`)"""
    return auth_service.register_user(
        session=db.session, rounds=current_app.config["BCRYPT_ROUNDS"], ip=client_ip(), **body
    )


@bp.post("/login")
@limiter.limit(_login_limit)
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(
    responses={401: "Invalid credentials", 423: "Locked after failed logins", 429: "Rate limited"}
)
def login(body: dict[str, Any]) -> dict[str, Any]:
    """Log in with username (or email) and password"""
    policy = auth_service.LockoutPolicy(
        current_app.config["LOCKOUT_THRESHOLD"], current_app.config["LOCKOUT_MINUTES"]
    )
    user = auth_service.login(
        session=db.session,
        identifier=body["username"],
        password=body["password"],
        rounds=current_app.config["BCRYPT_ROUNDS"],
        policy=policy,
        ip=client_ip(),
    )
    return _tokens_body(user, auth_service.issue_tokens(user))


@bp.post("/token/refresh")
@jwt_required(refresh=True)
@bp.output(AccessTokenOut)
@bp.doc(security=[{"BearerAuth": []}], responses={401: "Missing, invalid or revoked refresh token"})
def refresh() -> dict[str, Any]:
    """Exchange a refresh token for a new access token"""
    claims = get_jwt()
    user = auth_service.user_for_claims(session=db.session, claims=claims)
    token, expires_in = auth_service.refresh_access(user=user, claims=claims)
    return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in}


@bp.post("/logout")
@jwt_required()
@bp.output({}, status_code=204)
@bp.doc(security=[{"BearerAuth": []}], responses={401: "Missing or invalid token"})
def logout() -> tuple[str, int]:
    """Log out: revoke this session's access and refresh tokens"""
    claims = get_jwt()
    user = auth_service.user_for_claims(session=db.session, claims=claims)
    auth_service.logout(
        session=db.session,
        user=user,
        claims=claims,
        refresh_ttl=current_app.config["JWT_REFRESH_TOKEN_EXPIRES"],
        ip=client_ip(),
    )
    return "", 204


@bp.get("/me")
@auth_required()
@bp.output(UserOut)
def me() -> User:
    """The caller's profile"""
    return current_user()


@bp.post("/me/password")
@auth_required()
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(responses={422: "Current password wrong or new password refused"})
def change_password(body: dict[str, Any]) -> dict[str, Any]:
    """Change the caller's password; older tokens stop working, new ones are returned"""
    user = current_user()
    auth_service.change_password(
        session=db.session,
        user=user,
        current_password=body["current_password"],
        new_password=body["new_password"],
        rounds=current_app.config["BCRYPT_ROUNDS"],
        ip=client_ip(),
    )
    return _tokens_body(user, auth_service.issue_tokens(user))


@bp.post("/me/api_key")
@auth_required()
@bp.output(ApiKeyOut, status_code=201)
def create_api_key() -> dict[str, Any]:
    """Create (or replace) the caller's API key, shown once"""
    key, user = auth_service.create_api_key(
        session=db.session,
        user=current_user(),
        pepper=current_app.config["API_KEY_PEPPER"],
        ip=client_ip(),
    )
    return {"api_key": key, "prefix": user.api_key_prefix, "created_at": user.api_key_created_at}


@bp.delete("/me/api_key")
@auth_required()
@bp.output({}, status_code=204)
@bp.doc(responses={404: "No API key to revoke"})
def revoke_api_key() -> tuple[str, int]:
    """Revoke the caller's API key"""
    auth_service.revoke_api_key(session=db.session, user=current_user(), ip=client_ip())
    return "", 204
