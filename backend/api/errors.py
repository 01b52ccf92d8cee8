"""The error envelope, every error handler and Flask-JWT-Extended's failure responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from errors import AppError
from extensions import jwt

logger = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    423: "account_locked",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def envelope(
    status: int, code: str, message: str, details: Any = None, headers: Any = None
) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    for key, value in dict(headers or {}).items():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def _code_for(status: int) -> str:
    return HTTP_CODES.get(status, re.sub(r"\W+", "_", str(status)))


def register_error_handlers(app: APIFlask) -> None:
    """Every failure becomes {"error": {"code", "message", "details"}}, token failures too."""
    _register_http_errors(app)
    _register_token_failures()


def _register_http_errors(app: APIFlask) -> None:
    @app.error_processor
    def _http_error(error: HTTPError) -> Response:
        # APIFlask routes validation errors, abort() and werkzeug HTTP errors through here.
        details = error.detail if isinstance(error.detail, dict) else {}
        code = error.extra_data.get("code") if error.extra_data else None
        if error.status_code == 422 and not code:
            code = "validation_error"
        message = error.message or "Error"
        if error.status_code == 422 and details:
            message = "The request is not valid; see details for each field."
        return envelope(
            error.status_code, code or _code_for(error.status_code), message, details, error.headers
        )

    @app.errorhandler(AppError)
    def _app_error(error: AppError) -> Response:
        return envelope(error.status_code, error.code, error.message, error.details, error.headers)

    @app.errorhandler(HTTPException)
    def _werkzeug(error: HTTPException) -> Response:
        status = error.code or 500
        return envelope(
            status,
            _code_for(status),
            error.description or error.name,
            {},
            dict(error.get_headers()),
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error: %s", type(error).__name__)
        return envelope(500, "internal_error", "An unexpected error occurred.")


def _register_token_failures() -> None:
    """Flask-JWT-Extended answers a bad token itself, through these loaders, not by raising."""
    jwt.unauthorized_loader(_with_reason("unauthorized", "Authentication is required."))
    jwt.invalid_token_loader(_with_reason("invalid_token", "The token is not valid."))
    jwt.expired_token_loader(_expired)
    jwt.revoked_token_loader(_for_token("token_revoked", "The token has been revoked."))
    jwt.needs_fresh_token_loader(_for_token("fresh_login_required", "Log in again to do this."))
    jwt.token_verification_failed_loader(_for_token("invalid_token", "The token is not valid."))


def _with_reason(code: str, message: str) -> Callable[[str], Response]:
    """For a token that is missing or unreadable: the library's reason goes in the details."""

    def respond(reason: str) -> Response:
        return envelope(401, code, message, {"reason": reason})

    return respond


def _expired(_header: dict[str, Any], payload: dict[str, Any]) -> Response:
    """Say what to do next: an access token is renewed with the refresh token; a refresh token
    that expired needs a new login."""
    if payload.get("type") == "refresh":
        message = "The refresh token has expired; log in again with POST /api/login."
        next_step = "POST /api/login"
    else:
        message = (
            "The access token has expired; get a new one with POST /api/token/refresh "
            "(Authorization: Bearer <refresh token>), or log in again."
        )
        next_step = "POST /api/token/refresh"
    return envelope(401, "token_expired", message, {"next": next_step})


def _for_token(code: str, message: str) -> Callable[[dict[str, Any], dict[str, Any]], Response]:
    """For a token that was decoded (header and payload), and refused."""

    def respond(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return envelope(401, code, message)

    return respond
