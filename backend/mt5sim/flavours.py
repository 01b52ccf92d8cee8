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


@dataclass(frozen=True)
class ServerRule:
    """A server name that matches ``pattern`` (case-insensitive) is of ``flavour``."""

    pattern: str
    says: str  # the rule in words, for --help and docs/operations.md
    example: str
    flavour: Flavour


# First rule that matches wins; anything else is DEFAULT.
SERVER_RULES = (
    ServerRule("cent", 'has "cent"', "Sim-Cent", CENT),
    ServerRule("gold", 'has "gold"', "GoldMarkets-Demo", GOLD),
    ServerRule(r"\.m\b", 'has ".m" as a word', "Broker.m-Live", DOT_M),
    ServerRule("trial", 'has "trial"', "Sim-Trial", M_SUFFIX),
)


def flavour_for_server(server: str | None) -> Flavour:
    """Pick the flavour from the server name (first rule that matches wins)."""
    lowered = (server or "").lower()
    for rule in SERVER_RULES:
        if re.search(rule.pattern, lowered):
            return rule.flavour
    return DEFAULT


def describe_flavours() -> list[str]:
    """One line per rule, in order: what a server name selects (the default account currency,
    gold's names, the other symbols' suffix); ``flask mt5 sim-account --help`` prints them."""
    rules = [(rule.says, rule.example, rule.flavour) for rule in SERVER_RULES]
    rules.append(("is anything else", "Sim-Demo", DEFAULT))
    return [
        f"server name {says} (e.g. {example}): {flavour.currency} account; gold as "
        f"{', '.join(_gold_names(flavour))}; {_others(flavour)}"
        for says, example, flavour in rules
    ]


def _gold_names(flavour: Flavour) -> list[str]:
    return [name for name in flavour.symbol_names if name in _GOLD_VARIANT_NAMES]


def _others(flavour: Flavour) -> str:
    plain = [name for name in flavour.symbol_names if name not in _GOLD_VARIANT_NAMES]
    suffix = plain[0].removeprefix(_PLAIN[0]) if plain else ""
    if suffix:
        return f'other symbols with a "{suffix}" suffix ({plain[0]}, ...)'
    return f"other symbols as named ({', '.join(plain[:3])}, ...)"


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
