"""The retcode policy of execute_job, class by class, with a terminal that answers from a script.

The ledger's end-to-end guarantees run against the simulator (tests/integration); here each
retcode class gets its exact behaviour: how many sends, what waits, what is recorded.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from errors import MT5Unavailable, OrderOutcomeUnknown
from ledger.execution import execute_job, order_comment
from ledger.types import AccountSizing, RowJob, Sizing, TradeOrder
from services.mt5.dto import AccountRef, OrderRequest, OrderResult, SymbolSpec, TaggedOrder
from services.mt5.retcodes import RetcodeClass, classify

SPEC = SymbolSpec(
    name="XAUUSD", calc_mode=4, digits=2, point=Decimal("0.01"), tick_size=Decimal("0.01"),
    tick_value=Decimal("1"), contract_size=Decimal("100"), base_currency="XAU",
    profit_currency="USD", margin_currency="XAU", volume_min=Decimal("0.01"),
    volume_step=Decimal("0.01"), volume_max=Decimal("100"),
)  # fmt: skip
DONE = OrderResult(retcode=10009, order=11, deal=22, volume=Decimal("0.10"), price=Decimal("2350"))


class ScriptedTerminal:
    """Answers order_send from a list: an OrderResult, or an exception to raise."""

    def __init__(self, answers: list[Any], tagged: TaggedOrder | None = None) -> None:
        self.answers = list(answers)
        self.sent: list[OrderRequest] = []
        self.tagged = tagged
        self.lookups = 0

    def resolve_symbol(self, account: AccountRef, symbol: str) -> str:
        return symbol

    def symbol_spec(
        self, account: AccountRef, symbol: str, *, max_age_s: float | None = None
    ) -> SymbolSpec:
        return SPEC

    def send_order(self, account: AccountRef, request: OrderRequest) -> OrderResult:
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    def find_tagged(
        self, account: AccountRef, *, magic: int, comment: str, since: datetime
    ) -> TaggedOrder | None:
        self.lookups += 1
        return self.tagged

    def tick(self, account: AccountRef, symbol: str) -> Any:
        raise AssertionError("not needed for fixed volumes")

    def account_snapshot(self, account: AccountRef) -> Any:
        raise AssertionError("not needed for fixed volumes")


def make_job(**overrides: Any) -> RowJob:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "row_id": 1, "dispatch_id": 7, "account_id": 3, "leg": 0,
        "order": {"symbol": "XAUUSD", "side": "buy", "order_type": "market", "deviation": 20},
        "sizing": {"mode": "fixed_volume", "volume": "0.10"}, "account_settings": AccountSizing(),
        "magic": 770000007, "tag": "t7.3.0", "created_at": now,
        "expires_at": now + timedelta(seconds=30),
        "account": AccountRef(3, "sim://default", 5001, "pw", "Sim-Demo"),
    }  # fmt: skip
    fields.update(overrides)
    fields.pop("legs", None)  # the order's take profits say how many legs there are
    # Orders and sizings are written as their stored JSON, as the ledger keeps them.
    fields["order"] = TradeOrder.from_json(fields["order"])
    fields["sizing"] = Sizing.from_json(fields["sizing"])
    return RowJob(**fields)


def run(job: RowJob, terminal: ScriptedTerminal) -> tuple[Any, list[float]]:
    waits: list[float] = []
    return execute_job(job, terminal, sleep=waits.append), waits


@pytest.mark.parametrize(
    ("retcode", "expected"),
    [(10009, RetcodeClass.SUCCESS), (10008, RetcodeClass.SUCCESS), (10010, RetcodeClass.SUCCESS),
     (10004, RetcodeClass.PRICE_MOVED), (10020, RetcodeClass.PRICE_MOVED),
     (10021, RetcodeClass.PRICE_MOVED), (10024, RetcodeClass.TRANSIENT),
     (10031, RetcodeClass.TRANSIENT), (10012, RetcodeClass.UNKNOWN_OUTCOME),
     (10019, RetcodeClass.FINAL), (10030, RetcodeClass.FINAL), (10006, RetcodeClass.FINAL),
     (99999, RetcodeClass.FINAL)],
)  # fmt: skip
def test_classify_retcode_gives_its_class(retcode: int, expected: RetcodeClass) -> None:
    assert classify(retcode) is expected


def test_execute_done_records_tickets_after_one_send() -> None:
    terminal = ScriptedTerminal([DONE])
    outcome, waits = run(make_job(), terminal)
    assert (outcome.status, outcome.retcode, outcome.order_ticket, outcome.deal_ticket) == (
        "executed",
        10009,
        11,
        22,
    )
    assert len(terminal.sent) == 1 and waits == []
    assert terminal.sent[0].comment.startswith("t7.3.0") and terminal.sent[0].magic == 770000007


def test_execute_requote_retries_with_fresh_price_then_fills() -> None:
    job = make_job(
        order={"symbol": "XAUUSD", "side": "buy", "order_type": "market", "price": "2300"}
    )
    terminal = ScriptedTerminal([OrderResult(retcode=10004), DONE])
    outcome, _ = run(job, terminal)
    assert outcome.status == "executed"
    assert terminal.sent[0].price == Decimal("2300") and terminal.sent[1].price is None


def test_execute_price_moved_three_retries_then_fails() -> None:
    terminal = ScriptedTerminal([OrderResult(retcode=10020)] * 4)
    outcome, _ = run(make_job(), terminal)
    assert outcome.status == "failed" and outcome.retcode == 10020
    assert len(terminal.sent) == 4  # the first send and three retries


def test_execute_too_many_requests_waits_then_retries() -> None:
    terminal = ScriptedTerminal([OrderResult(retcode=10024), DONE])
    outcome, waits = run(make_job(), terminal)
    assert outcome.status == "executed"
    assert waits == [0.25]


def test_execute_connection_retcode_reconciles_before_resending() -> None:
    landed = TaggedOrder(
        order=11,
        deal=22,
        position=11,
        volume=Decimal("0.10"),
        price=Decimal("2350"),
        state="filled",
    )
    terminal = ScriptedTerminal([OrderResult(retcode=10031)], tagged=landed)
    outcome, _ = run(make_job(), terminal)
    assert outcome.status == "executed" and outcome.order_ticket == 11
    assert len(terminal.sent) == 1  # found by its tag: not sent again


def test_execute_outcome_unknown_adopts_tagged_order_without_resend() -> None:
    landed = TaggedOrder(
        order=11,
        deal=22,
        position=11,
        volume=Decimal("0.10"),
        price=Decimal("2350"),
        state="filled",
    )
    terminal = ScriptedTerminal([OrderOutcomeUnknown()], tagged=landed)
    outcome, _ = run(make_job(), terminal)
    assert outcome.status == "executed" and outcome.deal_ticket == 22
    assert len(terminal.sent) == 1 and terminal.lookups == 1


def test_execute_outcome_unknown_not_found_resends_once() -> None:
    terminal = ScriptedTerminal([OrderOutcomeUnknown(), DONE])
    outcome, _ = run(make_job(), terminal)
    assert outcome.status == "executed"
    assert len(terminal.sent) == 2 and terminal.lookups == 1


def test_execute_outcome_unknown_every_time_gives_up_flagged() -> None:
    terminal = ScriptedTerminal([OrderOutcomeUnknown()] * 5)
    outcome, _ = run(make_job(), terminal)
    assert outcome.status == "failed" and outcome.outcome_unknown
    assert outcome.error.startswith("mt5_outcome_unknown")
    assert len(terminal.sent) == 3


def test_execute_final_retcode_fails_at_once_with_reason() -> None:
    terminal = ScriptedTerminal([OrderResult(retcode=10019, comment="No money")])
    outcome, waits = run(make_job(), terminal)
    assert (outcome.status, outcome.retcode) == ("failed", 10019)
    assert outcome.error == "mt5_no_money: No money"
    assert len(terminal.sent) == 1 and waits == []


def test_execute_unreachable_terminal_retries_then_fails() -> None:
    terminal = ScriptedTerminal([MT5Unavailable()] * 4)
    outcome, waits = run(make_job(), terminal)
    assert outcome.status == "failed" and outcome.error.startswith("mt5_unavailable")
    assert waits == [0.25, 0.5, 1.0]


def test_execute_expired_row_is_not_sent() -> None:
    terminal = ScriptedTerminal([DONE])
    outcome, _ = run(make_job(expires_at=datetime.now(UTC) - timedelta(seconds=1)), terminal)
    assert outcome.status == "expired" and terminal.sent == []


def test_execute_cancelled_row_with_unknown_outcome_reconciles_first() -> None:
    landed = TaggedOrder(
        order=11,
        deal=22,
        position=11,
        volume=Decimal("0.10"),
        price=Decimal("2350"),
        state="filled",
    )
    terminal = ScriptedTerminal([], tagged=landed)
    outcome, _ = run(make_job(cancelled=True, outcome_unknown=True), terminal)
    assert outcome.status == "executed" and terminal.sent == []


def test_execute_account_without_credentials_fails_without_sending() -> None:
    terminal = ScriptedTerminal([DONE])
    outcome, _ = run(make_job(account=None, account_problem="deleted"), terminal)
    assert outcome.status == "failed" and outcome.error == "account_unavailable: deleted"
    assert terminal.sent == []


def test_order_comment_keeps_tag_first_within_31_characters() -> None:
    comment = order_comment("t123456.78901.0", "a very long comment from the user")
    assert comment.startswith("t123456.78901.0 ") and len(comment) == 31


class TenthTickTerminal(ScriptedTerminal):
    """A broker quoting XAUUSD in steps of 0.1, coarser than the catalog's 0.01."""

    def symbol_spec(
        self, account: AccountRef, symbol: str, *, max_age_s: float | None = None
    ) -> SymbolSpec:
        return replace(SPEC, digits=1, point=Decimal("0.1"), tick_size=Decimal("0.1"))


@pytest.mark.parametrize(
    "order",
    [
        {"order_type": "limit", "price": "2300.05"},
        {"order_type": "market", "stop_loss": "2290.05"},
        {"order_type": "limit", "price": "2300.0", "take_profits": [
            {"price": "2310.05", "share_percent": "100"}]},
    ],
    ids=["price", "stop_loss", "take_profit"],
)  # fmt: skip
def test_execute_price_off_the_brokers_tick_grid_fails_without_sending(
    order: dict[str, Any],
) -> None:
    terminal = TenthTickTerminal([DONE])
    job = make_job(order={"symbol": "XAUUSD", "side": "buy", "deviation": 20, **order})

    outcome, _ = run(job, terminal)

    assert outcome.status == "failed" and terminal.sent == []
    assert outcome.error.startswith("price_off_tick_grid: ")


def test_execute_price_on_the_brokers_tick_grid_is_sent() -> None:
    terminal = TenthTickTerminal([DONE])
    job = make_job(
        order={"symbol": "XAUUSD", "side": "buy", "order_type": "limit", "price": "2300.10"}
    )

    outcome, _ = run(job, terminal)

    assert outcome.status == "executed" and terminal.sent[0].price == Decimal("2300.10")
