"""The most common leaked passwords (zxcvbn's frequency list), refused at registration."""

from __future__ import annotations

from functools import lru_cache

# The first 10,000 entries of zxcvbn's list of leaked passwords, ordered by frequency.
TOP_N = 10_000


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:TOP_N])


def is_common(password: str) -> bool:
    return password.lower() in _common()
