"""`mt5_order_rows`: final ledger rows by status and retcode, counted in the database at scrape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from factories import auth_headers, make_account, make_user
from test_metrics import sample, scrape


def add_rows(app: Any, client: Any, rows: list[tuple[str, int | None]]) -> None:
    """Rows as any executor process would have left them (none of them ran in this process)."""
    from extensions import db
    from models import BroadcastQueue, Dispatch

    user = make_user(app)
    account = make_account(client, auth_headers(client, user))
    dispatch = Dispatch(
        kind="orders", creator_id=user.id, order_data={}, request_hash="h",
        expires_at=datetime.now(UTC),
    )  # fmt: skip
    db.session.add(dispatch)
    db.session.flush()
    for leg, (status, retcode) in enumerate(rows):
        db.session.add(
            BroadcastQueue(
                admin_user_id=user.id, target_user_id=user.id, order_data="{}",
                dispatch_id=dispatch.id, account_id=account["id"], leg=leg, status=status,
                retcode=retcode,
            )
        )  # fmt: skip
    db.session.commit()


def test_rows_recorded_elsewhere_are_counted_by_status_and_retcode(app, client):
    add_rows(
        app,
        client,
        [("executed", 10009), ("executed", 10009), ("failed", 10019), ("failed", None),
         ("expired", None), ("pending", None), ("in_flight", None)],
    )  # fmt: skip

    text = scrape(client)

    assert sample(text, "mt5_order_rows", status="executed", retcode="10009") == 2
    assert sample(text, "mt5_order_rows", status="failed", retcode="10019") == 1
    assert sample(text, "mt5_order_rows", status="failed", retcode="none") == 1
    assert sample(text, "mt5_order_rows", status="expired", retcode="none") == 1
    assert 'mt5_order_rows{retcode="none",status="pending"}' not in text  # final rows only
    assert sample(text, "broadcast_queue_rows", status="failed") == 2
    assert sample(text, "broadcast_queue_rows", status="in_flight") == 1
    # this process executed none of them: its own counter has no series
    assert "mt5_orders_total{" not in text


def test_empty_ledger_has_no_order_rows_series(client):
    text = scrape(client)

    assert "# TYPE mt5_order_rows gauge" in text
    assert "mt5_order_rows{" not in text


def test_database_unreachable_drops_the_ledger_gauges_not_the_scrape(app, client, monkeypatch):
    from extensions import db

    def broken() -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(db.engine, "connect", broken)

    text = scrape(client)

    assert "broadcast_queue_rows" not in text and "mt5_order_rows" not in text
    assert sample(text, "mt5_terminal_connected", simulated="true") == 1
