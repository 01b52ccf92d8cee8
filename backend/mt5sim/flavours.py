"""Broker flavours: which symbol names and account currency a simulated server name selects."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from services.mt5.catalog import CATALOG, CatalogSymbol

_GOLD_VARIANT_NAMES = {"XAUUSD", "XAUUSD.m", "XAUUSDm", "GOLD", "XAUUSDc", "XAUUSD.1oz"}
_PLAIN = tuple(name for name in CATALOG if name not in _GOLD_VARIANT_NAMES)


@dataclass(frozen=True)
class Flavour:
    """What a family of simulated servers looks like to a terminal."""

    key: str
    company: str
    currency: str
    symbol_names: tuple[str, ...]


DEFAULT = Flavour("default", "Simulated Broker Ltd", "USD", ("XAUUSD", "XAUUSD.1oz", *_PLAIN))
CENT = Flavour("cent", "Simulated Cent Broker Ltd", "USC", ("XAUUSD", "XAUUSDc", *_PLAIN))
GOLD = Flavour("gold", "Simulated Gold Markets Ltd", "USD", ("GOLD", "XAUUSD.1oz", *_PLAIN))
DOT_M = Flavour(
    "dot_m", "Simulated Suffix Markets Ltd", "USD", ("XAUUSD.m", *(n + ".m" for n in _PLAIN))
)
M_SUFFIX = Flavour(
    "m_suffix", "Simulated Trial Markets Ltd", "USD", ("XAUUSDm", *(n + "m" for n in _PLAIN))
)
FLAVOURS = (DEFAULT, CENT, GOLD, DOT_M, M_SUFFIX)


def flavour_for_server(server: str | None) -> Flavour:
    """Pick the flavour from the server name (first rule that matches wins)."""
    name = server or ""
    lowered = name.lower()
    if "cent" in lowered:
        return CENT
    if "gold" in lowered:
        return GOLD
    if re.search(r"\.m\b", lowered):
        return DOT_M
    if "trial" in lowered:
        return M_SUFFIX
    return DEFAULT


def _derive(name: str) -> CatalogSymbol:
    # Suffixed forex/index names ("EURUSD.m", "EURUSDm") copy the plain contract and its price.
    for suffix in (".m", "m"):
        plain = name.removesuffix(suffix)
        if plain != name and plain in CATALOG:
            return replace(CATALOG[plain], name=name, underlying=CATALOG[plain].price_source)
    raise KeyError(name)


def all_symbols() -> dict[str, CatalogSymbol]:
    """Every symbol any flavour shows, by the name terminals see."""
    registry = dict(CATALOG)
    for flavour in FLAVOURS:
        for name in flavour.symbol_names:
            if name not in registry:
                registry[name] = _derive(name)
    return registry
