"""Interpreter settings for the long-running server process."""

from __future__ import annotations

import gc

# The youngest generation is collected every this many net allocations (CPython's default:
# 700), the oldest only after this many collections of the middle one (default: 10).
YOUNG_THRESHOLD = 10_000
OLD_THRESHOLD = 100


def settle_heap() -> None:
    """Once start-up is done: what it made (modules, the app, warm sessions) is frozen out of
    the cyclic collector's sight, and the collector runs less often.

    Every full collection walked the whole heap, a quarter of a million objects, with the
    interpreter's lock held: 130-200 ms during which no order of a fan-out moved, two or three
    times in eight 1000-target broadcasts. Frozen, the start-up's objects are never walked
    again (they live as long as the process anyway); the rarer, smaller collections that are
    left still free every cycle of garbage.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 10, OLD_THRESHOLD)
