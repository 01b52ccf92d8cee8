"""send_order names the position a fill opened or changed: hedging for free, netting by its deal."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from factories import sim_broker_of

from services.mt5 import constants as c
from services.mt5.dto import AccountRef, OrderRequest
from services.mt5.gateway import MT5Gateway
from services.mt5.sources import SimSettings

DONE = 10009
NETTING, HEDGING = c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING, c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[MT5Gateway]:
    gw = MT5Gateway(sim=SimSettings(db_path=str(tmp_path / "sim.sqlite"), seed=3))
    yield gw
    gw.close()


def opened(gateway: MT5Gateway, login: int, margin_mode: int) -> AccountRef:
    """An account of that margin mode, logged in once (as the executor's sessions are)."""
    sim_broker_of(gateway).create_account(login, "pw", "Sim-Demo", margin_mode=margin_mode)
    ref = AccountRef(
        account_id=login, terminal="sim://default", login=login, password="pw", server="Sim-Demo"
    )
    gateway.resolve_symbol(ref, "XAUUSD")
    return ref


def order(side: str = "buy", volume: str = "0.10", **fields: Any) -> OrderRequest:
    return OrderRequest(
        symbol="XAUUSD", side=side, volume=Decimal(volume), deviation=1000, magic=5, **fields
    )


def unused_faults(gateway: MT5Gateway, login: int) -> list[tuple[str, int]]:
    return [(f.call, f.count) for f in sim_broker_of(gateway).faults.get(login, [])]


def test_hedging_fill_position_is_its_order_ticket_without_asking_the_terminal(gateway):
    ref = opened(gateway, 8101, HEDGING)
    # Trips if the terminal is asked:
    sim_broker_of(gateway).inject_fault(8101, "none", call="history_deals_get")

    first, second = gateway.send_order(ref, order()), gateway.send_order(ref, order())

    assert first.retcode == second.retcode == DONE
    assert (first.position, second.position) == (first.order, second.order)
    assert {p.ticket for p in gateway.positions(ref)} == {first.order, second.order}
    assert unused_faults(gateway, 8101) == [("history_deals_get", 1)]


def test_hedging_close_names_the_closed_position(gateway):
    ref = opened(gateway, 8102, HEDGING)
    opening = gateway.send_order(ref, order())

    closing = gateway.send_order(ref, order("sell", position=opening.order))

    assert closing.retcode == DONE and closing.position == opening.order
    assert gateway.positions(ref) == []


def test_netting_fill_adding_to_an_older_position_names_that_position(gateway):
    ref = opened(gateway, 8103, NETTING)
    first = gateway.send_order(ref, order())

    added = gateway.send_order(ref, order(volume="0.20"))
    reversed_ = gateway.send_order(ref, order("sell", volume="0.50"))

    assert first.position == first.order
    assert added.position == reversed_.position == first.order  # not their own order tickets
    (position,) = gateway.positions(ref)
    assert (position.ticket, position.type) == (first.order, "sell")
    assert position.volume == Decimal("0.2")


def test_netting_fill_closing_the_position_still_names_it(gateway):
    ref = opened(gateway, 8104, NETTING)
    first = gateway.send_order(ref, order())

    closed = gateway.send_order(ref, order("sell"))

    assert closed.retcode == DONE and closed.position == first.order
    assert gateway.positions(ref) == []


def test_netting_history_not_answering_falls_back_to_the_symbols_position(gateway):
    ref = opened(gateway, 8105, NETTING)
    first = gateway.send_order(ref, order())
    sim_broker_of(gateway).inject_fault(8105, "none", call="history_deals_get")

    added = gateway.send_order(ref, order())

    assert added.retcode == DONE and added.position == first.order
    assert unused_faults(gateway, 8105) == [("history_deals_get", 0)]


@pytest.mark.parametrize("kind", ["none", "timeout"])
def test_netting_lookups_failing_keep_the_fill_without_a_position(gateway, kind):
    ref = opened(gateway, 8106, NETTING)
    broker = sim_broker_of(gateway)
    for call in ("history_deals_get", "positions_get"):
        broker.inject_fault(8106, kind, call=call)

    filled = gateway.send_order(ref, order())

    assert filled.retcode == DONE and filled.order and filled.deal
    assert filled.position == 0
    assert len(gateway.positions(ref)) == 1  # the fill stands; nothing was resent


def test_unknown_margin_mode_reads_the_deal(gateway):
    ref = opened(gateway, 8107, HEDGING)
    session = next(iter(gateway._slots.values())).session
    session.margin_modes.clear()  # e.g. a fresh session whose symbol was already resolved

    filled = gateway.send_order(ref, order())

    assert filled.position == filled.order


def test_pending_order_has_no_position_yet(gateway):
    ref = opened(gateway, 8108, HEDGING)
    tick = gateway.tick(ref, "XAUUSD")

    placed = gateway.send_order(ref, order(order_type="limit", price=tick.bid - 50))

    assert placed.retcode == c.TRADE_RETCODE_PLACED and placed.position == 0
