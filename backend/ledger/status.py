"""What a dispatch looks like from outside: its view, waiting for it, and its event stream."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import aliased

from errors import NotFound
from extensions import DbSession
from ledger import store
from ledger.types import summary_status
from models import BroadcastQueue, Dispatch, DispatchCounts, User
from models.broadcast import ROW_STATUSES
from utils.lru import BoundedLRU
from utils.strict_json import StrictJSONProvider

HEARTBEAT_S = 15.0
MAX_STREAM_S = 3600.0


def get_dispatch(
    session: DbSession, *, user: User, dispatch_id: int, broadcasts_only: bool = False
) -> Dispatch:
    """The caller's own dispatch; super admins also see every broadcast and its actions.

    ``broadcasts_only``: a broadcast or an action following one up (the broadcast routes).
    Anything else is a 404, so no one learns what exists.
    """
    dispatch = session.get(Dispatch, dispatch_id)
    if dispatch is None:
        raise NotFound("No such dispatch.", code="dispatch_not_found")
    root = dispatch
    if dispatch.parent_id is not None:
        root = session.get(Dispatch, dispatch.parent_id) or dispatch
    _check_visible(dispatch.creator_id, root.kind, user, broadcasts_only=broadcasts_only)
    return dispatch


def _check_visible(creator_id: int, root_kind: str, user: User, *, broadcasts_only: bool) -> None:
    """The rule of ``get_dispatch`` and ``visible_head``: a 404 for what the user may not see."""
    is_broadcast = root_kind == "broadcast"
    visible = creator_id == user.id or (is_broadcast and user.has_role("super_admin"))
    if not visible or (broadcasts_only and not is_broadcast):
        raise NotFound("No such dispatch.", code="dispatch_not_found")


class DispatchHead(NamedTuple):
    """What a dispatch's view shows of the dispatch itself, its counts and how many follow-ups
    it has, read in one statement (``visible_head``) instead of an ORM load, a counts read and an
    actions read: a status poll is mostly statements, each a few hundred microseconds."""

    id: int
    kind: str
    parent_id: int | None
    creator_id: int
    root_kind: str | None  # the parent's kind (an action's); None for an open
    order_data: dict[str, Any]
    automation: dict[str, Any] | None
    created_at: Any
    expires_at: Any
    finished_at: Any
    counts: dict[str, int]
    actions: int


def visible_head(
    session: DbSession, *, user: User, dispatch_id: int, broadcasts_only: bool = False
) -> DispatchHead:
    """``get_dispatch``'s rule (the caller's own dispatch; super admins also every broadcast and
    its actions) on the dispatch's head, for the views that only read it."""
    row = session.connection().execute(_head_query(), {"dispatch_id": dispatch_id}).first()
    if row is None:
        raise NotFound("No such dispatch.", code="dispatch_not_found")
    # A dispatch without rows has no counts row: all zeros (as store.counts_by_status).
    counts = {status: int(getattr(row, status) or 0) for status in ROW_STATUSES}
    head = DispatchHead._make((*row[:10], counts, row.actions))
    root_kind = head.root_kind or head.kind
    _check_visible(head.creator_id, root_kind, user, broadcasts_only=broadcasts_only)
    return head


@functools.cache
def _head_query() -> Any:
    d, root, child = Dispatch, aliased(Dispatch), aliased(Dispatch)
    c = DispatchCounts
    actions = select(func.count()).where(child.parent_id == d.id).scalar_subquery()
    return (
        select(
            d.id, d.kind, d.parent_id, d.creator_id, root.kind.label("root_kind"), d.order_data,
            d.automation, d.created_at, d.expires_at, d.finished_at, actions.label("actions"),
            *(getattr(c, status) for status in ROW_STATUSES),
        )
        .outerjoin(root, root.id == d.parent_id)
        .outerjoin(c, c.dispatch_id == d.id)
        .where(d.id == bindparam("dispatch_id"))
    )  # fmt: skip


