"""A dispatch's results per target account: P&L from the terminals' deals, cached, bounded.

One request reads at most ``max_reads`` targets at their terminals (the requested page's
first), ``threads`` at a time, with no database transaction open meanwhile; everything else is
answered from dispatch_results (see services/results/cache.py for when a target is read again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from errors import AppError, NotFound
from extensions import DbSession
from ledger import status
from ledger.types import summary_status
from models import BroadcastQueue, Dispatch, MT5Account, User
from models.columns import utcnow
from services.mt5.dto import AccountRef
from services.mt5.gateway import MT5Gateway
from services.mt5_service import account_ref
from services.results import cache
from services.results.plans import TargetPlan, target_plans
from services.results.reading import Quote, Reading, read_quote, read_target
from services.results.view import target_view, totals
from utils.security import SecretBox


@dataclass(frozen=True)
class ResultsSettings:
    refresh_s: float = 30.0  # an open target's figures are read again after this long
    max_reads: int = 200  # targets read at their terminals in one request, at most
    threads: int = 16  # terminal reads at a time

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ResultsSettings:
        return cls(
            float(config["RESULTS_REFRESH_S"]),
            int(config["RESULTS_MAX_READS"]),
            int(config["RESULTS_READ_THREADS"]),
        )


@dataclass(frozen=True)
class Page:
    page: int = 1
    per_page: int = 100


def broadcast_results(
    *, session: DbSession, gateway: MT5Gateway, box: SecretBox, admin: User, broadcast_id: int,
    settings: ResultsSettings, page: Page,
) -> dict[str, Any]:  # fmt: skip
    """A broadcast's results on every follower's account (super admins)."""
    dispatch = status.get_dispatch(
        session, user=admin, dispatch_id=broadcast_id, broadcasts_only=True
    )
    return _results(session, gateway, box, _an_open(dispatch), settings, page)


def dispatch_results(
    *, session: DbSession, gateway: MT5Gateway, box: SecretBox, user: User, dispatch_id: int,
    settings: ResultsSettings, page: Page,
) -> dict[str, Any]:  # fmt: skip
    """The results of one of the caller's dispatches on every account it reached."""
    dispatch = status.get_dispatch(session, user=user, dispatch_id=dispatch_id)
    return _results(session, gateway, box, _an_open(dispatch), settings, page)


def my_results(
    *, session: DbSession, gateway: MT5Gateway, box: SecretBox, user: User, dispatch_id: int,
    settings: ResultsSettings, page: Page,
) -> dict[str, Any]:  # fmt: skip
    """A dispatch's results on the caller's own accounts only (a follower of a broadcast)."""
    reached = session.scalar(
        select(BroadcastQueue.id)
        .where(BroadcastQueue.dispatch_id == dispatch_id, BroadcastQueue.target_user_id == user.id)
        .limit(1)
    )
    dispatch = session.get(Dispatch, dispatch_id) if reached is not None else None
    if dispatch is None:
        raise NotFound("No such dispatch.", code="dispatch_not_found")
    return _results(session, gateway, box, _an_open(dispatch), settings, page, user_id=user.id)


def _an_open(dispatch: Dispatch) -> Dispatch:
    if dispatch.kind == "action":
        raise AppError(
            "Results belong to the dispatch that opened the trades; its follow-ups show there.",
            code="not_an_open",
            status_code=422,
            details={"parent_id": dispatch.parent_id},
        )
    return dispatch


