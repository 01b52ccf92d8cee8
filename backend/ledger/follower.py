"""A follower's own terms on a broadcast: sizing, symbol filters and protection, and the pure
rules that read them (which symbols pass, the trading day, the equity marks, a breach).

The subscription row stores each part as JSON (``to_json``); the executor reads them back as
these types (``from_json``) with the row it claims, so a follower's rule is applied by the
same code whether the open is sent or previewed (dry run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Literal

from services.calculation.result import money_figure
from utils.decimals import decimal_text

BelowMin = Literal["skip", "min_lot"]
OnBreach = Literal["close_only", "close_all"]
OPEN_STATES = frozenset({"active"})  # the only state that receives new opens
CENTS = Decimal("0.01")


def decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def text_or_none(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


class FollowerMode(StrEnum):
    RISK_PERCENT = "risk_percent"  # this percent of the follower's balance at the stop
    FIXED_VOLUME = "fixed_volume"  # always this volume
    MULTIPLIER = "multiplier"  # the signal's volume times factor
    BALANCE_RATIO = "balance_ratio"  # the signal's volume times balance / base_balance


@dataclass(frozen=True)
class FollowerSizing:
    """How one follower sizes a broadcast sent with ``"sizing": {"mode": "follower"}``."""

    mode: FollowerMode
    percent: Decimal | None = None
    volume: Decimal | None = None
    factor: Decimal | None = None
    base_balance: Decimal | None = None
    max_volume: Decimal | None = None
    below_min: BelowMin = "skip"
    max_risk_percent: Decimal | None = None  # min_lot: trade the minimum only within this risk

    @property
    def needs_balance(self) -> bool:
        return self.mode in (FollowerMode.RISK_PERCENT, FollowerMode.BALANCE_RATIO)

    def to_json(self) -> dict[str, Any]:
        figures = {
            "percent": self.percent,
            "volume": self.volume,
            "factor": self.factor,
            "base_balance": self.base_balance,
            "max_volume": self.max_volume,
            "max_risk_percent": self.max_risk_percent,
        }
        return {
            "mode": self.mode.value,
            **{k: text_or_none(v) for k, v in figures.items() if v is not None},
            "below_min": self.below_min,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FollowerSizing | None:
        if not data:
            return None
        return cls(
            mode=FollowerMode(data["mode"]),
            percent=decimal_or_none(data.get("percent")),
            volume=decimal_or_none(data.get("volume")),
            factor=decimal_or_none(data.get("factor")),
            base_balance=decimal_or_none(data.get("base_balance")),
            max_volume=decimal_or_none(data.get("max_volume")),
            below_min="min_lot" if data.get("below_min") == "min_lot" else "skip",
            max_risk_percent=decimal_or_none(data.get("max_risk_percent")),
        )


@dataclass(frozen=True)
class SymbolFilter:
    """``include``: only these symbols; ``exclude``: all but these (never both)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def allows(self, *names: str) -> bool:
        """Whether a symbol passes, by any of its names: the signal's and the broker's resolved
        one (``XAUUSD`` in a filter matches the broker's ``XAUUSD.m``), case-insensitive."""
        wanted = {name.upper() for name in names if name}
        if self.include:
            return bool(wanted & {s.upper() for s in self.include})
        return not wanted & {s.upper() for s in self.exclude}

    def to_json(self) -> dict[str, list[str]] | None:
        if self.include:
            return {"include": list(self.include)}
        if self.exclude:
            return {"exclude": list(self.exclude)}
        return None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SymbolFilter:
        data = data or {}
        return cls(tuple(data.get("include") or ()), tuple(data.get("exclude") or ()))


@dataclass(frozen=True)
class Protection:
    """Limits on one follower's account; each is off when None."""

    max_open_positions: int | None = None
    daily_loss_percent: Decimal | None = None  # of the trading day's start equity
    daily_loss_amount: Decimal | None = None  # in the account's currency
    max_drawdown_percent: Decimal | None = None  # from the equity high-water mark
    on_breach: OnBreach = "close_only"

    @property
    def watches_equity(self) -> bool:
        limits = (self.daily_loss_percent, self.daily_loss_amount, self.max_drawdown_percent)
        return any(limit is not None for limit in limits)

    @property
    def breach_state(self) -> str:
        return "stopped_out" if self.on_breach == "close_all" else "close_only"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"on_breach": self.on_breach}
        if self.max_open_positions is not None:
            out["max_open_positions"] = self.max_open_positions
        if self.daily_loss_percent is not None:
            out["daily_loss_limit"] = {"percent": text_or_none(self.daily_loss_percent)}
        elif self.daily_loss_amount is not None:
            out["daily_loss_limit"] = {"amount": text_or_none(self.daily_loss_amount)}
        if self.max_drawdown_percent is not None:
            out["max_drawdown_percent"] = text_or_none(self.max_drawdown_percent)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Protection:
        data = data or {}
        daily = data.get("daily_loss_limit") or {}
        return cls(
            max_open_positions=data.get("max_open_positions"),
            daily_loss_percent=decimal_or_none(daily.get("percent")),
            daily_loss_amount=decimal_or_none(daily.get("amount")),
            max_drawdown_percent=decimal_or_none(data.get("max_drawdown_percent")),
            on_breach="close_all" if data.get("on_breach") == "close_all" else "close_only",
        )


