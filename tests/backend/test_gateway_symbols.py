"""Symbol resolution: the pure rules, then through the gateway against simulated broker flavours."""

from __future__ import annotations

from pathlib import Path

import pytest

from errors import UnknownSymbol
from services.mt5.dto import AccountRef
from services.mt5.gateway import MT5Gateway
from services.mt5.sources import SimSettings
from services.mt5.symbols import is_cent_currency, resolve

DEFAULT = ("XAUUSD", "XAUUSD.1oz", "EURUSD", "GBPUSD", "US30")


@pytest.mark.parametrize(
    ("requested", "names", "expected"),
    [
        ("XAUUSD", DEFAULT, "XAUUSD"),
        ("xauusd", DEFAULT, "XAUUSD"),
        ("XAUUSD", ("XAUUSD.m", "EURUSD.m"), "XAUUSD.m"),
        ("XAUUSD", ("XAUUSDm", "EURUSDm"), "XAUUSDm"),
        ("XAUUSD", ("XAUUSD_i",), "XAUUSD_i"),
        ("XAUUSD", ("#XAUUSD",), "#XAUUSD"),
        ("XAUUSD", ("GOLD", "XAUUSD.1oz"), "GOLD"),
        ("GOLD", DEFAULT, "XAUUSD"),
        ("XAUUSD", ("GOLD.m", "SILVER.m"), "GOLD.m"),
        ("XAGUSD", ("SILVER",), "SILVER"),
        ("XAUUSD", ("XAUUSD.m", "XAUUSDm"), "XAUUSD.m"),
    ],
)
def test_resolve_known_shapes_pick_the_broker_name(
    requested: str, names: tuple[str, ...], expected: str
) -> None:
    assert resolve(requested, names) == expected


def test_resolve_symbol_map_wins_over_exact_name() -> None:
    assert resolve("XAUUSD", ("XAUUSD", "GOLD"), symbol_map={"XAUUSD": "GOLD"}) == "GOLD"


def test_resolve_symbol_map_to_missing_name_raises_unknown_symbol() -> None:
    with pytest.raises(UnknownSymbol) as caught:
        resolve("XAUUSD", ("XAUUSD",), symbol_map={"XAUUSD": "GOLDX"})

    assert caught.value.code == "unknown_symbol"
    assert caught.value.details["mapped_to"] == "GOLDX"


def test_resolve_cent_variant_only_for_cent_accounts() -> None:
    names = ("XAUUSDc", "EURUSDc")

    assert resolve("XAUUSD", names, cent=True) == "XAUUSDc"
    with pytest.raises(UnknownSymbol):
        resolve("XAUUSD", names, cent=False)


def test_resolve_contract_variant_is_not_taken_for_the_plain_name() -> None:
    with pytest.raises(UnknownSymbol) as caught:
        resolve("XAUUSD", ("XAUUSD.1oz", "EURUSD"))

    assert caught.value.details["candidates"] == ["XAUUSD.1oz"]


def test_resolve_unknown_lists_candidates() -> None:
    with pytest.raises(UnknownSymbol) as caught:
        resolve("EURUSX", DEFAULT)

    assert caught.value.details["symbol"] == "EURUSX"
    assert "EURUSD" in caught.value.details["candidates"]


@pytest.mark.parametrize(("currency", "cent"), [("USC", True), ("EUC", True), ("USD", False)])
def test_is_cent_currency_recognises_cent_codes(currency: str, cent: bool) -> None:
    assert is_cent_currency(currency) is cent


# --- through the gateway ----------------------------------------------------------------------


@pytest.fixture
def gateway(tmp_path: Path) -> MT5Gateway:
    gw = MT5Gateway(sim=SimSettings(db_path=str(tmp_path / "sim.sqlite"), seed=7))
    yield gw
    gw.close()


def account(server: str, login: int = 5001, **fields: object) -> AccountRef:
    return AccountRef(
        account_id=1, terminal="sim://default", login=login, password="pw", server=server, **fields
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("Sim-Demo", "XAUUSD"),
        ("Suffix-Live.m", "XAUUSD.m"),
        ("Sim-Trial", "XAUUSDm"),
        ("Sim-Gold", "GOLD"),
        ("Sim-Cent", "XAUUSD"),
    ],
)
def test_resolve_symbol_xauusd_on_each_flavour_finds_its_name(
    gateway: MT5Gateway, server: str, expected: str
) -> None:
    assert gateway.resolve_symbol(account(server), "XAUUSD") == expected


def test_resolve_symbol_account_map_selects_the_cent_contract(gateway: MT5Gateway) -> None:
    ref = account("Sim-Cent", symbol_map={"XAUUSD": "XAUUSDc"})

    assert gateway.resolve_symbol(ref, "XAUUSD") == "XAUUSDc"


def test_resolve_symbol_unknown_raises_with_candidates(gateway: MT5Gateway) -> None:
    with pytest.raises(UnknownSymbol) as caught:
        gateway.resolve_symbol(account("Sim-Demo"), "GBPUSX")

    assert caught.value.code == "unknown_symbol"
    assert "GBPUSD" in caught.value.details["candidates"]


def test_resolve_symbol_second_call_is_served_from_the_cache(gateway: MT5Gateway) -> None:
    ref = account("Sim-Trial")
    gateway.resolve_symbol(ref, "EURUSD")
    slot = gateway._slots["sim://default#5001"]
    before = dict(slot.session.resolved)

    assert gateway.resolve_symbol(ref, "EURUSD") == "EURUSDm"
    assert slot.session.resolved == before
