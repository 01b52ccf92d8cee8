"""Authentication endpoints: register, login, refresh, logout, profile, password, API key, MFA."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app
from flask_jwt_extended import get_jwt, jwt_required

from api import session_cookie
from api.access import auth_required, client_ip, current_user
from extensions import auth_settings, db, limiter, secret_box
from models import User
from schemas.auth import (
    ApiKeyIn,
    ApiKeyOut,
    LoginIn,
    MfaCodeIn,
    MfaConfirmIn,
    MfaDisableIn,
    MfaEnabledOut,
    MfaSetupOut,
    PasswordChangeIn,
    RecoveryCodesOut,
    RefreshedTokensOut,
    RegisterIn,
    TokensOut,
    UserOut,
)
from services import auth

bp = APIBlueprint("auth", __name__, url_prefix="/api", tag="Authentication")


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _register_limit() -> str:
    return str(current_app.config["REGISTER_RATE_LIMIT"])


# The answers of a route that changes MFA with a current code (disable, new recovery codes).
MFA_CODE_RESPONSES = {
    409: "MFA is not on (`mfa_not_enabled`)",
    422: "Wrong or used code (`invalid_otp`); counts toward the login lockout",
    423: "Locked after failed logins or codes",
}


def _factor(body: dict[str, Any]) -> auth.SecondFactor:
    return auth.SecondFactor(
        otp=body.get("otp"),
        recovery_code=body.get("recovery_code"),
        box=secret_box(),
        pepper=auth_settings().api_key_pepper,
    )


def _new_tokens(user: User) -> dict[str, Any]:
    """A fresh pair of a new session, for a caller who just proved the password or a code."""
    return _tokens_body(user, auth.issue_tokens(user, lifetimes=auth_settings().token_lifetimes))


def _pair_body(pair: auth.TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
    }


def _tokens_body(user: User, pair: auth.TokenPair) -> dict[str, Any]:
    return {**_pair_body(pair), "user": user}


@bp.post("/register")
@limiter.limit(_register_limit)
@bp.input(RegisterIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(responses={409: "Username or email taken", 429: "Rate limited"})
def register(body: dict[str, Any]) -> User:
    """Register a new user (role `user`)"""
    return auth.register_user(
        session=db.session, password_policy=auth_settings().password_policy, ip=client_ip(), **body
    )


@bp.post("/login")
@limiter.limit(_login_limit)
@bp.input(LoginIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(
    responses={
        401: "Invalid credentials (`invalid_credentials`); MFA account without a code "
        "(`mfa_required`) or with a wrong or used one (`invalid_otp`)",
        423: "Locked after failed logins (wrong passwords and wrong codes)",
        429: "Rate limited",
    }
)
def login(body: dict[str, Any]) -> dict[str, Any]:
    """Log in with username (or email) and password, plus a code when MFA is on

    The access token is fresh (may do sensitive actions) for JWT_FRESH_MINUTES. With
    `refresh_cookie: true` (the web dashboard) the refresh token is not in the body: it is set
    as the HttpOnly cookie `mt5_refresh`, with its CSRF token in the readable cookie `mt5_csrf`
    (see POST /api/token/refresh).
    """
    settings = auth_settings()
    user = auth.login(
        session=db.session,
        identifier=body["username"],
        password=body["password"],
        rounds=settings.password_policy.rounds,
        lockout=settings.lockout,
        ip=client_ip(),
        factor=_factor(body),
    )
    tokens = _new_tokens(user)
    if body["refresh_cookie"]:
        return session_cookie.keep_refresh_token_in_cookie(tokens)
    return tokens


@bp.post("/token/refresh")
@session_cookie.refresh_token_required
@bp.output(RefreshedTokensOut)
@bp.doc(
    security=[{"BearerAuth": []}, {"RefreshCookie": []}],
    responses={
        401: "Missing, invalid or revoked refresh token; or one already exchanged "
        "(`token_reused`: the whole session is revoked)",
        403: "The refresh cookie came without this session's `X-CSRF-Token` header (`csrf_failed`)",
    },
)
def refresh() -> dict[str, Any]:
    """Exchange a refresh token for a new pair (rotation); the one sent is retired

    The session keeps its absolute end (login + JWT_REFRESH_DAYS); the new access token is
    not fresh. The refresh token comes as `Authorization: Bearer <refresh token>`, or (the web
    dashboard) as the `mt5_refresh` cookie with the header `X-CSRF-Token: <the mt5_csrf
    cookie>`; then the new refresh token goes back in the cookie, not in the body.
    """
    claims = get_jwt()
    user = auth.user_for_claims(session=db.session, claims=claims)
    pair = auth.rotate_refresh_token(
        session=db.session,
        user=user,
        claims=claims,
        lifetimes=auth_settings().token_lifetimes,
        ip=client_ip(),
    )
    if session_cookie.came_from_cookie():
        return session_cookie.keep_refresh_token_in_cookie(_pair_body(pair))
    return _pair_body(pair)


@bp.post("/logout")
@jwt_required()
@bp.output({}, status_code=204)
@bp.doc(security=[{"BearerAuth": []}], responses={401: "Missing or invalid token"})
def logout() -> tuple[str, int]:
    """Log out: revoke this session's tokens (and clear the dashboard's cookies)"""
    session_cookie.clear_cookies_if_sent()
    claims = get_jwt()
    user = auth.user_for_claims(session=db.session, claims=claims)
    auth.logout(
        session=db.session,
        user=user,
        claims=claims,
        lifetimes=auth_settings().token_lifetimes,
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
@auth_required(fresh=True)
@bp.input(PasswordChangeIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(responses={422: "Current password wrong or new password refused"})
def change_password(body: dict[str, Any]) -> dict[str, Any]:
    """Change the caller's password; older tokens stop working, new ones are returned"""
    user = current_user()
    auth.change_password(
        session=db.session,
        user=user,
        current_password=body["current_password"],
        new_password=body["new_password"],
        password_policy=auth_settings().password_policy,
        ip=client_ip(),
    )
    return _new_tokens(user)


