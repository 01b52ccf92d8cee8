"""The dashboard's browser session: its refresh token in an HttpOnly cookie, CSRF-checked.

API clients send the refresh token as a Bearer header and get the new one in the body, as
before. The dashboard logs in with ``refresh_cookie: true`` so that JavaScript never holds the
refresh token (the access token stays in the page's memory only):

- ``mt5_refresh`` (JWT_REFRESH_COOKIE_NAME) holds the refresh token: ``HttpOnly``,
  ``SameSite=Strict``, ``Path=/api/``, ``Secure`` when the request came over HTTPS, expiring
  with the session. Only ``POST /api/token/refresh`` reads it (every other route reads tokens
  from the Authorization header alone), and logout clears it.
- ``mt5_csrf`` holds the CSRF token, readable by the page (``SameSite=Strict``, ``Path=/``):
  HMAC-SHA256 of the login session's id under SECRET_KEY. The refresh route accepts the cookie
  only with an ``X-CSRF-Token`` header equal to it: a cross-site page cannot send the cookie
  (SameSite), cannot add a custom header to a request here (no CORS for foreign origins), and
  cannot compute the value for a session (a signed double submit, so a planted cookie pair from
  another session does not match).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, after_this_request, current_app, request
from flask_jwt_extended import (
    decode_token,
    get_jwt,
    get_jwt_request_location,
    verify_jwt_in_request,
)

from errors import Forbidden
from services.auth import session_csrf_token

F = TypeVar("F", bound=Callable[..., Any])
REFRESH_COOKIE_PATH = "/api/"
CSRF_COOKIE = "mt5_csrf"
CSRF_HEADER = "X-CSRF-Token"


def refresh_token_required(view: F) -> F:
    """A refresh token from the Authorization header, or from the cookie with its CSRF header."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verify_jwt_in_request(refresh=True, locations=["headers", "cookies"])
        if came_from_cookie():
            _check_csrf(get_jwt())
        return view(*args, **kwargs)

    return cast(F, wrapper)


def came_from_cookie() -> bool:
    return get_jwt_request_location() == "cookies"


def keep_refresh_token_in_cookie(tokens: dict[str, Any]) -> dict[str, Any]:
    """Take the refresh token out of the answer; the response sets it (and the CSRF) as cookies."""
    refresh_token = tokens.pop("refresh_token")
    claims = decode_token(refresh_token)

    @after_this_request
    def _set(response: Response) -> Response:
        _set_cookies(response, refresh_token, claims)
        return response

    return tokens


def clear_cookies_if_sent() -> None:
    """Logout: a browser that sent the refresh cookie gets both cookies deleted."""
    if _refresh_cookie_name() not in request.cookies:
        return

    @after_this_request
    def _clear(response: Response) -> Response:
        secure = request.is_secure
        response.delete_cookie(
            _refresh_cookie_name(),
            path=REFRESH_COOKIE_PATH,
            secure=secure,
            httponly=True,
            samesite="Strict",
        )
        response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="Strict")
        return response


def _check_csrf(claims: dict[str, Any]) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    expected = _csrf_for(claims)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden(
            f"A refresh by cookie needs this session's {CSRF_HEADER} header "
            f"(the {CSRF_COOKIE} cookie's value).",
            code="csrf_failed",
        )


def _csrf_for(claims: dict[str, Any]) -> str:
    sid = str(claims.get("sid") or claims["jti"])
    return session_csrf_token(sid, key=current_app.config["SECRET_KEY"])


def _set_cookies(response: Response, refresh_token: str, claims: dict[str, Any]) -> None:
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    secure = request.is_secure
    response.set_cookie(
        _refresh_cookie_name(),
        refresh_token,
        expires=expires,
        path=REFRESH_COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="Strict",
    )
    response.set_cookie(
        CSRF_COOKIE, _csrf_for(claims), expires=expires, path="/", secure=secure, samesite="Strict"
    )


def _refresh_cookie_name() -> str:
    return str(current_app.config["JWT_REFRESH_COOKIE_NAME"])
