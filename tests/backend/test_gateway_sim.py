"""The gateway against the simulated broker in process: connect, specs, orders, faults, locks."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from factories import sim_broker_of

from errors import MT5AuthFailed, MT5Timeout, MT5Unavailable, OrderOutcomeUnknown, ValidationFailed
from mt5sim.broker import Broker
from mt5sim.facade import make_module
from services.mt5.convert import filling_for
from services.mt5.dto import AccountRef, OrderRequest
from services.mt5.gateway import MT5Gateway
from services.mt5.sources import SimSettings

DONE, PLACED = 10009, 10008


def make_gateway(tmp_path: Path, **settings: Any) -> MT5Gateway:
    return MT5Gateway(sim=SimSettings(db_path=str(tmp_path / "sim.sqlite"), seed=3, **settings))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[MT5Gateway]:
    gw = make_gateway(tmp_path)
    yield gw
    gw.close()


def account(
    login: int = 7001,
    *,
    server: str = "Sim-Demo",
    password: str = "pw",
    terminal: str = "sim://default",
) -> AccountRef:
    return AccountRef(
        account_id=login, terminal=terminal, login=login, password=password, server=server
    )


def buy(symbol: str = "XAUUSD", **fields: Any) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side="buy",
        volume=Decimal("0.10"),
        magic=11,
        comment=fields.pop("comment", "row-1"),
        **fields,
    )


def test_connect_new_simulated_account_returns_snapshot_and_terminal(gateway: MT5Gateway) -> None:
    snapshot, terminal, latency_ms = gateway.connect(account())

    assert (snapshot.login, snapshot.currency, snapshot.balance) == (7001, "USD", Decimal(10000))
    assert snapshot.margin_mode == "hedging"
    assert terminal.connected and terminal.simulated
    assert latency_ms >= 0


def test_connect_wrong_password_raises_mt5_auth_failed(gateway: MT5Gateway) -> None:
    gateway.connect(account())

    with pytest.raises(MT5AuthFailed) as caught:
        gateway.connect(account(password="not-it"))

    assert caught.value.code == "mt5_auth_failed"
    assert caught.value.last_error is not None and caught.value.last_error[0] == -6


def test_connect_bad_terminal_url_raises_mt5_unavailable(gateway: MT5Gateway) -> None:
    with pytest.raises(MT5Unavailable):
        gateway.connect(account(terminal="sim://bad/name"))


def test_symbol_spec_converts_floats_to_exact_decimals(gateway: MT5Gateway) -> None:
    spec = gateway.symbol_spec(account(), "XAUUSD")

    assert (spec.name, spec.contract_size, spec.tick_size) == (
        "XAUUSD",
        Decimal(100),
        Decimal("0.01"),
    )
    assert spec.point == Decimal("0.01") and spec.volume_step == Decimal("0.01")
    assert spec.tick_value == Decimal("1.0")  # 0.01 * 100 oz, in USD
    assert isinstance(spec.volume_min, Decimal)


def test_symbol_spec_cent_account_gives_tick_value_in_cents(gateway: MT5Gateway) -> None:
    spec = gateway.symbol_spec(account(server="Sim-Cent"), "XAUUSD")

    assert spec.tick_value == Decimal("100.0")


def test_tick_returns_bid_below_ask(gateway: MT5Gateway) -> None:
    quote = gateway.tick(account(), "GOLD")

    assert quote.symbol == "XAUUSD" and quote.bid < quote.ask


def test_send_order_market_fills_at_the_ask(gateway: MT5Gateway) -> None:
    ref = account()
    sim_broker_of(gateway).set_quote("XAUUSD", Decimal("2400.00"), Decimal("2400.25"))

    result = gateway.send_order(ref, buy())

    assert result.retcode == DONE
    assert result.price == Decimal("2400.25") and result.volume == Decimal("0.1")
    [position] = gateway.positions(ref)
    assert (position.magic, position.comment, position.type) == (11, "row-1", "buy")


@pytest.mark.parametrize(
    ("server", "symbol"), [("Suffix-Live.m", "XAUUSD.m"), ("Sim-Trial", "XAUUSDm")]
)
def test_send_order_picks_the_filling_the_symbol_allows(
    gateway: MT5Gateway, server: str, symbol: str
) -> None:
    # XAUUSD.m allows only IOC, XAUUSDm only FOK: a wrong pick is 10030 INVALID_FILL.
    assert gateway.send_order(account(server=server), buy(symbol)).retcode == DONE


@pytest.mark.parametrize(
    ("mask", "order_type", "filling"),
    [
        (3, "market", 0),
        (1, "market", 0),
        (2, "market", 1),
        (0, "market", 2),
        (3, "limit", 2),
        (3, "stop", 2),
    ],
)
def test_filling_for_mask_and_order_type_chooses_fok_ioc_or_return(
    mask: int, order_type: str, filling: int
) -> None:
    assert filling_for(mask, order_type) == filling


def test_send_order_pending_limit_is_placed_then_found_by_tag(gateway: MT5Gateway) -> None:
    ref = account()
    since = datetime.now(UTC)
    sim_broker_of(gateway).set_quote("XAUUSD", Decimal("2400.00"), Decimal("2400.25"))

    result = gateway.send_order(
        ref, buy(order_type="limit", price=Decimal("2350.00"), comment="lim")
    )
    tagged = gateway.find_tagged(ref, magic=11, comment="lim", since=since)

    assert result.retcode == PLACED
    assert tagged is not None and (tagged.order, tagged.state) == (result.order, "placed")


def test_send_order_pending_without_price_raises_validation_failed(gateway: MT5Gateway) -> None:
    with pytest.raises(ValidationFailed):
        gateway.send_order(account(), buy(order_type="stop"))


def test_send_order_rejected_returns_the_retcode(gateway: MT5Gateway) -> None:
    result = gateway.send_order(
        account(), OrderRequest(symbol="XAUUSD", side="buy", volume=Decimal("0.001"))
    )

    assert result.retcode == 10014  # INVALID_VOLUME, classified by the executor


def test_send_order_close_by_position_flattens_it(gateway: MT5Gateway) -> None:
    ref = account()
    opened = gateway.send_order(ref, buy())
    [position] = gateway.positions(ref)

    closed = gateway.send_order(
        ref,
        OrderRequest(
            symbol="XAUUSD",
            side="sell",
            volume=Decimal("0.1"),
            position=position.ticket,
            comment="close",
        ),
    )

    assert opened.retcode == closed.retcode == DONE and closed.position == position.ticket
    assert gateway.positions(ref) == []


def test_send_order_none_raises_outcome_unknown_with_last_error(gateway: MT5Gateway) -> None:
    ref = account()
    gateway.connect(ref)
    sim_broker_of(gateway).inject_fault(ref.login, "none")

    with pytest.raises(OrderOutcomeUnknown) as caught:
        gateway.send_order(ref, buy())

    assert caught.value.code == "mt5_outcome_unknown"
    assert caught.value.last_error == (-10001, "IPC send failed")


def test_send_order_dropped_after_fill_is_unknown_then_found_by_tag(gateway: MT5Gateway) -> None:
    ref = account()
    since = datetime.now(UTC)
    gateway.connect(ref)
    sim_broker_of(gateway).inject_fault(ref.login, "drop_after_fill")

    with pytest.raises(OrderOutcomeUnknown):
        gateway.send_order(ref, buy(comment="row-99"))
    tagged = gateway.find_tagged(ref, magic=11, comment="row-99", since=since)

    assert tagged is not None and tagged.state == "filled" and tagged.volume == Decimal("0.1")
    assert [p.ticket for p in gateway.positions(ref)] == [tagged.position]


def test_send_order_timeout_raises_outcome_unknown_not_timeout(gateway: MT5Gateway) -> None:
    ref = account()
    gateway.connect(ref)
    sim_broker_of(gateway).inject_fault(ref.login, "timeout")

    with pytest.raises(OrderOutcomeUnknown):
        gateway.send_order(ref, buy())


def test_find_tagged_never_sent_returns_none(gateway: MT5Gateway) -> None:
    ref = account()
    gateway.send_order(ref, buy(comment="row-1"))

    assert gateway.find_tagged(ref, magic=11, comment="row-2", since=datetime.now(UTC)) is None
    assert gateway.find_tagged(ref, magic=12, comment="row-1", since=datetime.now(UTC)) is None


def test_account_snapshot_read_timeout_raises_mt5_timeout(gateway: MT5Gateway) -> None:
    ref = account()
    gateway.connect(ref)
    sim_broker_of(gateway).inject_fault(ref.login, "timeout", call="account_info")

    with pytest.raises(MT5Timeout) as caught:
        gateway.account_snapshot(ref)

    assert caught.value.code == "mt5_timeout"


def test_deals_window_lists_deposit_and_fill(gateway: MT5Gateway) -> None:
    ref = account()
    gateway.send_order(ref, buy())
    now = datetime.now(UTC)

    deals = gateway.deals(ref, now - timedelta(hours=1), now)

    assert [(d.type, d.entry) for d in deals] == [("balance", "in"), ("buy", "in")]


def test_health_simulated_terminal_is_ok_and_unknown_url_is_not(gateway: MT5Gateway) -> None:
    assert gateway.health("sim://default")["ok"] is True
    report = gateway.health("ftp://nowhere")
    assert report["ok"] is False and report["error"]["code"] == "mt5_unavailable"


def test_state_persists_across_gateways_on_the_same_file(tmp_path: Path) -> None:
    first = make_gateway(tmp_path)
    first.send_order(account(), buy())
    first.close()
    second = make_gateway(tmp_path)

    assert len(second.positions(account())) == 1
    second.close()


# --- concurrency ------------------------------------------------------------------------------


def timed_snapshots(gateway: MT5Gateway, refs: list[AccountRef], calls: int) -> float:
    def work(ref: AccountRef) -> None:
        for _ in range(calls):
            gateway.account_snapshot(ref)

    threads = [threading.Thread(target=work, args=(ref,)) for ref in refs]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def test_two_accounts_with_latency_run_in_parallel(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, latency_ms=40)
    one, two = account(8001), account(8002)
    gateway.connect(one), gateway.connect(two)

    single = timed_snapshots(gateway, [one], 5)
    both = timed_snapshots(gateway, [one, two], 5)

    assert both < 1.5 * single, (single, both)
    gateway.close()


def test_same_account_calls_are_serialised(tmp_path: Path) -> None:
    gateway = make_gateway(tmp_path, latency_ms=40)
    ref = account(8003)
    gateway.connect(ref)

    single = timed_snapshots(gateway, [ref], 5)
    twice = timed_snapshots(gateway, [ref, ref], 5)

    assert twice >= 1.8 * single, (single, twice)
    gateway.close()


# --- native:// through the same adapter -------------------------------------------------------


def test_native_terminal_with_the_simulator_module_trades_through_the_adapter(
    tmp_path: Path,
) -> None:
    broker = Broker(str(tmp_path / "native.sqlite"), seed=5)
    paths: list[str] = []

    def modules(path: str) -> Any:
        paths.append(path)
        return make_module(broker)

    gateway = MT5Gateway(
        sim=SimSettings(db_path=str(tmp_path / "sim.sqlite")), native_modules=modules
    )
    ref = account(terminal="native://C:/MT5/terminal64.exe")

    snapshot, terminal, _ = gateway.connect(ref)
    result = gateway.send_order(ref, buy())

    assert paths == ["C:/MT5/terminal64.exe"] and terminal.simulated
    assert snapshot.login == ref.login and result.retcode == DONE
    assert [p.magic for p in gateway.positions(ref)] == [11]
    gateway.close()
    broker.close()


def test_native_terminal_serving_two_accounts_switches_login(tmp_path: Path) -> None:
    broker = Broker(str(tmp_path / "native.sqlite"), seed=5)
    gateway = MT5Gateway(
        sim=SimSettings(db_path=str(tmp_path / "sim.sqlite")),
        native_modules=lambda _path: make_module(broker),
    )
    first, second = (
        account(login, terminal="native://C:/MT5/terminal64.exe") for login in (9001, 9002)
    )

    gateway.send_order(first, buy())

    assert gateway.account_snapshot(second).login == 9002
    assert gateway.positions(second) == [] and len(gateway.positions(first)) == 1
    gateway.close()
    broker.close()


@pytest.mark.skipif(sys.platform == "win32", reason="the MetaTrader5 package exists on Windows")
def test_native_terminal_off_windows_raises_mt5_unavailable(gateway: MT5Gateway) -> None:
    with pytest.raises(MT5Unavailable) as caught:
        gateway.connect(account(terminal="native://C:/MT5/terminal64.exe"))

    assert "not available on this platform" in caught.value.message


def test_native_terminal_real_package_initializes() -> None:
    if sys.platform != "win32":
        pytest.skip("the MetaTrader5 package is Windows-only")
    pytest.importorskip("MetaTrader5")
    gateway = MT5Gateway(sim=SimSettings(db_path=":memory:"))
    report = gateway.health("native://")
    assert "ok" in report
    gateway.close()
