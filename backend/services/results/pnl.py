"""A dispatch's share of one position, worked out from the position's deals (pure Decimal).

Which deals are the dispatch's: an ``in`` deal whose order is one of its opens; an ``out`` deal
whose order is one of its follow-up closes. Every other ``out`` deal (a stop loss, a take
profit, a close by hand or by another dispatch) takes the dispatch's share of it, pro rata to
what the dispatch holds of the position at that moment: all of it on a hedging account (each
position is one leg's), a part on a netting position that other trades added to. A reversal
(``inout``) closes the old position and opens the rest, commission split by volume.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from services.mt5.dto import Deal

ZERO = Decimal(0)
VOLUME_PLACES = Decimal("1e-8")  # pro-rata shares of a shared position, and average prices
TRADE_DEALS = frozenset({"buy", "sell"})


@dataclass(frozen=True)
class Share:
    """What one dispatch opened and closed of a position (or of several, added up)."""

    opened_volume: Decimal = ZERO
    open_value: Decimal = ZERO  # sum of volume x price of the opens
    closed_volume: Decimal = ZERO
    close_value: Decimal = ZERO
    profit: Decimal = ZERO
    commission: Decimal = ZERO
    swap: Decimal = ZERO
    held: Decimal = ZERO  # what the dispatch still holds
    position_volume: Decimal = ZERO  # what the whole position still holds

    def __add__(self, other: Share) -> Share:
        return Share(
            *(getattr(self, name) + getattr(other, name) for name in self.__dataclass_fields__)
        )

    @property
    def realised(self) -> Decimal:
        """Money that reached the balance: profit of the closes, commission and swap."""
        return self.profit + self.commission + self.swap


@dataclass(frozen=True)
class Piece:
    """A deal, or the closing or opening part of a reversal: its volume and its money."""

    volume: Decimal
    price: Decimal
    profit: Decimal
    commission: Decimal
    swap: Decimal


def _pieces(deal: Deal, position_volume: Decimal) -> tuple[Piece | None, Piece | None]:
    """(closing part, opening part) of a deal; a reversal (``inout``) has both."""
    whole = Piece(deal.volume, deal.price, deal.profit, deal.commission, deal.swap)
    if deal.entry == "in":
        return None, whole
    if deal.entry != "inout" or deal.volume <= position_volume:
        return whole, None
    closing = position_volume / deal.volume
    commission = deal.commission * closing
    return (
        replace(whole, volume=position_volume, commission=commission),
        Piece(deal.volume - position_volume, deal.price, ZERO, deal.commission - commission, ZERO),
    )


def _with_money(share: Share, piece: Piece, fraction: Decimal) -> Share:
    return replace(
        share,
        profit=share.profit + piece.profit * fraction,
        commission=share.commission + piece.commission * fraction,
        swap=share.swap + piece.swap * fraction,
    )


def _open(share: Share, piece: Piece, ours: bool) -> Share:
    share = replace(share, position_volume=share.position_volume + piece.volume)
    if not ours:
        return share
    opened = replace(
        share,
        opened_volume=share.opened_volume + piece.volume,
        open_value=share.open_value + piece.volume * piece.price,
        held=share.held + piece.volume,
    )
    return _with_money(opened, piece, Decimal(1))


def _close(share: Share, piece: Piece, tagged: bool) -> Share:
    """The dispatch's part of a close: all of a tagged one (up to what it holds), else pro rata."""
    if tagged:
        taken = min(piece.volume, share.held)
    elif share.position_volume > 0:
        taken = min(piece.volume * share.held / share.position_volume, share.held)
    else:
        taken = ZERO
    closed = replace(
        share,
        closed_volume=share.closed_volume + taken,
        close_value=share.close_value + taken * piece.price,
        held=share.held - taken,
        position_volume=max(share.position_volume - piece.volume, ZERO),
    )
    return _with_money(closed, piece, taken / piece.volume)


def share_of_position(
    deals: Iterable[Deal], *, opens: frozenset[int], closes: frozenset[int]
) -> Share:
    """The dispatch's share of the position these deals make up.

    ``opens``: order tickets of the dispatch's opens (a pending order fills as its own ticket);
    ``closes``: order tickets of its follow-up closes.
    """
    share = Share()
    for deal in sorted(deals, key=lambda d: d.ticket):
        if deal.type not in TRADE_DEALS or not deal.volume:
            continue
        closing, opening = _pieces(deal, share.position_volume)
        if closing is not None:
            share = _close(share, closing, deal.order in closes)
        if opening is not None:
            share = _open(share, opening, deal.order in opens)
    return share


@dataclass(frozen=True)
class Figures:
    """One target account's figures in its currency, rounded for show."""

    opened_volume: Decimal
    open_price: Decimal | None
    closed_volume: Decimal
    close_price: Decimal | None
    realised: Decimal
    commission: Decimal
    swap: Decimal
    floating: Decimal
    held: Decimal


def _places(value: Decimal, places: Decimal) -> Decimal:
    rounded = value.quantize(places, rounding=ROUND_HALF_UP)
    return rounded.normalize() if rounded else ZERO


def figures(share: Share, floating: Decimal, *, digits: int) -> Figures:
    """Money to the account currency's ``digits`` (half up), volumes and average prices to 8
    places; exact sums stay exact."""
    cent = Decimal(1).scaleb(-digits)

    def money(value: Decimal) -> Decimal:
        return value.quantize(cent, rounding=ROUND_HALF_UP)

    def average(value: Decimal, volume: Decimal) -> Decimal | None:
        return _places(value / volume, VOLUME_PLACES) if volume else None

    return Figures(
        opened_volume=_places(share.opened_volume, VOLUME_PLACES),
        open_price=average(share.open_value, share.opened_volume),
        closed_volume=_places(share.closed_volume, VOLUME_PLACES),
        close_price=average(share.close_value, share.closed_volume),
        realised=money(share.realised),
        commission=money(share.commission),
        swap=money(share.swap),
        floating=money(floating),
        held=_places(share.held, VOLUME_PLACES),
    )


def floating_share(share: Share, profit: Decimal, swap: Decimal) -> Decimal:
    """The dispatch's part of an open position's floating profit and swap."""
    if share.position_volume <= 0 or share.held <= 0:
        return ZERO
    return (profit + swap) * share.held / share.position_volume
