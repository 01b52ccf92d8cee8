"""Output schemas that dump through a plan compiled once from their own fields.

marshmallow's dump asks every field, for every object, how to fetch its value (accessor, dotted
keys, defaults) before formatting it; for a status poll of a hundred targets that machinery was
half the request's CPU, and a client polling every 10 ms slowed the fan-out it watched. A
``CompiledSchema`` reads its declared fields once into a plan (output key, source key, default,
the field's own formatter) and runs that plan on plain dicts. The fields stay the single source
of truth: the same ``_serialize`` of each field formats each value, the OpenAPI document is
unchanged, and anything the plan does not cover (objects that are not dicts, dotted attributes,
``only``/``exclude``, dump hooks, ``many``) goes through marshmallow's own dump. A test compares
both on generated data (tests/backend/test_compiled_dump.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from apiflask import Schema
from flask import Response, current_app
from marshmallow import fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from utils.lru import BoundedLRU

Formatter = Callable[[Any, str, Any], Any]
Step = tuple[str, str, Any, Formatter]  # output key, source key, dump default, formatter

_PLANS: dict[type, list[Step] | None] = {}
_DUMPED: BoundedLRU[tuple[type, Any], list[Any]] = BoundedLRU(256)
_DUMPED_ITEMS: BoundedLRU[tuple[Any, ...], Any] = BoundedLRU(20_000)
_ENCODED: BoundedLRU[tuple[Any, ...], bytes] = BoundedLRU(256)
MAX_ENCODED_BYTES = 128 * 1024  # a default page is ~25 KB; a thousand targets are not kept


class CompiledSchema(Schema):
    """A Schema whose ``dump`` of one dict runs a plan compiled from its fields."""

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        plan = None if many or self.many or not isinstance(obj, Mapping) else _plan_of(self)
        if plan is None:
            return super().dump(obj, many=many)
        return _run(plan, obj)


def _plan_of(schema: CompiledSchema) -> list[Step] | None:
    kind = type(schema)
    if kind not in _PLANS:
        _PLANS[kind] = _compile(schema)
    plan = _PLANS[kind]
    if plan is None or schema.only or schema.exclude:
        return None
    return plan


def _compile(schema: CompiledSchema) -> list[Step] | None:
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        return None
    plan: list[Step] = []
    for name, field in schema.dump_fields.items():
        source = field.attribute or name
        if "." in source or not field._CHECK_ATTRIBUTE:
            return None
        key = field.data_key if field.data_key is not None else name
        plan.append((key, source, field.dump_default, _formatter(field)))
    return plan


def _formatter(field: fields.Field) -> Formatter:
    """The field's own formatting; nested compiled schemas (alone or in a list) run their plan."""
    if isinstance(field, fields.Nested) and _compiled(field):
        nested = field.schema
        return lambda value, _attr, _obj: None if value is None else nested.dump(value)
    if (
        isinstance(field, fields.List)
        and isinstance(field.inner, fields.Nested)
        and _compiled(field.inner)
    ):
        inner = field.inner.schema
        return lambda value, _attr, _obj: None if value is None else _dump_list(inner, value)
    return field._serialize


def _dump_list(inner: Any, items: Any) -> list[Any]:
    """Each item through the nested plan. A list that carries a ``signature`` (a content key:
    equal signatures, equal items, as ledger.status.TargetPage's) is dumped once per signature,
    and its items once per ``item_keys`` entry (a page where three rows moved dumps three)."""
    signature = getattr(items, "signature", None)
    if not signature:
        return [inner.dump(item) for item in items]
    kind = type(inner)
    dumped = _DUMPED.get((kind, signature))
    if dumped is None:
        dumped = [
            _dump_item(inner, (kind, key), item)
            for key, item in zip(items.item_keys, items, strict=True)
        ]
        _DUMPED.put((kind, signature), dumped)
    return dumped


def _dump_item(inner: Any, key: tuple[Any, ...], item: Any) -> Any:
    dumped = _DUMPED_ITEMS.get(key)
    if dumped is None:
        dumped = inner.dump(item)
        _DUMPED_ITEMS.put(key, dumped)
    return dumped


def _compiled(field: fields.Nested) -> bool:
    schema = field.schema
    return isinstance(schema, CompiledSchema) and not schema.many and _plan_of(schema) is not None


def _run(plan: list[Step], obj: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, source, default, formatter in plan:
        value = obj.get(source, missing)
        if value is missing:
            if default is missing:
                continue
            value = default() if callable(default) else default
        out[key] = formatter(value, source, obj)
    return out


def json_response(schema_class: type[Schema], obj: Mapping[str, Any]) -> Response:
    """The JSON response ``@bp.output(schema_class)`` would make of ``obj``, encoded once per
    content.

    A status poll asks for the same view again and again while it does not change, and encoding
    a page of targets was a quarter of the poll's CPU. The content key is ``obj`` itself, frozen
    (a list with a ``signature``, as a page of targets, stands for its content by it); a value
    the key cannot stand for exactly makes the response uncached, never stale. The schema is
    one instance per class, as ``@bp.output`` keeps one: building a schema deep-copies its
    declared fields, an eighth of a status read's CPU.
    """
    schema = _instance(schema_class)
    frozen = _frozen(obj)
    if frozen is _UNKEYED:
        return _encoded(schema, obj)
    json = current_app.json
    key = (type(schema), current_app.debug, getattr(json, "compact", None), frozen)
    body = _ENCODED.get(key)
    if body is None:
        body = _encoded(schema, obj).get_data()
        if len(body) <= MAX_ENCODED_BYTES:
            _ENCODED.put(key, body)
    return current_app.response_class(body, mimetype=getattr(json, "mimetype", None))


@functools.cache
def _instance(schema_class: type[Schema]) -> Schema:
    return schema_class()


def _encoded(schema: Schema, obj: Mapping[str, Any]) -> Response:
    return cast(Response, current_app.json.response(schema.dump(obj)))


_UNKEYED = object()
_EXACT = (str, int, datetime, type(None))  # equal values of these types encode the same


def _frozen(value: Any) -> Any:
    """A hashable stand-in for ``value``, equal only for values that encode the same, or
    ``_UNKEYED``. The type is part of it where equal values encode differently (``True == 1``,
    ``Decimal("1.0") == Decimal("1.00")``)."""
    kind = type(value)
    if kind in _EXACT:
        return value
    if kind in (bool, float) or kind.__name__ == "Decimal":
        return (kind.__name__, str(value))
    if isinstance(value, Mapping):
        items = tuple((key, _frozen(item)) for key, item in value.items())
        return _UNKEYED if any(f is _UNKEYED for _, f in items) else ("map", items)
    if isinstance(value, list | tuple):
        signature = getattr(value, "signature", None)
        if signature:
            return ("page", signature)
        listed = tuple(_frozen(item) for item in value)
        return _UNKEYED if any(f is _UNKEYED for f in listed) else ("list", listed)
    return _UNKEYED
