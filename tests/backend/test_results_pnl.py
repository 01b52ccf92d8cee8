"""A dispatch's share of a position from its deals, against figures worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from services.mt5.dto import Deal
from services.results.pnl import Share, figures, floating_share, share_of_position

T0 = datetime(2026, 6, 1, tzinfo=UTC)
OURS, OUR_CLOSE, OTHER = 101, 201, 900


def deal(ticket: int, order: int, entry: str, volume: str, price: str, profit: str = "0",
         commission: str = "0", swap: str = "0", side: str = "buy") -> Deal:  # fmt: skip
    return Deal(
        ticket=ticket, order=order, position_id=101, symbol="XAUUSD", type=side, entry=entry,
        volume=D(volume), price=D(price), profit=D(profit), commission=D(commission),
        swap=D(swap), magic=0, comment="", time=T0,
    )  # fmt: skip


def share(*deals: Deal, opens: tuple[int, ...] = (OURS,)) -> Share:
    return share_of_position(deals, opens=frozenset(opens), closes=frozenset({OUR_CLOSE}))


def test_hedging_partial_close_then_stop_loss_with_commission() -> None:
    # Buy 0.30 at 2350.20 ($7/lot: -2.10); close 0.10 at 2360.00: (2360.00-2350.20) x 100 x 0.1
    # = +98.00, -0.70; the stop takes 0.20 at 2345.00: (2345.00-2350.20) x 100 x 0.2 = -104.00,
    # -1.40. Closed 0.30 at (0.1 x 2360 + 0.2 x 2345) / 0.3 = 2350.00; realised -6.00 - 4.20.
    result = share(
        deal(1, OURS, "in", "0.30", "2350.20", commission="-2.10"),
        deal(2, OUR_CLOSE, "out", "0.10", "2360.00", "98.00", "-0.70", side="sell"),
        deal(3, 555, "out", "0.20", "2345.00", "-104.00", "-1.40", side="sell"),
    )
    shown = figures(result, D(0), digits=2)

    assert (shown.opened_volume, shown.open_price) == (D("0.3"), D("2350.2"))
    assert (shown.closed_volume, shown.close_price) == (D("0.3"), D("2350"))
    assert (shown.commission, shown.realised, shown.held) == (D("-4.20"), D("-10.20"), D(0))


def test_hedging_swap_on_the_closing_deal_is_realised() -> None:
    result = share(
        deal(1, OURS, "in", "0.10", "2350.00"),
        deal(2, OUR_CLOSE, "out", "0.10", "2351.00", "10.00", swap="-1.25", side="sell"),
    )

    assert (result.swap, result.realised) == (D("-1.25"), D("8.75"))


def test_netting_two_legs_one_position_tagged_close_then_take_profit() -> None:
    # Legs 0.20 at 2350.00 and 0.10 at 2352.00 net to 0.30 at 2350.6667; the broker's profits:
    # a tagged close of 0.10 at 2360.00 makes 93.33, the take profit of 0.20 at 2365.00 286.67.
    result = share(
        deal(1, OURS, "in", "0.20", "2350.00"),
        deal(2, 102, "in", "0.10", "2352.00"),
        deal(3, OUR_CLOSE, "out", "0.10", "2360.00", "93.33", side="sell"),
        deal(4, 556, "out", "0.20", "2365.00", "286.67", side="sell"),
        opens=(OURS, 102),
    )
    shown = figures(result, D(0), digits=2)

    assert shown.open_price == D("2350.66666667")  # 705.20 / 0.30, 8 places half up
    assert shown.close_price == D("2363.33333333")  # (236 + 473) / 0.30
    assert (shown.closed_volume, shown.realised) == (D("0.3"), D("380.00"))


def test_netting_position_shared_with_another_trade_takes_its_share_pro_rata() -> None:
    # Someone else's 0.10, then ours 0.30: a stop taking 0.20 of the 0.40 takes 0.15 of ours,
    # and 3/4 of the deal's money; 0.20 stays open, 0.15 of it ours.
    result = share(
        deal(1, OTHER, "in", "0.10", "2348.00"),
        deal(2, OURS, "in", "0.30", "2350.00", commission="-2.10"),
        deal(3, 557, "out", "0.20", "2345.00", "-110.00", "-1.40", side="sell"),
    )

    assert (result.opened_volume, result.closed_volume) == (D("0.30"), D("0.15"))
    assert (result.held, result.position_volume) == (D("0.15"), D("0.20"))
    assert result.profit == D("-82.5")  # -110.00 x 3/4
    assert result.commission == D("-3.15")  # -2.10 - 1.40 x 3/4
    # Floating of what is left: (40.00 profit - 2.00 swap) x 0.15 / 0.20 = 28.50
    assert floating_share(result, D("40.00"), D("-2.00")) == D("28.5")


def test_netting_reversal_closes_our_part_and_opens_someone_elses() -> None:
    # Ours: buy 0.10. A sell of 0.30 (not ours) reverses: it closes the 0.10 (+50.00, a third of
    # the -3.00 commission) and opens 0.20 short that is not ours.
    result = share(
        deal(1, OURS, "in", "0.10", "2350.00", commission="-1.00"),
        deal(2, OTHER, "inout", "0.30", "2355.00", "50.00", "-3.00", side="sell"),
    )

    assert (result.closed_volume, result.held, result.position_volume) == (
        D("0.10"),
        D(0),
        D("0.20"),
    )
    assert (result.profit, result.commission, result.realised) == (D("50"), D("-2"), D("48"))


def test_reversal_by_our_own_open_keeps_the_opening_part() -> None:
    result = share(
        deal(1, OTHER, "in", "0.10", "2350.00"),
        deal(2, OURS, "inout", "0.30", "2355.00", "-50.00", "-3.00", side="sell"),
    )

    assert (result.opened_volume, result.held, result.closed_volume) == (D("0.20"), D("0.20"), 0)
    assert result.commission == D("-2")  # the opening two thirds of -3.00
    assert result.profit == 0  # the closed 0.10 was someone else's


def test_balance_deals_and_other_positions_money_are_ignored() -> None:
    result = share(
        Deal(9, 0, 0, "", "balance", "in", D(0), D(0), D(1000), D(0), D(0), 0, "", T0),
        deal(1, OTHER, "in", "0.10", "2350.00", commission="-0.70"),
    )

    assert result == Share(position_volume=D("0.10"))


def test_figures_round_money_to_the_currency_digits_half_up() -> None:
    result = Share(opened_volume=D("0.3"), open_value=D("705.2"), profit=D("-82.505"))

    assert figures(result, D("1.005"), digits=2).realised == D("-82.51")
    assert figures(result, D("1.005"), digits=2).floating == D("1.01")
    assert figures(result, D(0), digits=0).realised == D("-83")
    assert figures(Share(), D(0), digits=2).open_price is None