def trading_day(now: datetime, start_hour: int) -> str:
    """The trading day ``now`` falls in, named by the date it started on: with the FX rollover
    at 22:00 UTC, 2026-12-01 23:30 and 2026-12-02 21:59 are both the day "2026-12-01"."""
    return (now - timedelta(hours=start_hour)).date().isoformat()


@dataclass(frozen=True)
class EquityMarks:
    """What protection measures from: the day's first equity and the high-water mark."""

    day_key: str | None = None
    day_start_equity: Decimal | None = None
    equity_high: Decimal | None = None

    def seen(self, equity: Decimal, day_key: str) -> EquityMarks:
        """The marks after an equity read: a new day starts from this equity; the high rises."""
        marks = self
        if marks.day_key != day_key or marks.day_start_equity is None:
            marks = replace(marks, day_key=day_key, day_start_equity=equity)
        if marks.equity_high is None or equity > marks.equity_high:
            marks = replace(marks, equity_high=equity)
        return marks


@dataclass(frozen=True)
class Breach:
    """A limit crossed: the rule, a sentence with its money in the account's currency, figures."""

    rule: str
    reason: str
    figures: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "reason": self.reason, "figures": dict(self.figures)}


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part * 100 / whole).quantize(CENTS, rounding=ROUND_HALF_UP)


def equity_breach(
    protection: Protection, marks: EquityMarks, equity: Decimal, currency: str
) -> Breach | None:
    """The first equity limit ``equity`` crosses, given the marks it was measured against
    (already including this read): the day's net loss (closed and floating), then drawdown."""
    start, high = marks.day_start_equity, marks.equity_high
    if start is not None:
        loss = start - equity
        limit = protection.daily_loss_amount
        if protection.daily_loss_percent is not None:
            limit = start * protection.daily_loss_percent / 100
        if limit is not None and loss > 0 and loss >= limit:
            return Breach(
                "daily_loss_limit",
                f"the day's loss {money_figure(loss, currency)} reached the limit "
                f"{money_figure(limit.quantize(CENTS), currency)} (day start equity "
                f"{money_figure(start, currency)}, equity {money_figure(equity, currency)})",
                {"loss": str(loss), "limit": str(limit), "day_start_equity": str(start),
                 "equity": str(equity), "currency": currency, "day": marks.day_key or ""},
            )  # fmt: skip
    if high is not None and high > 0 and protection.max_drawdown_percent is not None:
        drawdown = _pct(high - equity, high)
        if drawdown >= protection.max_drawdown_percent:
            return Breach(
                "max_drawdown_percent",
                f"the drawdown {drawdown}% from the equity high {money_figure(high, currency)} "
                f"reached the limit {protection.max_drawdown_percent}% (equity "
                f"{money_figure(equity, currency)})",
                {"drawdown_percent": str(drawdown),
                 "limit_percent": str(protection.max_drawdown_percent),
                 "equity_high": str(high), "equity": str(equity), "currency": currency},
            )  # fmt: skip
    return None


@dataclass(frozen=True)
class FollowerTerms:
    """What an open row carries of its account's subscription (None: not subscribed)."""

    state: str
    sizing: FollowerSizing | None = None
    symbols: SymbolFilter = SymbolFilter()
    protection: Protection = Protection()
    marks: EquityMarks = EquityMarks()
    day_start_hour: int = 22  # TRADING_DAY_START_UTC

    @property
    def receives_opens(self) -> bool:
        return self.state in OPEN_STATES

    @classmethod
    def from_row(cls, row: Any, day_start_hour: int = 22) -> FollowerTerms:
        """From a subscriptions row (an ORM object or a plain row of its columns)."""
        return cls(
            day_start_hour=day_start_hour,
            state=row.state,
            sizing=FollowerSizing.from_json(row.sizing),
            symbols=SymbolFilter.from_json(row.symbols),
            protection=Protection.from_json(row.protection),
            marks=EquityMarks(row.day_key, row.day_start_equity, row.equity_high),
        )
