"""The AppError hierarchy: every failure a client can see, with a stable snake_case code."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error with an HTTP status, a stable code and JSON-safe details."""

    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details or {}
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request body is not valid."


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication is required."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You do not have permission to do this."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "The resource was not found."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class Locked(AppError):
    status_code = 423
    code = "account_locked"
    message = "The account is temporarily locked."


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests."


class MT5Error(AppError):
    """A failure reported by (or on the way to) an MT5 terminal.

    ``retcode`` is the trade server's return code when there is one; ``last_error`` is the
    terminal's ``(code, description)`` pair read right after the failing call.
    """

    status_code = 502
    code = "mt5_error"
    message = "The MT5 terminal reported an error."

    def __init__(
        self,
        message: str | None = None,
        *,
        retcode: int | None = None,
        last_error: tuple[int, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retcode = retcode
        self.last_error = last_error
        if retcode is not None:
            self.details.setdefault("retcode", retcode)
        if last_error is not None:
            self.details.setdefault("last_error", {"code": last_error[0], "message": last_error[1]})


class MT5Unavailable(MT5Error):
    status_code = 502
    code = "mt5_unavailable"
    message = "The MT5 terminal could not be reached."


class MT5Timeout(MT5Error):
    status_code = 504
    code = "mt5_timeout"
    message = "The MT5 terminal did not answer in time."


class MT5AuthFailed(MT5Error):
    status_code = 422
    code = "mt5_auth_failed"
    message = "The MT5 server rejected the login or password."


class UnknownSymbol(AppError):
    status_code = 422
    code = "unknown_symbol"
    message = "The symbol is not known."


class CalculationError(AppError):
    """A sizing request that cannot be answered as asked (422 with a specific code)."""

    status_code = 422
    code = "calculation_error"


class OrderOutcomeUnknown(MT5Error):
    """order_send timed out, returned None, or lost the connection: the order may have landed.

    Never resend blind: look for the tagged order at the broker first.
    """

    status_code = 504
    code = "mt5_outcome_unknown"
    message = "The MT5 terminal did not confirm the order; its outcome is unknown."
