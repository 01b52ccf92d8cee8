"""The session keeper on the simulated broker: states, live fields, history, leases, alerts."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from factories import assert_error, auth_headers, make_account, make_accounts, make_user

from extensions import db
from models import AccountEquity, AccountSession, MT5Account
from services import session_keeper
from services.session_keeper import history, store
from services.session_keeper.keeper import YIELD_TO_ORDERS_S, KeeperSettings, SessionKeeper
from services.session_keeper.states import reconnect_delay

CLOSED_PORT = "rpyc://127.0.0.1:9"  # discard: nothing listens there


def keeper_of(app: Any, **settings: Any) -> SessionKeeper:
    values = {"heartbeat_s": 15.0, "threads": 4, "warm_symbols": ("XAUUSD",), "equity_days": 30}
    return SessionKeeper(app, KeeperSettings(**{**values, **settings}))


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "MT5_ALLOWED_TERMINALS": CLOSED_PORT}


@pytest.fixture
def user(app):
    return make_user(app)


@pytest.fixture
def headers(client, user):
    return auth_headers(client, user)


def live(client, headers, account_id: int) -> dict[str, Any]:
    response = client.get(f"/api/accounts/{account_id}", headers=headers)
    assert response.status_code == 200
    return dict(response.get_json())


def session_row(account_id: int) -> AccountSession | None:
    db.session.expire_all()
    return db.session.get(AccountSession, account_id)


class LoginCounter:
    """Counts initialize/login calls reaching the terminals, by the thread that made them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from services.mt5.slots import Slot

        self.calls: list[tuple[str, str]] = []
        original = Slot.call

        def counted(slot: Any, name: str, *args: Any, **kwargs: Any) -> Any:
            if name in ("initialize", "login"):
                self.calls.append((threading.current_thread().name, name))
            return original(slot, name, *args, **kwargs)

        monkeypatch.setattr(Slot, "call", counted)

    def by(self, prefix: str) -> list[str]:
        return [name for thread, name in self.calls if thread.startswith(prefix)]


# --- states and live fields ---------------------------------------------------------------------


def test_new_account_is_attached_and_shows_its_live_fields(app, client, headers):
    account = make_account(client, headers)
    assert live(client, headers, account["id"])["balance"] is None  # no heartbeat yet: null

    looks = keeper_of(app).run_once()

    assert [look.status for look in looks] == ["connected"]
    body = live(client, headers, account["id"])
    assert body["connection_status"] == "connected"
    assert (body["balance"], body["equity"], body["margin"]) == ("10000", "10000", "0")
    assert body["margin_free"] == "10000" and body["margin_level"] is None
    assert body["currency"] == "USD"
    assert Decimal(body["latency_ms"]) >= 0
    assert body["last_seen_at"] is not None and body["last_connected_at"] is not None
    listed = client.get("/api/accounts", headers=headers).get_json()["accounts"]
    assert listed[0]["connection_status"] == "connected" and listed[0]["equity"] == "10000"


def test_one_pass_writes_each_accounts_own_state_and_leaves_updated_at(app, client, headers):
    good = [make_account(client, headers, account_name=f"Good {i}")["id"] for i in range(3)]
    lost = make_account(client, headers, account_name="Lost", terminal=CLOSED_PORT)["id"]
    edited = {i: db.session.get(MT5Account, i).updated_at for i in [*good, lost]}
    keeper = keeper_of(app)

    looks = keeper.run_once()

    assert sorted((look.account_id, look.status) for look in looks) == sorted(
        [(i, "connected") for i in good] + [(lost, "unreachable")]
    )
    db.session.expire_all()
    rows = {i: db.session.get(MT5Account, i) for i in [*good, lost]}
    assert {i: r.connection_status for i, r in rows.items()} == {
        **dict.fromkeys(good, "connected"),
        lost: "unreachable",
    }
    assert rows[lost].last_error.startswith("mt5_unavailable")
    assert rows[lost].last_connected_at is None
    assert all(rows[i].last_error is None and rows[i].last_connected_at for i in good)
    assert {i: r.updated_at for i, r in rows.items()} == edited  # a heartbeat is not an edit
    # Connected again: the account keeps the moment it connected, not the latest heartbeat.
    since = rows[good[0]].last_connected_at
    db.session.execute(
        AccountSession.__table__.update().values(next_check_at=datetime(2000, 1, 1, tzinfo=UTC))
    )
    db.session.commit()
    assert {look.status for look in keeper.run_once() if look.account_id in good} == {"connected"}
    db.session.expire_all()
    assert db.session.get(MT5Account, good[0]).last_connected_at == since


