"""A dispatch's page of targets is served again only while none of its rows changed.

``broadcast_queue.row_version`` moves with every update of a row, whatever statement makes it
(ORM flush, Core update, executemany); the status view keys its page (and the output schema its
dump) on the rows' (id, row_version). Each test changes a row in a way the status does not show
and checks the next read shows it.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from factories import login, statements_run
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
        app.config["TEST_ADMIN_ID"] = admin.id
        yield app, dispatch_id
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def versions(dispatch_id: int) -> list[int]:
    db.session.rollback()
    query = select(BroadcastQueue.row_version).where(BroadcastQueue.dispatch_id == dispatch_id)
    return list(db.session.scalars(query.order_by(BroadcastQueue.id)))


def admin_reader(app, dispatch_id: int) -> tuple[object, dict[str, str], str]:
    """A client logged in as the super admin, its headers, and the dispatch's status URL."""
    client = app.test_client()
    token = login(client, app.config["TEST_ADMIN"], "ledger test password")["access_token"]
    return (
        client,
        {"Authorization": f"Bearer {token}"},
        (f"/api/broadcast_status?broadcast_id={dispatch_id}"),
    )


def the_admin(app):
    from models import User

    return db.session.get(User, app.config["TEST_ADMIN_ID"])


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
    client, headers, url = admin_reader(app, dispatch_id)
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


# --- the head of a read: one statement for the dispatch, its visibility, counts and actions ---


def _action_of(parent_id: int, creator_id: int, **fields: object) -> int:
    from datetime import UTC, datetime, timedelta

    action = Dispatch(
        kind="action", parent_id=parent_id, creator_id=creator_id, request_hash="test",
        order_data={"action": "close"}, expires_at=datetime.now(UTC) + timedelta(minutes=1),
        **fields,
    )  # fmt: skip
    db.session.add(action)
    db.session.commit()
    return int(action.id)


def test_a_read_through_the_head_is_the_dispatch_view(dispatched) -> None:
    app, dispatch_id = dispatched
    admin = the_admin(app)
    empty_action = _action_of(dispatch_id, admin.id)  # no rows: no counts row at all

    for shown in (dispatch_id, empty_action):
        db.session.rollback()
        by_orm = status.dispatch_view(db.session, status.get_dispatch(
            db.session, user=admin, dispatch_id=shown))  # fmt: skip
        head = status.visible_head(db.session, user=admin, dispatch_id=shown)
        by_head = status.dispatch_view(db.session, head)
        assert by_head == by_orm
    assert by_head["counts"] == dict.fromkeys(by_head["counts"], 0) and by_head["total"] == 0
    assert by_head["action"] == {"action": "close"} and by_head["parent_id"] == dispatch_id
    opened = status.dispatch_view(db.session, status.visible_head(
        db.session, user=admin, dispatch_id=dispatch_id))  # fmt: skip
    assert [a["action_id"] for a in opened["actions"]] == [empty_action]
    assert opened["counts"]["pending"] == 3 and opened["total"] == 3


def test_the_head_hides_what_get_dispatch_hides(dispatched) -> None:
    from factories import make_user

    from errors import NotFound

    app, dispatch_id = dispatched
    admin = the_admin(app)
    stranger = make_user(app)
    other_admin = make_user(app, role="super_admin")
    action = _action_of(dispatch_id, admin.id)
    own_orders = db.session.get(Dispatch, dispatch_id)
    own_orders.kind = "orders"  # an admin's own send_orders: not a broadcast
    db.session.commit()

    for user, shown, broadcasts_only in (
        (stranger, dispatch_id, False),  # someone else's
        (other_admin, dispatch_id, False),  # another admin's orders are not a broadcast
        (other_admin, action, False),  # nor is an action following them up
        (admin, dispatch_id, True),  # the broadcast routes show broadcasts only
        (admin, 10**9, False),  # none
    ):
        with pytest.raises(NotFound):
            status.visible_head(
                db.session, user=user, dispatch_id=shown, broadcasts_only=broadcasts_only
            )
        if shown != 10**9:
            with pytest.raises(NotFound):
                status.get_dispatch(
                    db.session, user=user, dispatch_id=shown, broadcasts_only=broadcasts_only
                )
    own_orders.kind = "broadcast"
    db.session.commit()
    assert status.visible_head(db.session, user=other_admin, dispatch_id=action).id == action


