"""Per-request hooks: request id, body checks before any view, security headers, access log."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from errors import AppError

logger = logging.getLogger("access")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# A path whose last part is a credential (the signal webhook's token): logged without it.
SECRET_PATHS = ("/hooks/signals/",)
# JSON needs nothing; the pages (api/web.py) set their own policy.
API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _check_body() -> None:
    """A body must be JSON and parse strictly, before any view or schema sees it."""
    if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
        return
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
    if not has_body:
        return
    if request.mimetype != "application/json":
        raise AppError(
            "The body must be JSON (Content-Type: application/json).",
            code="unsupported_media_type",
            status_code=415,
        )
    request.get_json()  # raises invalid_json (400) on malformed JSON, NaN or duplicate keys


def loggable_path(path: str) -> str:
    for prefix in SECRET_PATHS:
        if path.startswith(prefix):
            return prefix + "<token>"
    return path


def register_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        _check_body()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "-")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", API_CSP)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        elapsed_ms = (time.perf_counter() - getattr(g, "started", time.perf_counter())) * 1000
        logger.info(
            "%s %s %s %.1fms",
            request.method,
            loggable_path(request.path),
            response.status_code,
            elapsed_ms,
        )
        return response
