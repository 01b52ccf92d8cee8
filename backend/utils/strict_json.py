"""Strict JSON in and out: exact Decimals, no NaN, no duplicate keys, for Flask and the schemas."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from apiflask.schema_adapters.marshmallow import parser
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.wrappers import Request
from webargs import core

from errors import AppError

MAX_NUMBER_DIGITS = 40
# Escaped control characters (C0 but tab/newline/return, DEL, C1) and lone UTF-16 surrogates:
# JSON lets `\u0000` and `\ud800` through, but no field wants them, and a lone surrogate cannot
# even be encoded for the database.
FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class InvalidJSON(AppError):
    status_code = 400
    code = "invalid_json"
    message = "The request body is not valid JSON."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError("number too long")
    return Decimal(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if FORBIDDEN_TEXT.search(value):
            raise ValueError("control character or lone surrogate in a string")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def _may_hold_forbidden_text(data: str | bytes) -> bool:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return True  # UTF-16/32, which json.loads also reads: walk the parsed value
    return "\\u" in data or FORBIDDEN_TEXT.search(data) is not None


def loads_strict(data: str | bytes) -> Any:
    """Parse JSON with numbers as exact Decimals; NaN/Infinity, duplicate keys, control
    characters, lone surrogates and absurd nesting are errors (ValueError)."""
    try:
        parsed = json.loads(
            data,
            parse_float=_decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
        # Raw JSON text cannot hold a C0 control character and valid UTF-8 no lone surrogate,
        # so only an escape or a raw DEL/C1 character can put one in a string: walk then.
        if _may_hold_forbidden_text(data):
            _check_text(parsed)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return parsed


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class StrictJSONProvider(DefaultJSONProvider):
    """Decimals in as Decimal and out as decimal strings; never through float."""

    sort_keys = False
    default_for_sse = staticmethod(_default)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_strict(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", _default)
        kwargs.setdefault("ensure_ascii", False)
        kwargs.setdefault("allow_nan", False)
        return json.dumps(obj, **kwargs)


class StrictRequest(Request):
    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        detail = str(e) if e is not None else "missing or wrong Content-Type"
        if e is None:
            raise AppError(
                "The body must be JSON (Content-Type: application/json).",
                code="unsupported_media_type",
                status_code=415,
            )
        raise InvalidJSON(details={"reason": detail[:200]})


def _schema_json(request: Request, schema: Any) -> Any:
    """The body for a schema; no body reads as ``{}``, unless the schema says an empty body
    is not ``{}`` (``REQUIRES_BODY``: where ``{}`` itself means something, e.g. "remove")."""
    if not request.get_data(cache=True):
        if getattr(schema, "REQUIRES_BODY", False):
            raise InvalidJSON(details={"reason": "the body is empty; send a JSON object"})
        return core.missing
    if not request.is_json:
        return core.missing
    return request.get_json()


def install_strict_json(app: Flask) -> None:
    """Every JSON body read and written by ``app``, schemas included, goes through this module.

    webargs, under APIFlask, parses bodies with the standard ``json.loads``: floats (0.1 becomes a
    binary approximation), NaN and Infinity accepted, duplicate keys silently merged. Its "json"
    location is routed through ``request.get_json()`` so every schema sees the strict parse.
    """
    app.json_provider_class = StrictJSONProvider
    app.json = StrictJSONProvider(app)
    app.request_class = StrictRequest
    parser.location_loader("json")(_schema_json)
