"""The built-in symbol catalog behind GET /api/symbols and GET /api/symbols/<name>."""

from __future__ import annotations

from typing import Any

from errors import UnknownSymbol
from services.calculation.result import plain
from services.mt5.catalog import CATALOG, catalog_spec
from services.mt5.dto import CALC_MODE_NAMES


def list_catalog_symbols() -> list[dict[str, Any]]:
    """Every catalog symbol's contract in brief (no tick value: that depends on the account)."""
    return [
        {
            "name": s.name,
            "description": s.description,
            "calc_mode": CALC_MODE_NAMES[s.calc_mode],
            "digits": s.digits,
            "contract_size": plain(s.contract_size),
            "volume_min": plain(s.volume_min),
            "volume_step": plain(s.volume_step),
            "volume_max": plain(s.volume_max),
            "base_currency": s.base_currency,
            "profit_currency": s.profit_currency,
            "margin_currency": s.margin_currency,
        }
        for s in CATALOG.values()
    ]


def catalog_symbol(name: str, currency: str) -> dict[str, Any]:
    """One catalog symbol's full spec for an account in ``currency``; 404 ``unknown_symbol``."""
    spec = catalog_spec(name, account_currency=currency)
    if spec is None:
        raise unknown_symbol(name, status_code=404)
    out = {key: plain(value) for key, value in spec.to_dict().items()}
    out["calc_mode"] = CALC_MODE_NAMES[spec.calc_mode]
    return out


def unknown_symbol(name: str, *, status_code: int) -> UnknownSymbol:
    """``unknown_symbol`` for a name the catalog lacks, with the names that share its first three
    letters as candidates (404 on the catalog's own routes, 422 inside a calculate request)."""
    candidates = sorted(n for n in CATALOG if n.upper().startswith(name[:3].upper()))
    return UnknownSymbol(
        f"{name} is not in the built-in symbol catalog.",
        status_code=status_code,
        details={"symbol": name, "candidates": candidates},
    )