def test_heartbeat_records_margin_and_margin_level_of_an_open_position(app, client, headers):
    account = make_account(client, headers)
    sent = client.post(
        "/api/send_orders",
        json={"account_ids": [account["id"]], "symbol": "XAUUSD", "side": "buy",
              "volume": "1.00", "wait_s": 10},
        headers=headers,
    )  # fmt: skip
    assert sent.status_code in (200, 201), sent.get_json()

    keeper_of(app).run_once()

    body = live(client, headers, account["id"])
    margin, equity = Decimal(body["margin"]), Decimal(body["equity"])
    assert margin > 0
    assert Decimal(body["margin_level"]) == (equity / margin * 100).quantize(Decimal("0.01"))


def test_next_heartbeat_waits_heartbeat_s_and_is_not_claimed_before(app, client, headers):
    account = make_account(client, headers)
    keeper = keeper_of(app, heartbeat_s=15.0)
    keeper.run_once()
    row = session_row(account["id"])
    assert row is not None and row.next_check_at is not None
    assert 14 <= (row.next_check_at - row.checked_at).total_seconds() <= 15  # type: ignore[operator]

    assert keeper.run_once() == []  # not due yet


def test_wrong_password_is_auth_failed_and_not_retried_until_it_changes(
    app, client, headers, monkeypatch
):
    first = make_account(client, headers)  # the simulator opens the login with this password
    keeper = keeper_of(app)
    keeper.run_once()
    fresh = client.post(
        "/api/login", json={"username": db.session.get(MT5Account, first["id"]).owner.username,
                            "password": "correct horse battery staple"},
    ).get_json()["access_token"]  # fmt: skip
    fresh_headers = {"Authorization": f"Bearer {fresh}"}
    patched = client.patch(
        f"/api/accounts/{first['id']}", json={"password": "not-the-password"}, headers=fresh_headers
    )
    assert patched.status_code == 200, patched.get_json()
    logins = LoginCounter(monkeypatch)

    looks = keeper.run_once()

    assert [look.status for look in looks] == ["auth_failed"]
    body = live(client, headers, first["id"])
    assert body["connection_status"] == "auth_failed"
    assert body["last_error"].startswith("mt5_auth_failed")
    row = session_row(first["id"])
    assert row is not None and row.next_check_at is None
    # Due or not, a wrong password is not tried again: no login reaches the terminal.
    db.session.execute(
        AccountSession.__table__.update().values(next_check_at=datetime(2000, 1, 1, tzinfo=UTC))
    )
    db.session.commit()
    calls = len(logins.calls)
    assert keeper.run_once() == []
    assert len(logins.calls) == calls

    client.patch(
        f"/api/accounts/{first['id']}", json={"password": "Mt5-S3cret!pass"}, headers=fresh_headers
    )
    assert [look.status for look in keeper.run_once()] == ["connected"]
    assert live(client, headers, first["id"])["connection_status"] == "connected"


