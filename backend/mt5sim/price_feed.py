"""Quotes: a seeded random walk per instrument, with a spread, that tests can also set by hand.

The walk moves in discrete *steps*. Step k of an instrument depends only on the seed, the
instrument name and k (each instrument has its own ``random.Random(f"{seed}:{name}")``), so two
feeds with the same seed produce the same prices after the same number of steps, whatever the
timing. Steps happen when ``advance(n)`` is called, and, when ``step_ms > 0``, on every broker call
that reads prices: ``catch_up()`` takes one step per ``step_ms`` of wall-clock time elapsed since
the feed started (at most ``MAX_CATCH_UP`` at once). ``step_ms = 0`` means prices only move by
``advance`` and ``set_quote``, which is what tests use.
Not thread-safe: the broker's lock guards it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal

from mt5sim.replay import TickPath
from services.mt5.catalog import CatalogSymbol

MAX_CATCH_UP = 100


class PriceFeed:
    """Bid/ask per instrument (keyed by the catalog's price source, e.g. all gold is XAUUSD)."""

    def __init__(
        self,
        instruments: Iterable[CatalogSymbol],
        *,
        seed: int | None = None,
        step_ms: int = 0,
        clock: Callable[[], float] = time.monotonic,
        replay: Mapping[str, TickPath] | None = None,
    ) -> None:
        self._contracts = {s.name: s for s in instruments}
        seed_text = str(seed) if seed is not None else str(random.SystemRandom().random())
        self._rngs = {name: random.Random(f"{seed_text}:{name}") for name in self._contracts}
        self._bids = {name: s.start_bid for name, s in self._contracts.items()}
        self._spreads = {name: s.spread_points * s.point for name, s in self._contracts.items()}
        self._frozen: set[str] = set()
        self._step_ms = step_ms
        self._clock = clock
        self._origin = clock()
        self.steps_taken = 0
        self._replay = dict(replay or {})

    def names(self) -> list[str]:
        return list(self._contracts)

    def quote(self, name: str) -> tuple[Decimal, Decimal]:
        bid = self._bids[name]
        return bid, bid + self._spreads[name]

    def bids(self) -> dict[str, Decimal]:
        return dict(self._bids)

    def set_quote(self, name: str, bid: Decimal, ask: Decimal, *, freeze: bool = False) -> None:
        """Put a quote by hand; ``freeze`` keeps the walk from moving it afterwards."""
        if ask < bid:
            raise ValueError("ask below bid")
        self._bids[name] = bid
        self._spreads[name] = ask - bid
        if freeze:
            self._frozen.add(name)
        else:
            self._frozen.discard(name)

    def freeze(self, name: str, frozen: bool = True) -> None:
        if frozen:
            self._frozen.add(name)
        else:
            self._frozen.discard(name)

    def advance(self, steps: int = 1) -> list[str]:
        """Take ``steps`` walk steps; return the instruments whose quote changed."""
        changed: set[str] = set()
        for _ in range(steps):
            for name, contract in self._contracts.items():
                if name in self._frozen or name in self._replay:
                    continue
                if self._step(name, contract):
                    changed.add(name)
        self.steps_taken += steps
        return sorted(changed)

    def catch_up(self) -> list[str]:
        """Take the steps wall-clock time calls for (no-op when ``step_ms`` is 0); replayed
        symbols take their recorded quote for this moment instead of walking."""
        changed = self._replayed()
        if self._step_ms <= 0:
            return changed
        due = int((self._clock() - self._origin) * 1000 / self._step_ms)
        missing = due - self.steps_taken
        if missing <= 0:
            return []
        walked = self.advance(min(missing, MAX_CATCH_UP))
        self.steps_taken = due
        return sorted({*changed, *walked})

    def _replayed(self) -> list[str]:
        elapsed_ms = int((self._clock() - self._origin) * 1000)
        changed = []
        for name, path in self._replay.items():
            if name in self._frozen:
                continue
            bid, ask = path.quote_at(elapsed_ms)
            if (bid, ask) != self.quote(name):
                self._bids[name], self._spreads[name] = bid, ask - bid
                changed.append(name)
        return changed

    def _step(self, name: str, contract: CatalogSymbol) -> bool:
        shock = Decimal(repr(round(self._rngs[name].gauss(0.0, 1.0), 6)))
        moved = self._bids[name] * (1 + contract.volatility * shock)
        ticks = (moved / contract.tick_size).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
        new_bid = max(ticks, Decimal(1)) * contract.tick_size
        new_bid = new_bid.quantize(contract.point)
        if new_bid == self._bids[name]:
            return False
        self._bids[name] = new_bid
        return True