def test_a_status_poll_is_three_statements(dispatched) -> None:
    app, dispatch_id = dispatched
    client, headers, url = admin_reader(app, dispatch_id)
    assert client.get(url, headers=headers).status_code == 200  # the rows are read once

    with statements_run(db.engine) as statements:
        client.get(url, headers=headers)

    # The caller and its token's revocation; the dispatch, its counts and actions; the page's
    # row versions. Nothing else while no row moved (BEGIN and ROLLBACK are not statements).
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3, selects


def test_the_encoded_answer_follows_its_content(dispatched) -> None:
    app, dispatch_id = dispatched
    client, headers, url = admin_reader(app, dispatch_id)
    first = client.get(url, headers=headers)
    assert first.get_data() == client.get(url, headers=headers).get_data()
    assert first.mimetype == "application/json" and first.get_json()["automation"] is None

    dispatch = db.session.get(Dispatch, dispatch_id)
    dispatch.automation = {"breakeven_after_tp": 1}  # not a row: only the dispatch moved
    db.session.commit()
    assert client.get(url, headers=headers).get_json()["automation"] == {"breakeven_after_tp": 1}

    admin = the_admin(app)
    _action_of(dispatch_id, admin.id)
    assert len(client.get(url, headers=headers).get_json()["actions"]) == 1
    assert client.get(url + "&per_page=1", headers=headers).get_json()["next_after"] is not None


def test_equal_values_that_encode_differently_have_different_keys() -> None:
    from schemas.compiled import _UNKEYED, _frozen

    assert _frozen({"v": Decimal("1.0")}) != _frozen({"v": Decimal("1.00")})
    assert _frozen({"v": True}) != _frozen({"v": 1})
    assert _frozen({"v": 1.0}) != _frozen({"v": 1})
    assert _frozen({"v": [1, {"w": None}]}) == _frozen({"v": [1, {"w": None}]})
    assert _frozen({"v": [1, object()]}) is _UNKEYED


def test_a_view_the_key_cannot_stand_for_is_encoded_every_time(dispatched, monkeypatch) -> None:
    from datetime import date

    from schemas import compiled
    from schemas.orders import DispatchOut
    from utils.lru import BoundedLRU

    app, dispatch_id = dispatched
    monkeypatch.setattr(compiled, "_ENCODED", BoundedLRU(256))  # not full of earlier tests'
    with app.test_request_context():
        shown = view(dispatch_id)
        shown["automation"] = {"since": date(2026, 1, 2)}  # no key type for a date: not cached
        before = len(compiled._ENCODED)
        answer = compiled.json_response(DispatchOut, shown)
        assert answer.get_json()["automation"] == {"since": "2026-01-02"}
        assert len(compiled._ENCODED) == before
        shown["automation"] = {"since": "2026-01-02"}
        assert compiled.json_response(DispatchOut, shown).get_data() == answer.get_data()
        assert len(compiled._ENCODED) == before + 1


def test_a_large_answer_is_not_kept(dispatched, monkeypatch) -> None:
    from schemas import compiled
    from schemas.orders import DispatchOut
    from utils.lru import BoundedLRU

    app, dispatch_id = dispatched
    monkeypatch.setattr(compiled, "_ENCODED", BoundedLRU(256))
    monkeypatch.setattr(compiled, "MAX_ENCODED_BYTES", 100)
    with app.test_request_context():
        before = len(compiled._ENCODED)
        answer = compiled.json_response(DispatchOut, view(dispatch_id))
        assert len(answer.get_data()) > 100 and len(answer.get_json()["targets"]) == 3
        assert len(compiled._ENCODED) == before
