"""A follower's pure rules: symbol filters, the trading day, equity marks, breaches, and the
pre-trade refusal of a broadcast open (subscription, filter, cap, equity), with a fake terminal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.follower import (
    EquityMarks,
    FollowerSizing,
    FollowerTerms,
    Protection,
    SymbolFilter,
    equity_breach,
    trading_day,
)
from ledger.protection import refusal
from ledger.types import AccountSizing, RowJob, Sizing, SizingMode, TradeOrder
from services.mt5.dto import AccountRef

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "start", "day"),
    [
        (datetime(2026, 12, 1, 21, 59, tzinfo=UTC), 22, "2026-11-30"),
        (datetime(2026, 12, 1, 22, 0, tzinfo=UTC), 22, "2026-12-01"),
        (datetime(2026, 12, 2, 21, 59, tzinfo=UTC), 22, "2026-12-01"),
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), 0, "2026-12-02"),
        (datetime(2026, 12, 2, 23, 59, tzinfo=UTC), 0, "2026-12-02"),
    ],
)
def test_trading_day_starts_at_the_configured_hour(at, start, day):
    assert trading_day(at, start) == day


@pytest.mark.parametrize(
    ("rule", "names", "allowed"),
    [
        (SymbolFilter(include=("XAUUSD",)), ("XAUUSD", "XAUUSD.m"), True),
        (SymbolFilter(include=("xauusd.m",)), ("XAUUSD", "XAUUSD.m"), True),
        (SymbolFilter(include=("EURUSD",)), ("XAUUSD", "XAUUSD.m"), False),
        (SymbolFilter(exclude=("XAUUSD",)), ("XAUUSD", "XAUUSD.m"), False),
        (SymbolFilter(exclude=("GOLD",)), ("XAUUSD", "XAUUSD.m"), True),
        (SymbolFilter(), ("XAUUSD",), True),
    ],
)
def test_symbol_filter_matches_either_name_case_insensitively(rule, names, allowed):
    assert rule.allows(*names) is allowed


def test_marks_a_new_day_starts_from_the_reading_and_the_high_only_rises():
    marks = EquityMarks().seen(Decimal(10000), "2026-12-01")
    marks = marks.seen(Decimal(10500), "2026-12-01").seen(Decimal(9800), "2026-12-01")

    assert (marks.day_start_equity, marks.equity_high) == (Decimal(10000), Decimal(10500))
    rolled = marks.seen(Decimal(9700), "2026-12-02")
    assert (rolled.day_key, rolled.day_start_equity, rolled.equity_high) == (
        "2026-12-02",
        Decimal(9700),
        Decimal(10500),
    )


@pytest.mark.parametrize(
    ("protection", "equity", "rule"),
    [
        (Protection(daily_loss_percent=Decimal(5)), "9500", "daily_loss_limit"),
        (Protection(daily_loss_percent=Decimal(5)), "9500.01", None),
        (Protection(daily_loss_amount=Decimal(300)), "9700", "daily_loss_limit"),
        (Protection(daily_loss_amount=Decimal(300)), "9700.01", None),
        (Protection(max_drawdown_percent=Decimal(10)), "9900", "max_drawdown_percent"),
        (Protection(max_drawdown_percent=Decimal(10)), "9901", None),
        (Protection(max_open_positions=1), "1", None),  # not an equity limit
    ],
)
def test_equity_breach_at_the_limit(protection, equity, rule):
    # the day started at 10,000; the high-water mark is 11,000
    marks = EquityMarks("2026-12-01", Decimal(10000), Decimal(11000))

    breach = equity_breach(protection, marks, Decimal(equity), "USD")

    assert (breach.rule if breach else None) == rule
    if breach:
        assert "USD" in breach.reason


def test_equity_breach_money_is_written_with_its_currency():
    marks = EquityMarks("2026-12-01", Decimal(1000000), Decimal(1000000))

    breach = equity_breach(
        Protection(daily_loss_amount=Decimal(50000)), marks, Decimal(940000), "USC"
    )

    assert breach is not None
    assert "60000.00 USC" in breach.reason and "50000.00 USC" in breach.reason
    assert breach.figures["loss"] == "60000.00"


@given(
    start=st.decimals(min_value=100, max_value=10**7, places=2),
    change=st.decimals(min_value=-(10**6), max_value=10**6, places=2),
    percent=st.decimals(min_value=Decimal("0.01"), max_value=100, places=2),
)
def test_daily_loss_breach_exactly_when_the_loss_reaches_the_percent(start, change, percent):
    equity = start + change
    marks = EquityMarks("d", start, max(start, equity))

    breach = equity_breach(Protection(daily_loss_percent=percent), marks, equity, "USD")

    loss = start - equity
    assert (breach is not None) == (loss > 0 and loss >= start * percent / 100)


def test_protection_and_sizing_survive_their_json_round_trip():
    protection = Protection(
        max_open_positions=3, daily_loss_amount=Decimal(500), max_drawdown_percent=Decimal(20),
        on_breach="close_all",
    )  # fmt: skip
    sizing = FollowerSizing.from_json(
        {"mode": "risk_percent", "percent": "1", "below_min": "min_lot", "max_risk_percent": "2"}
    )

    assert Protection.from_json(protection.to_json()) == protection
    assert protection.breach_state == "stopped_out"
    assert sizing is not None and FollowerSizing.from_json(sizing.to_json()) == sizing


# --- the pre-trade refusal ------------------------------------------------------------------

ACCOUNT = AccountRef(account_id=1, terminal="sim://x", login=1, password="p", server="s")


class Snapshot:
    def __init__(self, equity: str) -> None:
        self.equity, self.currency = Decimal(equity), "USD"


class Terminal:
    """Answers what the pre-trade check asks: open positions and the account's equity."""

    def __init__(self, positions: int = 0, equity: str = "10000") -> None:
        self.held, self.equity, self.reads = positions, equity, 0

    def positions(self, account: Any, symbol: Any = None) -> list[Any]:
        self.reads += 1
        return [object()] * self.held

    def account_snapshot(self, account: Any) -> Snapshot:
        self.reads += 1
        return Snapshot(self.equity)


