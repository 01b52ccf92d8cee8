"""Decimals on the wire: plain positional text, never exponent notation or a float."""

from __future__ import annotations

from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """``Decimal("1E+1")`` is "10" and ``Decimal("0.10")`` stays "0.10": what a client parses."""
    return format(value, "f")
