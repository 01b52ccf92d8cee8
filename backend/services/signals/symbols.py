"""Which word of a signal is its symbol, as our name: GOLD, XAUUSD.m, xauusdm, XAU/USD -> XAUUSD."""

from __future__ import annotations

import re

from services.mt5.catalog import CATALOG
from services.mt5.symbols import ALIASES, CENT_SUFFIXES, SUFFIXES, plain_name_of

# Our plain names: the catalog's own contracts (not its broker variants) and the aliases' heads.
PLAIN_NAMES = frozenset(
    {name for name, symbol in CATALOG.items() if not symbol.underlying} | set(ALIASES)
)
# A six-letter pair of these is an FX symbol even when the catalog does not list it: each
# target account's broker resolves it (or refuses it, unknown_symbol, on that target).
CURRENCIES = frozenset(
    ("USD", "EUR", "GBP", "JPY", "CHF", "AUD", "NZD", "CAD", "SGD", "HKD", "NOK", "SEK", "DKK",
     "PLN", "HUF", "CZK", "ZAR", "MXN", "TRY", "CNH", "THB", "XAU", "XAG", "XPT", "XPD")
)  # fmt: skip
_PAIR = re.compile(r"^([A-Z]{3})([A-Z]{3})$")


def _currency_pair(name: str) -> str | None:
    match = _PAIR.match(name)
    if match and match.group(1) in CURRENCIES and match.group(2) in CURRENCIES:
        return name
    return None


def signal_symbol(word: str) -> str | None:
    """Our name for ``word``, or None when it names no instrument we know."""
    upper = word.upper().replace("/", "")
    found = plain_name_of(upper, PLAIN_NAMES)
    if found is not None:
        return found
    pair = _currency_pair(upper)
    for affix in (*SUFFIXES, *CENT_SUFFIXES):
        if pair is None and upper.endswith(affix.upper()) and len(upper) > len(affix):
            pair = _currency_pair(upper[: -len(affix)])
    return pair