def job(follower: FollowerTerms | None, *, broadcast: bool = True, **fields: Any) -> RowJob:
    return RowJob(
        row_id=9, dispatch_id=1, account_id=1, leg=0,
        order=TradeOrder(symbol="XAUUSD", side="buy", volume=Decimal("0.10")),
        sizing=Sizing(SizingMode.FOLLOWER), account_settings=AccountSizing(), magic=1, tag="t",
        created_at=NOW, expires_at=NOW + timedelta(minutes=1), account=ACCOUNT,
        broadcast=broadcast, follower=follower, **fields,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("follower", "code"),
    [
        (None, "not_subscribed"),
        (FollowerTerms("paused"), "subscription_paused"),
        (FollowerTerms("close_only"), "subscription_close_only"),
        (FollowerTerms("stopped_out"), "subscription_stopped_out"),
        (FollowerTerms("suspended"), "subscription_suspended"),
        (FollowerTerms("active", symbols=SymbolFilter(exclude=("XAUUSD",))), "symbol_filtered"),
        (
            FollowerTerms("active", protection=Protection(max_open_positions=2)),
            "max_open_positions",
        ),
        (
            FollowerTerms(
                "active",
                protection=Protection(daily_loss_percent=Decimal(5)),
                marks=EquityMarks(trading_day(datetime.now(UTC), 22), Decimal(11000)),
            ),
            "protection_breached",
        ),
        (FollowerTerms("active", protection=Protection(daily_loss_percent=Decimal(5))), None),
        (FollowerTerms("active"), None),
    ],
)
def test_refusal_of_a_broadcast_open(follower, code):
    outcome = refusal(job(follower), Terminal(positions=2, equity="10000"), "XAUUSD")

    assert (outcome.error.partition(":")[0] if outcome else None) == code
    if outcome:
        assert outcome.status == "skipped"


def test_refusal_records_the_breach_for_the_store():
    follower = FollowerTerms(
        "active",
        protection=Protection(max_drawdown_percent=Decimal(5)),
        marks=EquityMarks(None, None, Decimal(11000)),
    )

    outcome = refusal(job(follower), Terminal(equity="10000"), "XAUUSD")

    assert outcome is not None and outcome.protection_breach is not None
    assert outcome.protection_breach["account_id"] == 1
    assert outcome.protection_breach["rule"] == "max_drawdown_percent"


def test_refusal_leaves_own_orders_and_sized_sibling_legs_alone():
    terminal = Terminal(positions=5)
    capped = FollowerTerms("active", protection=Protection(max_open_positions=1))

    assert refusal(job(None, broadcast=False), terminal, "XAUUSD") is None
    assert refusal(job(capped, volume=Decimal("0.05")), terminal, "XAUUSD") is None
    assert terminal.reads == 0
