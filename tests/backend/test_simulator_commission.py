"""The simulator's commission per lot: charged on every deal, in and out, from the balance."""

from decimal import Decimal
from pathlib import Path
from typing import Any

from mt5sim.broker import Broker
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c

LOGIN = 1002


def market(order_type: int = c.ORDER_TYPE_BUY, volume: float = 0.3, **fields: Any) -> dict:
    return {
        "action": c.TRADE_ACTION_DEAL, "symbol": "XAUUSD", "volume": volume, "type": order_type,
        "type_filling": c.ORDER_FILLING_FOK, "magic": 7, "comment": "tagged", **fields,
    }  # fmt: skip


def terminal_on(broker: Broker, **account: Any) -> SimTerminal:
    broker.create_account(LOGIN, "pw", "Sim-Demo", **account)
    terminal = SimTerminal(broker)
    assert terminal.initialize(login=LOGIN, password="pw", server="Sim-Demo")
    return terminal


def test_deals_carry_commission_per_lot_and_balance_pays_it() -> None:
    broker = Broker(":memory:", seed=1, step_ms=0)
    broker.set_quote("XAUUSD", Decimal("2350.00"), Decimal("2350.20"), freeze=True)
    terminal = terminal_on(broker, commission_per_lot=Decimal("7"))
    opened = terminal.order_send(market())  # 0.3 lots at 2350.20: commission 2.10
    broker.set_quote("XAUUSD", Decimal("2360.00"), Decimal("2360.20"), freeze=True)
    closed = terminal.order_send(market(c.ORDER_TYPE_SELL, 0.1, position=opened.order))

    deals = terminal.history_deals_get(position=opened.order)
    assert [(d.entry, d.commission, d.profit) for d in deals] == [
        (c.DEAL_ENTRY_IN, -2.1, 0.0),
        (c.DEAL_ENTRY_OUT, -0.7, 98.0),  # 9.80 * 100 * 0.1
    ]
    assert closed.retcode == c.TRADE_RETCODE_DONE
    assert terminal.account_info().balance == 10095.2  # 10000 - 2.10 - 0.70 + 98.00


def test_broker_default_commission_applies_to_new_accounts_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sim.sqlite"
    broker = Broker(path, seed=1, step_ms=0, default_commission_per_lot=Decimal("3.5"))
    terminal_on(broker).order_send(market(volume=0.2))
    broker.close()

    reopened = Broker(path, seed=1, step_ms=0)
    account = reopened.accounts[LOGIN]
    trade = [d for d in reopened.deals[LOGIN] if d.type == c.DEAL_TYPE_BUY]
    assert account.commission_per_lot == Decimal("3.5")
    assert [d.commission for d in trade] == [Decimal("-0.70")]
    reopened.close()


def test_set_commission_changes_later_deals_only() -> None:
    broker = Broker(":memory:", seed=1, step_ms=0)
    terminal = terminal_on(broker)
    first = terminal.order_send(market(volume=0.1))
    broker.set_commission(LOGIN, Decimal("10"))
    second = terminal.order_send(market(volume=0.1))

    commissions = [terminal.history_deals_get(ticket=r.deal)[0].commission for r in (first, second)]
    assert commissions == [0.0, -1.0]
