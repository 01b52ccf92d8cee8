"""Symbol specs shared by every session of one trade server, for a bounded time.

A contract's volume rules, sizes and filling modes do not move, and every account on a trade
server sees the same ones: a fan-out to a thousand accounts need not ask each terminal for them
before its order. Tick values do follow quotes, so callers that size by risk ask for a fresh spec.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from services.mt5.dto import SymbolSpec

Key = tuple[str, str, str]  # (terminal source, trade server, broker's symbol name)


class SpecCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._specs: dict[Key, tuple[float, SymbolSpec]] = {}

    def get(self, key: Key, max_age_s: float) -> SymbolSpec | None:
        with self._lock:
            found = self._specs.get(key)
        if found is None or self._clock() - found[0] > max_age_s:
            return None
        return found[1]

    def put(self, key: Key, spec: SymbolSpec) -> None:
        with self._lock:
            self._specs[key] = (self._clock(), spec)
