"""A compiled dump is marshmallow's dump, faster: the same output for the same view, always."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema as PlainSchema
from marshmallow import fields

from models import ROW_STATUSES
from schemas.compiled import CompiledSchema
from schemas.orders import BroadcastListOut, DispatchOut, TargetOut


def marshmallow_dump(schema: CompiledSchema, obj: Any) -> Any:
    """What marshmallow itself makes of it: its own dump, nested schemas included."""
    compiled = CompiledSchema.dump
    CompiledSchema.dump = PlainSchema.dump  # type: ignore[method-assign]
    try:
        return schema.dump(obj)
    finally:
        CompiledSchema.dump = compiled  # type: ignore[method-assign]


ints = st.none() | st.integers(min_value=0, max_value=2**40)
decimals = st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=4)
times = st.none() | st.datetimes(timezones=st.just(UTC))
texts = st.none() | st.text(max_size=12)
json_dicts = st.none() | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5))

target = st.fixed_dictionaries(
    {
        "row_id": st.integers(1, 10**6), "account_id": st.integers(1, 10**6),
        "user_id": st.integers(1, 10**6), "leg": st.integers(0, 3), "symbol": texts,
        "volume": decimals, "status": st.sampled_from(ROW_STATUSES), "retcode": ints,
        "order": ints, "deal": ints, "position": ints, "price": decimals,
        "filled_volume": decimals, "attempts": st.integers(0, 9), "latency_ms": ints,
        "error": texts, "reason": texts, "details": json_dicts, "action": texts,
        "ticket": ints, "closed_volume": decimals, "remaining_volume": decimals,
        "warnings": st.lists(st.text(max_size=8), max_size=3), "executed_at": times,
    },
)  # fmt: skip


def without_some(strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Views where some keys are absent: marshmallow leaves those out, and so must the plan."""

    @st.composite
    def dropped(draw: Any) -> dict[str, Any]:
        view = draw(strategy)
        gone = draw(st.sets(st.sampled_from(sorted(view)), max_size=4))
        return {k: v for k, v in view.items() if k not in gone}

    return dropped() | strategy


dispatch = st.fixed_dictionaries(
    {
        "dispatch_id": st.integers(1, 10**6),
        "kind": st.sampled_from(["orders", "broadcast", "action"]),
        "parent_id": ints, "action": json_dicts, "automation": json_dicts,
        "actions": st.lists(st.fixed_dictionaries({
            "action_id": st.integers(1, 99), "action": st.text(max_size=6),
            "status": st.text(max_size=6), "created_at": st.datetimes(timezones=st.just(UTC)),
        }), max_size=2),
        "status": st.text(max_size=8), "created_at": st.datetimes(timezones=st.just(UTC)),
        "expires_at": st.datetimes(timezones=st.just(UTC)), "finished_at": times,
        "counts": st.dictionaries(st.sampled_from(ROW_STATUSES), st.integers(0, 1000)),
        "total": st.integers(0, 1000), "page": st.integers(1, 5), "per_page": st.integers(1, 1000),
        "next_after": ints, "targets": st.lists(without_some(target), max_size=4),
    },
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(without_some(dispatch))
def test_a_dispatch_view_dumps_as_marshmallow_dumps_it(view: dict[str, Any]) -> None:
    schema = DispatchOut()
    assert schema.dump(view) == marshmallow_dump(schema, view)


@settings(max_examples=200, deadline=None)
@given(without_some(target))
def test_a_target_dumps_as_marshmallow_dumps_it(view: dict[str, Any]) -> None:
    assert TargetOut().dump(view) == marshmallow_dump(TargetOut(), view)


def test_a_broadcast_list_dumps_as_marshmallow_dumps_it() -> None:
    when = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    view = {"broadcasts": [
        {"broadcast_id": 1, "status": "completed", "created_at": when, "finished_at": None,
         "counts": {"executed": 3}, "creator_id": 2, "symbol": "XAUUSD", "side": "buy"},
    ]}  # fmt: skip
    assert BroadcastListOut().dump(view) == marshmallow_dump(BroadcastListOut(), view)


def test_the_plan_formats_with_each_fields_own_formatter() -> None:
    out = TargetOut().dump({"volume": Decimal("0.10"), "executed_at": None, "warnings": []})
    assert out == {"volume": "0.10", "executed_at": None, "warnings": []}


class WithDefault(CompiledSchema):
    counted = fields.Integer(dump_default=7)
    renamed = fields.String(data_key="shown")
    secret = fields.String(load_only=True)


def test_defaults_data_keys_and_load_only_fields_are_honoured() -> None:
    assert WithDefault().dump({"renamed": "x", "secret": "s"}) == {"counted": 7, "shown": "x"}


def test_what_the_plan_does_not_cover_goes_through_marshmallow() -> None:
    class Row:
        row_id = 5
        status = "executed"

    assert TargetOut(only=("row_id",)).dump({"row_id": 5, "status": "x"}) == {"row_id": 5}
    assert TargetOut().dump(Row())["row_id"] == 5  # an object, not a dict
    assert TargetOut(many=True).dump([{"row_id": 1}]) == [{"row_id": 1}]
