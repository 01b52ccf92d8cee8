"""Schemas shared by every module: the error envelope, pagination, security schemes."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Range

ERROR_ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable snake_case error code."},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "RefreshCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "mt5_refresh",
        "description": "The web dashboard's refresh token (POST /api/token/refresh only), with "
        "the header `X-CSRF-Token` set to the `mt5_csrf` cookie's value.",
    },
}


class PageQuery(Schema):
    page = fields.Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=Range(min=1, max=1000))


class PageMeta(Schema):
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class MessageOut(Schema):
    message = fields.String()
