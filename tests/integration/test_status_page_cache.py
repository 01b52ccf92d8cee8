"""A dispatch's page of targets is served again only while none of its rows changed.

``broadcast_queue.row_version`` moves with every update of a row, whatever statement makes it
(ORM flush, Core update, executemany); the status view keys its page (and the output schema its
dump) on the rows' (id, row_version). Each test changes a row in a way the status does not show
and checks the next read shows it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from factories import login
from ledger_helpers import ledger_app, new_dispatch, seed_accounts
from sqlalchemy import select, update

from extensions import db
from ledger import status, store
from ledger.types import RowOutcome
from models import BroadcastQueue, Dispatch


@pytest.fixture
def dispatched(tmp_path, migrated_sqlite):
    app = ledger_app(tmp_path, migrated_sqlite)
    with app.app_context():
        admin, accounts = seed_accounts(app, 3)
        dispatch_id = new_dispatch(app, admin, accounts)
        app.config["TEST_ADMIN"] = admin.username
        yield app, dispatch_id
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def versions(dispatch_id: int) -> list[int]:
    db.session.rollback()
    query = select(BroadcastQueue.row_version).where(BroadcastQueue.dispatch_id == dispatch_id)
    return list(db.session.scalars(query.order_by(BroadcastQueue.id)))


def view(dispatch_id: int, **page: int) -> dict:
    db.session.rollback()
    return status.dispatch_view(db.session, db.session.get(Dispatch, dispatch_id), **page)


def test_every_kind_of_write_moves_the_row_version(dispatched) -> None:
    _app, dispatch_id = dispatched
    assert versions(dispatch_id) == [0, 0, 0]

    claimed = store.claim_rows(db.session, owner="me", dispatch_id=dispatch_id)  # Core UPDATE
    assert versions(dispatch_id) == [1, 1, 1]

    outcomes = [RowOutcome(row_id=r, status="executed", order_ticket=7) for r in claimed]
    store.record_outcomes(db.session, outcomes, owner="me")  # one executemany
    assert versions(dispatch_id) == [2, 2, 2]

    row = db.session.get(BroadcastQueue, claimed[0])
    row.closed_volume = Decimal("0.01")  # an ORM flush
    db.session.commit()
    assert versions(dispatch_id) == [3, 2, 2]


def test_a_change_the_status_does_not_show_is_read_again(dispatched) -> None:
    _app, dispatch_id = dispatched
    first = view(dispatch_id)
    again = view(dispatch_id)
    assert again["targets"] is first["targets"]  # nothing moved: the page as it was read

    row_id = first["targets"][1]["row_id"]
    db.session.execute(
        update(BroadcastQueue)
        .where(BroadcastQueue.id == row_id)
        .values(closed_volume=Decimal("0.05"), remaining_volume=Decimal("0"))
    )
    db.session.commit()
    after = view(dispatch_id)

    assert after["targets"] is not first["targets"]
    changed = [t for t in after["targets"] if t["row_id"] == row_id]
    assert [(t["closed_volume"], t["remaining_volume"]) for t in changed] == [
        (Decimal("0.05"), Decimal("0"))
    ]
    assert all(t["status"] == "pending" for t in after["targets"])


def test_the_http_answer_follows_the_rows_not_an_older_dump(dispatched) -> None:
    app, dispatch_id = dispatched
    client = app.test_client()
    token = login(client, app.config["TEST_ADMIN"], "ledger test password")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/broadcast_status?broadcast_id={dispatch_id}"
    before = client.get(url, headers=headers).get_json()
    assert [t["closed_volume"] for t in before["targets"]] == [None, None, None]

    db.session.execute(update(BroadcastQueue).values(closed_volume=Decimal("0.02")))
    db.session.commit()
    after = client.get(url, headers=headers).get_json()

    assert [t["closed_volume"] for t in after["targets"]] == ["0.02"] * 3


def test_pages_of_one_dispatch_and_a_keyset_page_are_kept_apart(dispatched) -> None:
    _app, dispatch_id = dispatched
    first = view(dispatch_id, per_page=2)
    second = view(dispatch_id, page=2, per_page=2)
    keyed = view(dispatch_id, per_page=2, after=first["next_after"])

    assert [t["row_id"] for t in first["targets"]] != [t["row_id"] for t in second["targets"]]
    assert [t["row_id"] for t in keyed["targets"]] == [t["row_id"] for t in second["targets"]]
    assert first["next_after"] == first["targets"][-1]["row_id"] and second["next_after"] is None


def test_a_page_with_one_row_changed_reads_that_row_alone_again(dispatched) -> None:
    _app, dispatch_id = dispatched
    before = view(dispatch_id)["targets"]
    moved = before[0]["row_id"]

    db.session.execute(
        update(BroadcastQueue).where(BroadcastQueue.id == moved).values(retcode=10009)
    )
    db.session.commit()
    after = view(dispatch_id)["targets"]

    assert after[0] is not before[0] and after[0]["retcode"] == 10009
    assert after[1] is before[1] and after[2] is before[2]  # unchanged rows: not read again