def _results(
    session: DbSession, gateway: MT5Gateway, box: SecretBox, dispatch: Dispatch,
    settings: ResultsSettings, page: Page, user_id: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    plans = target_plans(session, dispatch.id, user_id=user_id)
    cached = cache.cached_results(session, dispatch.id)
    now = utcnow()
    on_page = plans[(page.page - 1) * page.per_page : page.page * page.per_page]
    due = _due(on_page, plans, cached, now, settings)
    fresh = _decided_by_ledger(dispatch.id, plans, cached, now)
    refs = _refs(session, box, due[: settings.max_reads])
    session.commit()  # no transaction stays open across terminal calls
    fresh += _read(gateway, dispatch.id, refs, cached, settings, now)
    cache.save_results(session, fresh)
    session.commit()
    rows = cache.merged(cached, fresh)
    views = [target_view(plan, rows.get(plan.account_id)) for plan in plans]
    return _answer(session, dispatch, views, rows, page, settings, read=len(refs), due=len(due))


def _due(
    on_page: Sequence[TargetPlan], plans: Sequence[TargetPlan], cached: dict[int, Any],
    now: datetime, settings: ResultsSettings,
) -> list[TargetPlan]:  # fmt: skip
    """Targets to read at their terminals now: the page's first, then the rest."""
    first = {p.account_id for p in on_page}
    ordered = [*on_page, *(p for p in plans if p.account_id not in first)]
    return [
        p
        for p in ordered
        if cache.is_due(p, cached.get(p.account_id), now=now, refresh_s=settings.refresh_s)
    ]


def _decided_by_ledger(
    dispatch_id: int, plans: Sequence[TargetPlan], cached: dict[int, Any], now: datetime
) -> list[dict[str, Any]]:
    """Failed and skipped targets not cached yet (pending ones change soon: not cached)."""
    return [
        cache.ledger_values(dispatch_id, p, now=now)
        for p in plans
        if p.ledger_status() in ("failed", "skipped")
        and (cached.get(p.account_id) or {}).get("status") != p.ledger_status()
    ]


def _refs(
    session: DbSession, box: SecretBox, due: Sequence[TargetPlan]
) -> list[tuple[TargetPlan, AccountRef | str]]:
    """Each due target with its gateway reference, or why it cannot be reached."""
    ids = [p.account_id for p in due]
    accounts = {a.id: a for a in session.scalars(select(MT5Account).where(MT5Account.id.in_(ids)))}
    found: list[tuple[TargetPlan, AccountRef | str]] = []
    for plan in due:
        account = accounts.get(plan.account_id)
        if account is None or account.deleted_at is not None or not account.password_encrypted:
            found.append((plan, "account_unreachable: the account was deleted"))
            continue
        try:
            found.append((plan, account_ref(account, box)))
        except Exception as exc:  # an unreadable password or login: say so, read the others
            found.append((plan, f"account_unreachable: {type(exc).__name__}"))
    return found


def _read_one(gateway: MT5Gateway, plan: TargetPlan, ref: AccountRef | str) -> Reading | str:
    if isinstance(ref, str):
        return ref
    try:
        return read_target(gateway, ref, plan)
    except AppError as exc:
        return f"{exc.code}: {exc.message}"


def _read(
    gateway: MT5Gateway, dispatch_id: int, refs: Sequence[tuple[TargetPlan, AccountRef | str]],
    cached: dict[int, Any], settings: ResultsSettings, now: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    if not refs:
        return []
    with ThreadPoolExecutor(max(1, min(settings.threads, len(refs)))) as pool:
        readings = list(pool.map(lambda pair: _read_one(gateway, *pair), refs))
    quotes = _quotes(gateway, refs, readings)
    rows = []
    for (plan, _), reading in zip(refs, readings, strict=True):
        if isinstance(reading, str):
            previous = cached.get(plan.account_id)
            rows.append(cache.failed_read_values(dispatch_id, plan, previous, reading, now=now))
        else:
            quote = quotes.get(reading.currency)
            rows.append(cache.read_values(dispatch_id, plan, reading, quote, now=now))
    return rows


def _quotes(
    gateway: MT5Gateway, refs: Sequence[tuple[TargetPlan, AccountRef | str]],
    readings: Sequence[Reading | str],
) -> dict[str, Quote | None]:  # fmt: skip
    """One USD quote per account currency, read now at a terminal of an account in it."""
    quotes: dict[str, Quote | None] = {}
    for (_, ref), reading in zip(refs, readings, strict=True):
        if isinstance(reading, str) or isinstance(ref, str) or reading.currency in quotes:
            continue
        try:
            quotes[reading.currency] = read_quote(gateway, ref, reading.currency)
        except AppError:
            quotes[reading.currency] = None
    return quotes


def _answer(
    session: DbSession, dispatch: Dispatch, views: list[dict[str, Any]],
    rows: dict[int, dict[str, Any]], page: Page, settings: ResultsSettings, *, read: int,
    due: int,
) -> dict[str, Any]:  # fmt: skip
    order = dispatch.order_data
    return {
        "dispatch_id": dispatch.id,
        "kind": dispatch.kind,
        "symbol": order.get("symbol"),
        "side": order.get("side"),
        "status": summary_status(status.store.counts_by_status(session, dispatch.id)),
        "created_at": dispatch.created_at,
        "finished_at": dispatch.finished_at,
        "total": len(views),
        "page": page.page,
        "per_page": page.per_page,
        "refresh": {
            "read_now": read,
            "waiting": due - read,
            "refresh_s": settings.refresh_s,
            "max_reads": settings.max_reads,
        },
        "totals": totals(views, rows),
        "targets": views[(page.page - 1) * page.per_page : page.page * page.per_page],
    }
