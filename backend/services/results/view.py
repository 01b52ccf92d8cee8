"""What the results routes answer: each target's figures, and totals per currency and in USD."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from errors import CalculationError
from services.calculation.conversion import conversion_factor
from services.results.cache import FIGURES
from services.results.plans import TargetPlan
from services.results.reading import quote_pairs

CENT = Decimal("0.01")
MONEY_FIGURES = ("realised", "commission", "swap", "floating")
ZERO = Decimal(0)


def target_view(plan: TargetPlan, row: dict[str, Any] | None) -> dict[str, Any]:
    status = plan.ledger_status() or (row["status"] if row else "open")
    figures = {name: (row or {}).get(name) for name in FIGURES}
    digits = (row or {}).get("currency_digits")
    if digits is not None:
        # The cache's decimal column gives a whole amount back without its places (-2.00 comes
        # back as -2): money is written to the currency's digits again, as when it was read.
        cent = Decimal(1).scaleb(-int(digits))
        for name in MONEY_FIGURES:
            value = figures[name]
            if value is not None:
                figures[name] = value.quantize(cent, rounding=ROUND_HALF_UP)
    realised, floating = figures["realised"], figures["floating"]
    return {
        "account_id": plan.account_id,
        "user_id": plan.user_id,
        "status": status,
        "currency": (row or {}).get("currency"),
        **figures,
        "net": realised + floating if realised is not None and floating is not None else None,
        "positions": (row or {}).get("positions") or [],
        "legs": len(plan.row_statuses),
        "actions": [asdict(action) for action in plan.actions],
        "reason": plan.reason if status in ("failed", "skipped") else None,
        "error": (row or {}).get("error") if status not in ("failed", "skipped") else None,
        "computed_at": (row or {}).get("computed_at"),
    }


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _latest_quote(rows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    quoted = [r for r in rows if r.get("quoted_at") is not None]
    if not quoted:
        return None
    row = max(quoted, key=lambda r: r["quoted_at"])
    return {
        "pair": row["quote_pair"], "bid": row["quote_bid"], "ask": row["quote_ask"],
        "quoted_at": row["quoted_at"], "account_id": row["account_id"],
    }  # fmt: skip


def _to_usd(currency: str, quote: dict[str, Any] | None) -> Decimal | None:
    """How many USD one unit of ``currency`` is worth at the recorded quote's mid price."""
    if not quote_pairs(currency):
        return conversion_factor(currency, "USD", {})  # USD itself, or its cent: no quote
    if quote is None:
        return None
    try:
        return conversion_factor(
            currency, "USD", {quote["pair"]: (quote["bid"] + quote["ask"]) / 2}
        )
    except CalculationError:
        return None


def currency_totals(
    views: Sequence[dict[str, Any]], rows: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for view in views:
        if view["currency"] is not None and view["realised"] is not None:
            grouped[view["currency"]].append(view)
    totals = []
    for currency, members in sorted(grouped.items()):
        realised = sum((v["realised"] for v in members), ZERO)
        floating = sum((v["floating"] for v in members), ZERO)
        quote = _latest_quote(rows[v["account_id"]] for v in members if v["account_id"] in rows)
        rate = _to_usd(currency, quote)
        usd = None
        if rate is not None:
            in_usd = _money(realised * rate), _money(floating * rate)
            usd = {
                "rate": rate.normalize(), "quote": quote, "realised": in_usd[0],
                "floating": in_usd[1], "net": sum(in_usd),  # the shown parts always add up
            }  # fmt: skip
        totals.append({
            "currency": currency, "targets": len(members), "realised": realised,
            "floating": floating, "net": realised + floating, "usd": usd,
        })  # fmt: skip
    return totals


def totals(views: Sequence[dict[str, Any]], rows: dict[int, dict[str, Any]]) -> dict[str, Any]:
    by_currency = currency_totals(views, rows)
    converted = [t["usd"] for t in by_currency if t["usd"] is not None]
    by_status: dict[str, int] = defaultdict(int)
    for view in views:
        by_status[view["status"]] += 1
    traded = [v for v in views if v["opened_volume"] and v["net"] is not None]
    return {
        "by_currency": by_currency,
        "usd": {
            "realised": sum((u["realised"] for u in converted), ZERO),
            "floating": sum((u["floating"] for u in converted), ZERO),
            "net": sum((u["net"] for u in converted), ZERO),
            "complete": len(converted) == len(by_currency),
        },
        "winners": sum(1 for v in traded if v["net"] > 0),
        "losers": sum(1 for v in traded if v["net"] < 0),
        "breakeven": sum(1 for v in traded if v["net"] == 0),
        "by_status": dict(by_status),
    }