def dispatch_view(
    session: DbSession,
    dispatch: Dispatch | DispatchHead,
    *,
    page: int = 1,
    per_page: int = 1000,
    after: int | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """The dispatch, its counts and one page of its targets, in row order; ``user_id``: only
    the targets on that user's accounts (a follower's view of a broadcast).

    ``after`` (a row id, the ``next_after`` of the previous page) reads the page by key: an
    index seek on (dispatch_id, id), as cheap on the last page as on the first. Without it,
    ``page`` counts pages from the start (an offset, kept for existing clients).
    """
    if isinstance(dispatch, DispatchHead) and user_id is None:
        counts = dispatch.counts
    else:
        counts = store.counts_by_status(session, dispatch.id, user_id=user_id)
    params = {"dispatch_id": dispatch.id, "limit": per_page + 1, "user_id": user_id}
    if after is None:
        params["offset"] = (page - 1) * per_page
    else:
        params["after"] = after
    by_user, by_key = user_id is not None, after is not None
    keys = session.connection().execute(_page_query(by_user=by_user, by_key=by_key), params).all()
    more = len(keys) > per_page
    # The dispatch's creation time in the key as well: ids alone are not for ever (another
    # database, or SQLite handing out a deleted row's id again).
    signature = (dispatch.id, dispatch.created_at, tuple(map(tuple, keys[:per_page])))
    targets = _targets(session, signature)
    return {
        "dispatch_id": dispatch.id,
        "kind": dispatch.kind,
        "parent_id": dispatch.parent_id,
        "action": dispatch.order_data if dispatch.kind == "action" else None,
        "automation": dispatch.automation,
        "actions": []
        if isinstance(dispatch, DispatchHead) and not dispatch.actions
        else actions_of(session, dispatch.id),
        "status": summary_status(counts),
        "created_at": dispatch.created_at,
        "expires_at": dispatch.expires_at,
        "finished_at": dispatch.finished_at,
        "counts": counts,
        "total": sum(counts.values()),
        "page": page,
        "per_page": per_page,
        "next_after": keys[per_page - 1].id if more else None,
        "targets": targets,
    }


Signature = tuple[int, Any, tuple[tuple[int, ...], ...]]


class TargetPage(list[dict[str, Any]]):
    """A page of target views and what its content is made of: the dispatch (id, created_at)
    and the (row id, row_version) of each row (``item_keys``: the same per row).
    ``row_version`` moves with every update of a row, so two pages with the same ``signature``
    read the same, and so do two rows with the same key; the output schema keeps its dumps
    under them too."""

    signature: Signature | None = None
    item_keys: tuple[tuple[Any, ...], ...] = ()


PAGE_CACHE_SIZE = 256
ROW_CACHE_SIZE = 20_000
_PAGES: BoundedLRU[Signature, TargetPage] = BoundedLRU(PAGE_CACHE_SIZE)
_VIEWS: BoundedLRU[tuple[Any, ...], dict[str, Any]] = BoundedLRU(ROW_CACHE_SIZE)


def _targets(session: DbSession, signature: Signature) -> TargetPage:
    """The page whose rows and versions are ``signature``: as it was served while none of its
    rows changed (a client polling a finished page reads two integers a row instead of every
    column); otherwise only the rows that changed are read again (a page mid-fan-out has a few
    rows moving, not a hundred). The keys and the rows need not come from one snapshot: a row
    that moved in between is kept under the version actually read, and a page with it is read
    again next time."""
    cached = _PAGES.get(signature)
    if cached is not None:
        return cached
    dispatch = signature[:2]
    views: dict[int, tuple[int, dict[str, Any]]] = {}
    missing: list[int] = []
    for row_id, version in signature[2]:
        view = _VIEWS.get((*dispatch, row_id, version))
        if view is None:
            missing.append(row_id)
        else:
            views[row_id] = (version, view)
    if missing:
        for row in session.connection().execute(_rows_query(), {"ids": missing}):
            view = target_view(row)
            _VIEWS.put((*dispatch, row.id, row.row_version), view)
            views[row.id] = (row.row_version, view)
    present = [(row_id, *views[row_id]) for row_id, _ in signature[2] if row_id in views]
    page = TargetPage(view for _, _, view in present)
    page.signature = (*dispatch, tuple((row_id, version) for row_id, version, _ in present))
    page.item_keys = tuple((*dispatch, row_id, version) for row_id, version, _ in present)
    _PAGES.put(page.signature, page)
    return page


@functools.cache
def _rows_query() -> Any:
    return select(*TARGET_COLUMNS).where(BroadcastQueue.id.in_(bindparam("ids", expanding=True)))


@functools.cache
def _page_query(*, by_user: bool, by_key: bool) -> Any:
    """A page of targets: each row's id and row_version, built once per shape with bound
    parameters (a poll every 10 ms otherwise rebuilt and re-keyed the statement)."""
    query = (
        select(BroadcastQueue.id, BroadcastQueue.row_version)
        .where(BroadcastQueue.dispatch_id == bindparam("dispatch_id"))
        .order_by(BroadcastQueue.id)
        .limit(bindparam("limit"))
    )
    if by_user:
        query = query.where(BroadcastQueue.target_user_id == bindparam("user_id"))
    if by_key:
        return query.where(BroadcastQueue.id > bindparam("after"))
    return query.offset(bindparam("offset"))


def summary_view(session: DbSession, dispatch: Dispatch) -> dict[str, Any]:
    """One line of a dispatch list: its counts and status, not its targets."""
    counts = store.counts_by_status(session, dispatch.id)
    return {
        "broadcast_id": dispatch.id,
        "status": summary_status(counts),
        "created_at": dispatch.created_at,
        "finished_at": dispatch.finished_at,
        "counts": counts,
        "creator_id": dispatch.creator_id,
        "symbol": dispatch.order_data.get("symbol"),
        "side": dispatch.order_data.get("side"),
    }


def actions_of(session: DbSession, dispatch_id: int) -> list[dict[str, Any]]:
    """The follow-ups of a dispatch, oldest first: what each did and where it stands."""
    found = session.execute(
        select(Dispatch.id, Dispatch.order_data, Dispatch.status, Dispatch.created_at)
        .where(Dispatch.parent_id == dispatch_id)
        .order_by(Dispatch.id)
    )
    return [
        {
            "action_id": row.id,
            "action": row.order_data.get("action"),
            "status": row.status if row.status != "pending" else _live_status(session, row.id),
            "created_at": row.created_at,
        }
        for row in found
    ]


def _live_status(session: DbSession, dispatch_id: int) -> str:
    return summary_status(store.counts_by_status(session, dispatch_id))


# What a target's view reads of its row: plain columns, not ORM objects. A status poll of a
# page of targets builds no entities (identity map, instance state, change tracking), which was
# a third of its cost; the Row answers the same attribute names.
TARGET_COLUMNS = tuple(
    getattr(BroadcastQueue, name)
    for name in (
        "id", "account_id", "target_user_id", "leg", "symbol", "volume", "status", "retcode",
        "order_ticket", "deal_ticket", "position_ticket", "fill_price", "fill_volume",
        "attempts", "latency_ms", "error_message", "error_details", "action", "ticket",
        "closed_volume", "remaining_volume", "warnings", "executed_at", "row_version",
    )
)  # fmt: skip


def target_view(row: Any) -> dict[str, Any]:
    """One target: ``row`` is a row of TARGET_COLUMNS (or a BroadcastQueue)."""
    reason = None
    if row.error_message and row.status in ("failed", "skipped"):
        reason = row.error_message.partition(":")[0]
    return {
        "row_id": row.id,
        "account_id": row.account_id,
        "user_id": row.target_user_id,
        "leg": row.leg,
        "symbol": row.symbol,
        "volume": row.volume,
        "status": row.status,
        "retcode": row.retcode,
        "order": row.order_ticket,
        "deal": row.deal_ticket,
        "position": row.position_ticket,
        "price": row.fill_price,
        "filled_volume": row.fill_volume,
        "attempts": row.attempts,
        "latency_ms": row.latency_ms,
        "error": row.error_message,
        "reason": reason,
        "details": row.error_details,
        "action": row.action,
        "ticket": row.ticket,
        "closed_volume": row.closed_volume,
        "remaining_volume": row.remaining_volume,
        "warnings": list(row.warnings or []),
        "executed_at": row.executed_at,
    }


def is_final(session: DbSession, dispatch_id: int) -> bool:
    """No row of the dispatch is pending or in flight."""
    return not store.has_open_rows(session, dispatch_id)


def wait_until_final(
    session: DbSession, dispatch_id: int, wait_s: float, wait_dispatch: Callable[[int, float], Any]
) -> bool:
    """Wait (up to wait_s) for every row of the dispatch to reach a final state.

    ``wait_dispatch(dispatch_id, timeout)`` returns when the executor recorded an outcome of
    this dispatch; the database is re-read then, and at least every half second regardless.
    """
    deadline = time.monotonic() + wait_s
    while True:
        final = is_final(session, dispatch_id)
        # End the read and hand the connection back before waiting: fifty waiting requests
        # must not hold the pool the executor needs to record their outcomes.
        session.rollback()
        if final:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wait_dispatch(dispatch_id, min(remaining, 0.5))


def _sse(event: str, payload: object) -> str:
    text = json.dumps(payload, default=StrictJSONProvider.default_for_sse, ensure_ascii=False)
    return f"event: {event}\ndata: {text}\n\n"


def event_stream(
    session: DbSession, dispatch_id: int, wait_changed: Callable[[float], None]
) -> Iterator[str]:
    """Server-Sent Events: every row whose state changed since the last look, until all rows
    are final; then a summary."""
    seen: dict[int, int] = {}  # row id -> the row_version last sent
    waited = 0.0
    while True:
        session.rollback()
        rows = session.execute(
            select(*TARGET_COLUMNS)
            .where(BroadcastQueue.dispatch_id == dispatch_id)
            .order_by(BroadcastQueue.id)
        ).all()
        for row in rows:
            if seen.get(row.id) != row.row_version:
                seen[row.id] = row.row_version
                yield _sse("target", target_view(row))
        if is_final(session, dispatch_id) or waited >= MAX_STREAM_S:
            counts = store.counts_by_status(session, dispatch_id)
            yield _sse(
                "done",
                {"dispatch_id": dispatch_id, "status": summary_status(counts), "counts": counts},
            )
            return
        session.rollback()  # hand the connection back while waiting
        wait_changed(0.25)
        waited += 0.25
