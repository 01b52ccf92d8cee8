"""A recorded tick file replayed as the simulator's quotes, looping: real price paths for demos
and for driving automation rules without hand-set quotes.

The file is CSV with a header ``time_ms,symbol,bid,ask``; ``time_ms`` is milliseconds from the
start of the recording (rows in any order), ``symbol`` a catalog price source (XAUUSD, EURUSD...).
"""

from __future__ import annotations

import bisect
import csv
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path


class ReplayError(ValueError):
    """The tick file cannot be replayed; the message names the line."""


@dataclass(frozen=True)
class TickPath:
    """One symbol's recorded quotes: offsets (ms, ascending) and their bid/ask."""

    offsets: tuple[int, ...]
    quotes: tuple[tuple[Decimal, Decimal], ...]

    @property
    def period_ms(self) -> int:
        """How long one pass lasts: up to the last tick, and one median gap beyond it."""
        if len(self.offsets) < 2:
            return 1
        gaps = sorted(b - a for a, b in zip(self.offsets, self.offsets[1:], strict=False))
        return self.offsets[-1] - self.offsets[0] + max(1, gaps[len(gaps) // 2])

    def quote_at(self, elapsed_ms: int) -> tuple[Decimal, Decimal]:
        """The quote in force ``elapsed_ms`` after the start, the path looping."""
        at = self.offsets[0] + elapsed_ms % self.period_ms
        index = bisect.bisect_right(self.offsets, at) - 1
        return self.quotes[max(index, 0)]


def load_ticks(path: str | Path, known: set[str]) -> dict[str, TickPath]:
    """Every symbol's path in the file; an unknown symbol or a broken number refuses to load."""
    rows: dict[str, list[tuple[int, Decimal, Decimal]]] = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            rows[_symbol(record, known, line)].append(_tick(record, line))
    if not rows:
        raise ReplayError(f"{path}: no ticks")
    return {symbol: _path(ticks) for symbol, ticks in rows.items()}


def _symbol(record: dict[str, str], known: set[str], line: int) -> str:
    symbol = (record.get("symbol") or "").strip()
    if symbol not in known:
        raise ReplayError(f"line {line}: unknown symbol {symbol!r}")
    return symbol


def _tick(record: dict[str, str], line: int) -> tuple[int, Decimal, Decimal]:
    try:
        offset = int(record["time_ms"])
        bid, ask = Decimal(record["bid"]), Decimal(record["ask"])
    except (KeyError, ValueError, InvalidOperation, TypeError) as exc:
        raise ReplayError(f"line {line}: needs time_ms, bid and ask numbers") from exc
    if not (bid.is_finite() and ask.is_finite()) or bid <= 0 or ask < bid:
        raise ReplayError(f"line {line}: bid {bid} and ask {ask} are not a quote")
    return offset, bid, ask


def _path(ticks: list[tuple[int, Decimal, Decimal]]) -> TickPath:
    ticks.sort(key=lambda t: t[0])
    return TickPath(tuple(t[0] for t in ticks), tuple((t[1], t[2]) for t in ticks))
