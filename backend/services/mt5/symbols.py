"""Symbol resolution, pure: our name (XAUUSD) to the broker's (GOLD, XAUUSD.m, XAUUSDm)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from errors import UnknownSymbol

# Broker decorations of a plain name, most common first (the first match wins when several do).
# Contract variants such as "XAUUSD.1oz" are deliberately absent: they are other contracts.
SUFFIXES = (
    ".m", "m", "_m", "-m", ".i", "_i", "i", ".pro", "pro", ".ecn", "ecn", ".raw", "raw",
    ".r", ".a", ".b", ".s", ".std", "std", ".stp", ".x", "+", "#", ".", "!", "-",
)  # fmt: skip
PREFIXES = ("#", ".", "_", "m")
# Cent accounts quote their own contracts (XAUUSDc); never pick one for a dollar account.
CENT_SUFFIXES = ("c", ".c", "_c", "-c")
ALIASES: dict[str, tuple[str, ...]] = {
    "XAUUSD": ("GOLD", "XAU"),
    "XAGUSD": ("SILVER", "XAG"),
    "US30": ("DJ30", "WS30", "DOW30", "US30Cash"),
    "NAS100": ("USTEC", "US100", "NDX100"),
    "SPX500": ("US500", "SP500"),
    "GER40": ("DE40", "GER30", "DAX40"),
    "USOIL": ("WTI", "XTIUSD"),
    "UKOIL": ("BRENT", "XBRUSD"),
    "BTCUSD": ("BITCOIN", "BTC"),
}
MAX_CANDIDATES = 8


def is_cent_currency(currency: str) -> bool:
    """USC, EUC...: the account keeps its money in cents."""
    return len(currency) == 3 and currency.upper().endswith("C") and currency.upper() != "ETC"


def aliases_of(symbol: str) -> tuple[str, ...]:
    """Other names the same instrument goes by (both directions: GOLD <-> XAUUSD)."""
    upper = symbol.upper()
    for plain, others in ALIASES.items():
        family = (plain, *others)
        if upper in (name.upper() for name in family):
            return tuple(name for name in family if name.upper() != upper)
    return ()


def _exact(symbol: str, names: Iterable[str]) -> str | None:
    by_upper: dict[str, str] = {}
    for name in names:
        if name == symbol:
            return name
        by_upper.setdefault(name.upper(), name)
    return by_upper.get(symbol.upper())


def variant_of(symbol: str, names: Iterable[str], *, cent: bool = False) -> str | None:
    """The broker's decorated name for ``symbol`` (suffix or prefix), or None."""
    suffixes = (*CENT_SUFFIXES, *SUFFIXES) if cent else SUFFIXES
    upper = symbol.upper()
    ranked: list[tuple[int, str]] = []
    for name in names:
        name_upper = name.upper()
        if name_upper.startswith(upper) and len(name) > len(symbol):
            affix = name[len(symbol) :].lower()
            if affix in suffixes:
                ranked.append((suffixes.index(affix), name))
        elif name_upper.endswith(upper) and len(name) > len(symbol):
            affix = name[: len(name) - len(symbol)].lower()
            if affix in PREFIXES:
                ranked.append((len(suffixes) + PREFIXES.index(affix), name))
    return min(ranked)[1] if ranked else None


def candidates(symbol: str, names: Iterable[str]) -> list[str]:
    """Names a human might have meant: close spellings and names sharing the first 3 letters."""
    pool = sorted(set(names))
    close = difflib.get_close_matches(symbol.upper(), pool, n=MAX_CANDIDATES, cutoff=0.75)
    stem = symbol.upper()[:3]
    same_stem = [n for n in pool if n.upper().startswith(stem) and n not in close]
    return (close + same_stem)[:MAX_CANDIDATES]


def resolve(
    symbol: str,
    names: Iterable[str],
    *,
    symbol_map: Mapping[str, str] | None = None,
    cent: bool = False,
) -> str:
    """The broker's name for ``symbol``: map, exact, suffix/prefix variant, alias (and its variant).

    Raises ``UnknownSymbol`` with ``{"symbol", "candidates"}`` when nothing fits.
    """
    available = tuple(names)
    mapped = _mapped(symbol, symbol_map or {})
    if mapped is not None:
        found = _exact(mapped, available)
        if found is None:
            raise UnknownSymbol(
                f"The account maps {symbol} to {mapped}, which this broker does not list.",
                details={"symbol": symbol, "mapped_to": mapped,
                         "candidates": candidates(mapped, available)},
            )  # fmt: skip
        return found
    found = _exact(symbol, available) or variant_of(symbol, available, cent=cent)
    for alias in aliases_of(symbol):
        found = found or _exact(alias, available) or variant_of(alias, available, cent=cent)
    if found is None:
        raise UnknownSymbol(
            f"This broker has no symbol for {symbol}.",
            details={"symbol": symbol, "candidates": candidates(symbol, available)},
        )
    return found


def _mapped(symbol: str, symbol_map: Mapping[str, str]) -> str | None:
    if symbol in symbol_map:
        return symbol_map[symbol]
    upper = symbol.upper()
    return next((v for k, v in symbol_map.items() if k.upper() == upper), None)


def plain_name_of(name: str, plain_names: Iterable[str]) -> str | None:
    """The reverse of ``resolve``: a broker's or a provider's name (GOLD, XAUUSD.m, xauusdm,
    XAU/USD) as one of ``plain_names`` (our names, XAUUSD), or None when none fits.

    Signals name instruments the way their author's broker does; the dispatch carries our name
    and each target account resolves its own broker's name from it.
    """
    plain = {n.upper(): n for n in plain_names}
    upper = name.upper().replace("/", "")

    def known(candidate: str) -> str | None:
        if candidate in plain:
            return plain[candidate]
        for family_plain, others in ALIASES.items():
            family = (family_plain, *others)
            if candidate in (n.upper() for n in family):
                return next((plain[n.upper()] for n in family if n.upper() in plain), None)
        return None

    found = known(upper)
    for affix in sorted((*SUFFIXES, *CENT_SUFFIXES), key=len, reverse=True):
        if found is None and len(upper) > len(affix) and upper.endswith(affix.upper()):
            found = known(upper[: -len(affix)])
    for affix in PREFIXES:
        if found is None and len(upper) > len(affix) and upper.startswith(affix.upper()):
            found = known(upper[len(affix) :])
    return found