@bp.post("/me/api_key")
@auth_required(fresh=True)
@bp.input(ApiKeyIn, arg_name="body")
@bp.output(ApiKeyOut, status_code=201)
def create_api_key(body: dict[str, Any]) -> dict[str, Any]:
    """Create (or replace) the caller's API key, shown once

    Optional body: `scopes` (default: all) and `expires_in_days` (default: no expiry).
    """
    key, user = auth.create_api_key(
        session=db.session,
        user=current_user(),
        pepper=auth_settings().api_key_pepper,
        ip=client_ip(),
        scopes=body.get("scopes"),
        expires_in_days=body.get("expires_in_days"),
    )
    return {
        "api_key": key,
        "prefix": user.api_key_prefix,
        "created_at": user.api_key_created_at,
        "scopes": user.api_key_scope_list,
        "expires_at": user.api_key_expires_at,
    }


@bp.delete("/me/api_key")
@auth_required(fresh=True)
@bp.output({}, status_code=204)
@bp.doc(responses={404: "No API key to revoke"})
def revoke_api_key() -> tuple[str, int]:
    """Revoke the caller's API key"""
    auth.revoke_api_key(session=db.session, user=current_user(), ip=client_ip())
    return "", 204


@bp.post("/me/mfa/setup")
@auth_required(fresh=True)
@bp.output(MfaSetupOut)
@bp.doc(responses={409: "MFA is already on (`mfa_already_enabled`)"})
def mfa_setup() -> dict[str, Any]:
    """Start TOTP enrolment: a new secret, pending until confirmed

    The secret (and the otpauth:// URI that holds it) is returned only here. Calling this again
    before confirming replaces the pending secret.
    """
    secret, uri = auth.begin_mfa_setup(
        session=db.session,
        user=current_user(),
        box=secret_box(),
        issuer=auth_settings().mfa_issuer,
        ip=client_ip(),
    )
    return {"secret": secret, "otpauth_uri": uri, "digits": 6, "period": 30}


@bp.post("/me/mfa/confirm")
@auth_required(fresh=True)
@bp.input(MfaConfirmIn, arg_name="body")
@bp.output(MfaEnabledOut)
@bp.doc(
    responses={
        409: "MFA already on (`mfa_already_enabled`) or no setup pending (`mfa_not_pending`)",
        422: "Wrong or used code (`invalid_otp`)",
    }
)
def mfa_confirm(body: dict[str, Any]) -> dict[str, Any]:
    """Turn MFA on with a current code; returns one-time recovery codes, shown once

    Every earlier token of the user stops working (sessions opened with the password alone, this
    one too); the new tokens in the answer carry on this session.
    """
    user = current_user()
    codes = auth.enable_mfa(
        session=db.session,
        user=user,
        otp=body["otp"],
        box=secret_box(),
        pepper=auth_settings().api_key_pepper,
        ip=client_ip(),
    )
    return {**_new_tokens(user), "recovery_codes": codes}


@bp.post("/me/mfa/disable")
@auth_required(fresh=True)
@bp.input(MfaDisableIn, arg_name="body")
@bp.output(TokensOut)
@bp.doc(responses=MFA_CODE_RESPONSES)
def mfa_disable(body: dict[str, Any]) -> dict[str, Any]:
    """Turn MFA off with a current code or a recovery code (needs a fresh login)

    Every earlier token of the user stops working (other sessions, this one too); the new tokens
    in the answer carry on this session.
    """
    user = current_user()
    auth.disable_mfa(
        session=db.session,
        user=user,
        factor=_factor(body),
        lockout=auth_settings().lockout,
        ip=client_ip(),
    )
    return _new_tokens(user)


@bp.post("/me/mfa/recovery_codes")
@auth_required(fresh=True)
@bp.input(MfaCodeIn, arg_name="body")
@bp.output(RecoveryCodesOut)
@bp.doc(responses=MFA_CODE_RESPONSES)
def mfa_recovery_codes(body: dict[str, Any]) -> dict[str, Any]:
    """Replace every recovery code with ten new ones, shown once (a current code from the app)

    The earlier codes, used or not, stop working. A recovery code is not accepted here.
    """
    codes = auth.regenerate_recovery_codes(
        session=db.session,
        user=current_user(),
        factor=_factor({"otp": body["otp"]}),
        lockout=auth_settings().lockout,
        ip=client_ip(),
    )
    return {"recovery_codes": codes}