def test_unreachable_node_backs_off_exponentially_with_jitter(app, client, headers):
    account = make_account(client, headers, terminal=CLOSED_PORT)
    keeper = keeper_of(app)
    waits = []
    for failures in (1, 2, 3):
        looks = keeper.run_once()
        assert [look.status for look in looks] == ["unreachable"]
        row = session_row(account["id"])
        assert row is not None and row.failures == failures
        waits.append((row.next_check_at - row.checked_at).total_seconds())  # type: ignore[operator]
        db.session.execute(
            AccountSession.__table__.update().values(next_check_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
        db.session.commit()
    for failures, wait in zip((1, 2, 3), waits, strict=True):
        ceiling = 2 ** (failures - 1)
        assert ceiling / 2 <= wait <= ceiling + 0.01
    body = live(client, headers, account["id"])
    assert body["connection_status"] == "unreachable" and body["last_seen_at"] is None
    assert body["last_error"].startswith("mt5_unavailable")


@pytest.mark.parametrize("failures", [1, 2, 5, 8, 30])
def test_reconnect_delay_stays_in_the_upper_half_of_its_ceiling(failures):
    import random

    ceiling = min(120.0, 2.0 ** (failures - 1))
    for seed in range(50):
        assert ceiling / 2 <= reconnect_delay(failures, rng=random.Random(seed)) <= ceiling


def test_manual_connect_brings_the_next_look_forward(app, client, headers):
    account = make_account(client, headers)
    keeper = keeper_of(app)
    keeper.run_once()
    assert keeper.run_once() == []

    assert client.post(f"/api/accounts/{account['id']}/connect", headers=headers).status_code == 200

    assert [look.status for look in keeper.run_once()] == ["connected"]


def test_inactive_and_deleted_accounts_are_not_looked_at(app, client, headers):
    kept = make_account(client, headers)
    off = make_account(client, headers, account_name="Off")
    gone = make_account(client, headers, account_name="Gone")
    client.patch(f"/api/accounts/{off['id']}", json={"is_active": False}, headers=headers)
    assert client.delete(f"/api/accounts/{gone['id']}", headers=headers).status_code == 204

    looks = keeper_of(app).run_once()

    assert [look.account_id for look in looks] == [kept["id"]]


def test_look_of_old_credentials_is_dropped_when_they_change_meanwhile(app, client, headers):
    account = make_account(client, headers)
    keeper = keeper_of(app)
    claimed = store.claim_due(
        db.session, owner=keeper.owner, now=datetime.now(UTC), lease_s=60, limit=10
    )
    look = keeper.look(claimed[0])
    row = db.session.get(MT5Account, account["id"])
    row.server = "Other-Server"
    db.session.commit()

    assert store.record_looks(db.session, [(claimed[0], look)], owner=keeper.owner,
                              heartbeat_s=15, lease_s=60) == 0  # fmt: skip

    assert session_row(account["id"]) is None  # looked at afresh on the next pass
    db.session.expire_all()
    assert db.session.get(MT5Account, account["id"]).connection_status == "never"


def test_a_batch_with_one_changed_account_records_the_others_and_drops_that_one(
    app, client, headers
):
    """Looks are recorded a batch at a time; one look no longer ours must not sink the batch,
    nor be recorded with it."""
    accounts = [make_account(client, headers, account_name=f"B{n}") for n in range(3)]
    keeper = keeper_of(app)
    claimed = store.claim_due(
        db.session, owner=keeper.owner, now=datetime.now(UTC), lease_s=60, limit=10
    )
    looks = [(c, keeper.look(c)) for c in claimed]
    changed = db.session.get(MT5Account, accounts[1]["id"])
    changed.login = "99999999"
    db.session.commit()

    assert store.record_looks(db.session, looks, owner=keeper.owner, heartbeat_s=15,
                              lease_s=60) == 2  # fmt: skip

    kept = [accounts[0]["id"], accounts[2]["id"]]
    assert [session_row(i).connection_status for i in kept] == ["connected", "connected"]
    assert all(session_row(i).equity is not None for i in kept)
    assert session_row(accounts[1]["id"]) is None  # looked at afresh on the next pass
    points = db.session.query(AccountEquity.account_id).order_by(AccountEquity.account_id).all()
    assert [p.account_id for p in points] == kept


# --- leases: one keeper per account --------------------------------------------------------------


def test_two_keepers_share_the_accounts_out_and_never_both_hold_one(app, client, headers):
    make_accounts(client, headers, 6)
    now = datetime.now(UTC)

    mine = store.claim_due(db.session, owner="host-a:1:x", now=now, lease_s=60, limit=3)
    theirs = store.claim_due(db.session, owner="host-b:1:y", now=now, lease_s=60, limit=10)

    assert len(mine) == 3 and len(theirs) == 3
    assert not {c.account_id for c in mine} & {c.account_id for c in theirs}
    # Due again later, but still leased: the other keeper keeps its hands off until it expires.
    later = now + timedelta(seconds=30)
    db.session.execute(AccountSession.__table__.update().values(next_check_at=now))
    db.session.commit()
    assert store.claim_due(db.session, owner="host-b:1:y", now=later, lease_s=60, limit=10) != []
    assert all(
        c.account_id not in {m.account_id for m in mine}
        for c in store.claim_due(db.session, owner="host-b:1:y", now=later, lease_s=60, limit=10)
    )
    expired = now + timedelta(seconds=61)
    taken = store.claim_due(db.session, owner="host-b:1:y", now=expired, lease_s=60, limit=10)
    assert {c.account_id for c in mine} <= {c.account_id for c in taken}


def test_lease_of_a_dead_process_on_this_host_is_taken_at_once(app, client, headers):
    import subprocess

    from ledger import leases

    make_account(client, headers)
    dead = subprocess.Popen(["true"])
    dead.wait()
    now = datetime.now(UTC)
    store.claim_due(db.session, owner=f"{leases.HOST}:{dead.pid}:old", now=now, lease_s=600,
                    limit=10)  # fmt: skip
    db.session.execute(AccountSession.__table__.update().values(next_check_at=now))
    db.session.commit()

    assert len(store.claim_due(db.session, owner="new", now=now, lease_s=60, limit=10)) == 1


# --- the equity history ---------------------------------------------------------------------------


def add_points(account_id: int, start: datetime, minutes: int, every: int = 1) -> None:
    for n in range(0, minutes, every):
        at = start + timedelta(minutes=n)
        db.session.add(AccountEquity(
            account_id=account_id, minute=history.minute_of(at), recorded_at=at,
            balance=Decimal("10000.00"), equity=Decimal("10000.00") + n, margin=Decimal("12.5"),
            margin_free=Decimal("9987.5") + n,
        ))  # fmt: skip
    db.session.commit()


def test_equity_route_returns_the_recorded_points_as_decimal_strings(app, client, headers):
    account = make_account(client, headers)
    keeper_of(app).run_once()

    body = client.get(f"/api/accounts/{account['id']}/equity", headers=headers).get_json()

    assert body["account_id"] == account["id"] and body["step_s"] == 60 * 21  # 7 days / 500
    [point] = body["points"]
    assert point["balance"] == "10000" and point["equity"] == "10000"
    assert set(point) == {"time", "balance", "equity", "margin", "margin_free"}


def test_equity_route_downsamples_a_long_window_to_at_most_500_points(app, client, headers):
    account = make_account(client, headers)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    add_points(account["id"], start, 3 * 24 * 60)  # three days, a point a minute

    body = client.get(
        f"/api/accounts/{account['id']}/equity",
        query_string={"from": start.isoformat(), "to": (start + timedelta(days=3)).isoformat()},
        headers=headers,
    ).get_json()

    points = body["points"]
    assert 400 < len(points) <= 500
    assert body["step_s"] == 9 * 60  # ceil(4321 minutes / 500)
    times = [p["time"] for p in points]
    assert times == sorted(times)
    # Each bucket's newest point: the first bucket (minutes 0-8) shows minute 8's equity.
    assert points[0]["equity"] == "10008"


def test_equity_route_window_is_inclusive_and_narrow_windows_are_per_minute(app, client, headers):
    account = make_account(client, headers)
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    add_points(account["id"], start, 30)

    body = client.get(
        f"/api/accounts/{account['id']}/equity",
        query_string={"from": (start + timedelta(minutes=10)).isoformat(),
                      "to": (start + timedelta(minutes=19)).isoformat()},
        headers=headers,
    ).get_json()  # fmt: skip

    assert [p["equity"] for p in body["points"]] == [str(10010 + n) for n in range(10)]
    assert body["step_s"] == 60


def test_equity_route_refuses_a_window_that_ends_before_it_starts(client, headers):
    account = make_account(client, headers)

    response = client.get(
        f"/api/accounts/{account['id']}/equity",
        query_string={"from": "2026-06-02T00:00:00Z", "to": "2026-06-01T00:00:00Z"},
        headers=headers,
    )

    assert_error(response, 422, "validation_error")


def test_equity_route_refuses_a_time_that_is_not_iso(client, headers):
    account = make_account(client, headers)

    response = client.get(
        f"/api/accounts/{account['id']}/equity", query_string={"from": "yesterday"},
        headers=headers,
    )  # fmt: skip

    assert_error(response, 422, "validation_error")


def test_equity_route_of_another_users_account_is_404(app, client, headers):
    account = make_account(client, headers)
    other = auth_headers(client, make_user(app))

    response = client.get(f"/api/accounts/{account['id']}/equity", headers=other)

    assert_error(response, 404, "account_not_found")


def test_history_keeps_one_point_a_minute_the_newest(app, client, headers):
    account = make_account(client, headers)
    keeper = keeper_of(app)
    keeper.run_once()
    db.session.execute(AccountSession.__table__.update().values(next_check_at=datetime.now(UTC)))
    db.session.commit()

    keeper.run_once()

    rows = db.session.query(AccountEquity).filter_by(account_id=account["id"]).all()
    assert len(rows) in (1, 2)  # two looks: one point, or two if a minute turned between them
    assert len({r.minute for r in rows}) == len(rows)


def test_history_is_thinned_after_a_day_and_pruned_after_equity_days(app, client, headers):
    account = make_account(client, headers)
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    add_points(account["id"], now - timedelta(days=40), 60)  # beyond 30 days: pruned
    add_points(account["id"], now - timedelta(days=2), 60)  # a day old: one per 15 minutes
    add_points(account["id"], now - timedelta(hours=1), 60)  # recent: all kept

    history.thin_and_prune(db.session, now=now, keep_days=30)

    minutes = [r.minute for r in db.session.query(AccountEquity).order_by(AccountEquity.minute)]
    recent = history.minute_of(now - timedelta(hours=1))
    assert len([m for m in minutes if m >= recent]) == 60
    thinned = [m for m in minutes if m < recent]
    assert 4 <= len(thinned) <= 5  # one per quarter hour of that hour (its buckets' newest)
    assert len({m // 15 for m in thinned}) == len(thinned)
    assert min(minutes) >= history.minute_of(now - timedelta(days=30))


# --- alerts and metrics -----------------------------------------------------------------------


def test_disconnect_alert_fires_from_the_keepers_last_seen_and_state(app, client, headers):
    from models import OutboxEvent
    from services.notifications import disconnects

    account = make_account(client, headers)
    keeper = keeper_of(app)
    keeper.run_once()
    seen = session_row(account["id"]).last_seen_at  # type: ignore[union-attr]
    row = db.session.get(MT5Account, account["id"])
    row.terminal = CLOSED_PORT  # the node goes away: same credentials, unreachable
    db.session.execute(AccountSession.__table__.update().values(next_check_at=datetime.now(UTC)))
    db.session.commit()
    keeper.run_once()
    db.session.expire_all()
    assert db.session.get(MT5Account, account["id"]).connection_status == "unreachable"
    assert session_row(account["id"]).last_seen_at == seen  # type: ignore[union-attr]

    assert disconnects.alert_disconnected(db.session, now=seen + timedelta(seconds=200),
                                          threshold_s=300) == 0  # fmt: skip
    assert disconnects.alert_disconnected(db.session, now=seen + timedelta(seconds=301),
                                          threshold_s=300) == 1  # fmt: skip
    [event] = db.session.query(OutboxEvent).filter_by(event="account_disconnected").all()
    assert event.payload["status"] == "unreachable"


def test_metrics_count_sessions_by_state_and_heartbeat_latency(app, client, headers):
    make_account(client, headers)
    make_account(client, headers, account_name="Away", terminal=CLOSED_PORT)
    before = client.get("/metrics").get_data(as_text=True)
    assert 'mt5_sessions{state="never"} 2.0' in before

    keeper_of(app).run_once()

    text = client.get("/metrics").get_data(as_text=True)
    assert 'mt5_sessions{state="connected"} 1.0' in text
    assert 'mt5_sessions{state="unreachable"} 1.0' in text
    assert 'mt5_heartbeat_latency_seconds{quantile="1"}' in text


# --- the thread, and warm sessions after a restart ---------------------------------------------


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def connected_count() -> int:
    db.session.expire_all()
    return db.session.query(AccountSession).filter_by(connection_status="connected").count()


def test_keeper_thread_attaches_every_account_in_the_background(make_app):
    app = make_app(SESSION_KEEPER_ENABLED=True, SESSION_KEEPER_THREADS=2)
    with app.app_context():
        client = app.test_client()
        headers = auth_headers(client, make_user(app))
        make_accounts(client, headers, 5)
        keeper = session_keeper.start_keeper(app)
        try:
            wait_for(lambda: connected_count() == 5)
        finally:
            keeper.stop()
        assert not keeper.running
        assert (
            db.session.query(AccountSession).filter(AccountSession.lease_owner.is_not(None)).count()
            == 0
        )  # given back on stop


def test_broadcast_right_after_a_restart_finds_its_sessions_warm(make_app, monkeypatch):
    first = make_app()
    with first.app_context():
        client = first.test_client()
        user = make_user(first)
        headers = auth_headers(client, user)
        ids = [account["id"] for account in make_accounts(client, headers, 4)]
        db.session.remove()
    # The restart: a new app (its own gateway, no session open) on the same database and broker.
    config = {k: first.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "MT5_SIM_DB", "LOG_DIR")}
    second = make_app(**config, SESSION_KEEPER_ENABLED=True)
    logins = LoginCounter(monkeypatch)
    with second.app_context():
        keeper = session_keeper.start_keeper(second)
        try:
            wait_for(lambda: connected_count() == 4)
            client = second.test_client()
            headers = auth_headers(client, user)
            sent = client.post(
                "/api/send_orders",
                json={"account_ids": ids, "symbol": "XAUUSD", "side": "buy", "volume": "0.10",
                      "wait_s": 10},
                headers=headers,
            )  # fmt: skip
            assert sent.status_code in (200, 201), sent.get_json()
            assert {t["status"] for t in sent.get_json()["targets"]} == {"executed"}
        finally:
            keeper.stop()
            second.extensions["executor_stop"]()
    assert len(logins.by("keeper-look")) == 8  # initialize + login, once per account
    assert logins.by("ledger-exec") == []  # the broadcast's own path logged nothing in


def test_a_starting_keeper_looks_at_once_at_accounts_no_live_keeper_holds(app, client, headers):
    make_account(client, headers)
    make_account(client, headers, account_name="Second")
    first = keeper_of(app)
    first.run_once()
    store.release(db.session, owner=first.owner)  # it stopped
    second = keeper_of(app)
    assert second.run_once() == []  # their next heartbeat is 15 s away

    assert store.adopt_orphans(db.session, owner=second.owner, now=datetime.now(UTC)) == 2

    assert [look.status for look in second.run_once()] == ["connected", "connected"]


def test_a_starting_keeper_leaves_a_live_keepers_accounts_alone(app, client, headers):
    make_account(client, headers)
    first = keeper_of(app)
    first.run_once()  # holds the lease, alive (this very process)

    assert store.adopt_orphans(db.session, owner="elsewhere:1:x", now=datetime.now(UTC)) == 0


def test_heartbeats_wait_while_orders_are_at_the_terminals_but_not_forever(app, client, headers):
    from concurrent.futures import ThreadPoolExecutor

    from services.session_keeper.keeper import YIELD_TO_ORDERS_S

    make_account(client, headers)
    keeper = keeper_of(app)
    keeper.run_once()
    db.session.execute(AccountSession.__table__.update().values(next_check_at=datetime.now(UTC)))
    db.session.commit()  # its next heartbeat is due
    sending = [True]
    keeper._orders_sending = lambda: sending[0]
    keeper._backlog = False
    with ThreadPoolExecutor(2) as pool:
        keeper._claim_if_due(pool)
        assert keeper._busy == set()  # a fan-out is sending: the heartbeat waits

        keeper._yielding_since = time.monotonic() - YIELD_TO_ORDERS_S  # still sending, 5 s on
        keeper._next_claim = 0.0
        keeper._claim_if_due(pool)
        assert len(keeper._busy) == 1  # waited long enough: the pass goes ahead

        keeper._busy.clear()
        sending[0] = False
        assert keeper._yield_to_orders(time.monotonic()) is False
        assert keeper._yielding_since is None


def test_a_look_claimed_before_a_fan_out_waits_for_its_orders(app, client, headers):
    """A heartbeat already claimed when orders went out holds back until they are done (at
    most YIELD_TO_ORDERS_S): it would hold the terminal an order of that account needs."""
    make_account(client, headers)
    keeper = keeper_of(app)
    keeper.run_once()
    claimed = store.claim_due(
        db.session, owner=keeper.owner, now=datetime.now(UTC) + timedelta(minutes=1),
        lease_s=60, limit=10,
    )  # fmt: skip
    assert len(claimed) == 1
    done = threading.Event()
    waits: list[float] = []

    def orders_done(timeout: float) -> bool:
        waits.append(timeout)
        return done.wait(timeout)

    keeper._orders_done = orders_done
    looking = threading.Thread(target=keeper._look_and_report, args=(claimed[0],))
    looking.start()
    time.sleep(0.3)
    assert keeper._done.empty() and waits == [YIELD_TO_ORDERS_S]  # still waiting
    done.set()
    looking.join(10)
    _account, look = keeper._done.get_nowait()
    assert look.status == "connected"


def test_the_embedded_executor_says_when_no_order_is_at_a_terminal(app) -> None:
    executor = app.extensions["executor"]
    assert executor.wait_idle(0) is True
    executor._count_in_flight(2)
    assert executor.sending and executor.wait_idle(0.05) is False
    executor._count_in_flight(-2)
    assert not executor.sending and executor.wait_idle(0) is True
