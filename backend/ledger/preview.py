"""A dry run: what an open would do on each target, by the executor's own rules, with nothing
created or sent: the volume per leg, the money at risk in the account's currency and in USD,
or the reason the target would be skipped or fail."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from errors import AppError
from extensions import DbSession
from ledger import protection
from ledger.execution import market_facts, mid_quote
from ledger.jobs import SETTINGS, SUBSCRIPTION, account_reference, follower_terms
from ledger.sending import Gateway
from ledger.sizing import MarketFacts, leg_volumes, risk_of
from ledger.types import AccountSizing, RowJob, Sizing, SizingMode, TradeOrder
from models import MT5Account, Subscription, User
from models.columns import utcnow
from services.calculation.conversion import usd_amount, with_usd
from utils.security import SecretBox

PREVIEW_THREADS = 16  # terminal reads at a time
VERDICTS = ("would_send", "would_skip", "would_fail")


def preview_jobs(
    session: DbSession,
    *,
    order: TradeOrder,
    sizing: Sizing,
    account_ids: Sequence[int],
    broadcast: bool,
    box: SecretBox,
    day_start_hour: int,
) -> list[RowJob]:
    """One job per account, as the executor would claim its first leg (no row exists)."""
    a = MT5Account
    rows = session.execute(
        select(
            a.id.label("account_id"), a.user_id, a.terminal, a.login, a.server,
            a.password_encrypted, a.symbol_map, a.is_active, a.deleted_at,
            *(getattr(a, name) for name in SETTINGS),
            User.is_active.label("owner_active"), User.allow_broadcast,
            *(getattr(Subscription, name).label(f"sub_{name}") for name in SUBSCRIPTION),
        )
        .join(User, User.id == a.user_id)
        .outerjoin(Subscription, Subscription.account_id == a.id)
        .where(a.id.in_(list(account_ids)))
        .order_by(a.id)
    ).all()  # fmt: skip
    session.commit()  # no transaction stays open across the terminal reads that follow
    now = utcnow()
    jobs = []
    for row in rows:
        ref, problem = account_reference(row, box)
        jobs.append(
            RowJob(
                row_id=0, dispatch_id=0, account_id=row.account_id, leg=0, order=order,
                sizing=sizing,
                account_settings=AccountSizing(*(getattr(row, name) for name in SETTINGS)),
                magic=0, tag="", created_at=now, expires_at=now + timedelta(minutes=1),
                account=ref, account_problem=problem, broadcast=broadcast,
                follower=follower_terms(row, day_start_hour) if broadcast else None,
            )
        )  # fmt: skip
    return jobs


def preview_all(jobs: Sequence[RowJob], gateway: Gateway, user_ids: dict[int, int]) -> dict:
    """Every target's verdict (several terminals read at once) and the counts by verdict."""
    with ThreadPoolExecutor(max_workers=min(PREVIEW_THREADS, max(1, len(jobs)))) as pool:
        targets = list(pool.map(lambda job: preview_target(job, gateway), jobs))
    for target in targets:
        target["user_id"] = user_ids.get(target["account_id"])
    counts = {verdict: 0 for verdict in VERDICTS}
    for target in targets:
        counts[target["verdict"]] += 1
    return {"dry_run": True, "accounts": len(targets), "counts": counts, "targets": targets}


def preview_target(job: RowJob, gateway: Gateway) -> dict[str, Any]:
    """One target's verdict: would_send (volumes and risk), would_skip or would_fail (why)."""
    if job.account is None:
        reason = job.account_problem or "the account cannot trade"
        return _verdict(job, "would_fail", "account_unavailable", reason)
    try:
        return _sized(job, gateway)
    except AppError as exc:
        return _verdict(job, "would_fail", exc.code, exc.message)


def _sized(job: RowJob, gateway: Gateway) -> dict[str, Any]:
    assert job.account is not None
    symbol = gateway.resolve_symbol(job.account, job.order.symbol)
    refused = protection.refusal(job, gateway, symbol)
    if refused is not None:
        code, _, message = (refused.error or "").partition(": ")
        return _verdict(job, "would_skip", code, message, symbol=symbol)
    facts = _facts(job, gateway, symbol)
    follower = job.follower.sizing if job.follower is not None else None
    try:
        sized = leg_volumes(job.order, job.sizing, job.account_settings, facts, follower)
    except AppError as exc:
        return _not_sized(job, gateway, symbol, exc)
    volume = sum(sized.volumes.values(), Decimal(0))
    risk = _risk(job, gateway, facts, volume)
    return {
        **_verdict(job, "would_send", None, None, symbol=symbol),
        "volume": volume,
        "legs": [sized.volumes[leg] for leg in sorted(sized.volumes)],
        "risk": risk,
        "warnings": sized.warnings,
    }


def _facts(job: RowJob, gateway: Gateway, symbol: str) -> MarketFacts:
    """What sizing reads, plus (with a stop loss) the account and quote the risk needs."""
    facts = market_facts(job, gateway, symbol)
    assert job.account is not None
    if job.order.stop_loss is None:
        return facts
    snapshot = facts.snapshot or gateway.account_snapshot(job.account)
    tick = facts.tick
    if tick is None and job.order.is_market:
        tick = gateway.tick(job.account, symbol)
    return MarketFacts(spec=facts.spec, snapshot=snapshot, tick=tick)


def _risk(
    job: RowJob, gateway: Gateway, facts: MarketFacts, volume: Decimal
) -> dict[str, Any] | None:
    amount = risk_of(job.order, facts, volume)
    if amount is None or facts.snapshot is None:
        return None
    currency = facts.snapshot.currency
    usd = usd_amount(amount, currency, lambda pair: _mid(job, gateway, pair))
    return {"amount": amount, "currency": currency, "usd": usd}


def _not_sized(job: RowJob, gateway: Gateway, symbol: str, exc: AppError) -> dict[str, Any]:
    details = getattr(exc, "details", None) or {}
    message = exc.message
    if exc.code == "below_min_volume" and details.get("min_lot_risk_money"):
        amount = Decimal(details["min_lot_risk_money"])
        message = with_usd(message, amount, details["currency"], lambda p: _mid(job, gateway, p))
    follower_skip = exc.code == "below_min_volume" and job.sizing.mode is SizingMode.FOLLOWER
    verdict = "would_skip" if follower_skip else "would_fail"
    return {**_verdict(job, verdict, exc.code, message, symbol=symbol), "details": details}


def _mid(job: RowJob, gateway: Gateway, pair: str) -> Decimal | None:
    assert job.account is not None
    return mid_quote(gateway, job.account, pair)


def _verdict(
    job: RowJob, verdict: str, reason: str | None, message: str | None, *, symbol: str | None = None
) -> dict[str, Any]:
    return {
        "account_id": job.account_id,
        "verdict": verdict,
        "symbol": symbol,
        "volume": None,
        "legs": [],
        "risk": None,
        "reason": reason,
        "message": message,
        "warnings": [],
        "details": None,
    }
