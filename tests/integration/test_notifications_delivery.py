"""Notifications delivered to local fake servers: Telegram's Bot API, a signed webhook, SMTP;
retries and giving up on a channel that is down, at least once after a crash, exactly one
delivery per event and channel with two deliverers on PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from email.header import decode_header, make_header
from typing import Any

import pytest
from factories import TEST_CONFIG, auth_headers, make_config, make_user, statements_run
from fake_servers import free_port, http_receiver, smtp_server
from sqlalchemy import select

from extensions import db, secret_box
from models import NotificationDelivery
from models.columns import utcnow
from services.notifications import deliverer, delivery
from services.notifications.settings import NotifySettings
from services.outbox import enqueue

TOKEN = "123456:" + "T" * 30
SIGNING_KEY = "webhook-signing-key-0123456789"
FINISHED = {
    "dispatch_id": 7, "kind": "broadcast", "symbol": "XAUUSD", "side": "buy",
    "status": "partial", "counts": {"executed": 998, "failed": 2}, "total": 1000,
}  # fmt: skip


@pytest.fixture
def servers():
    with http_receiver() as telegram, http_receiver() as webhook, smtp_server() as smtp:
        yield {"telegram": telegram, "webhook": webhook, "smtp": smtp}


@pytest.fixture
def app(make_app, servers):
    application = make_app(
        TELEGRAM_API_BASE=servers["telegram"].url, SMTP_HOST="127.0.0.1",
        SMTP_PORT=servers["smtp"][0], SMTP_FROM="alerts@example.com", SMTP_STARTTLS=False,
    )  # fmt: skip
    with application.app_context():
        yield application


def settings(app: Any, **changes: Any) -> NotifySettings:
    return replace(NotifySettings.from_config(app.config), **{"backoff_s": 0, **changes})


def subscribe(app: Any, *, webhook_url: str, locale: str = "th", **channels: Any) -> Any:
    user = make_user(app)
    client = app.test_client()
    body = {
        "locale": locale,
        "channels": {
            "telegram": {"chat_id": "4242", "bot_token": TOKEN},
            "webhook": {"url": webhook_url, "secret": SIGNING_KEY},
            "email": {"address": "trader@example.com"},
            **channels,
        },
    }
    response = client.put("/api/me/notifications", json=body, headers=auth_headers(client, user))
    assert response.status_code == 200, response.get_json()
    return user


def run(app: Any, passes: int = 1, owner: str = "test", **changes: Any) -> list[Any]:
    with ThreadPoolExecutor(4) as pool:
        reports = [
            deliverer.run_once(
                db.session,
                box=secret_box(),
                settings=settings(app, **changes),
                owner=owner,
                pool=pool,
            )
            for _ in range(passes)
        ]
    return reports


def deliveries() -> dict[str, NotificationDelivery]:
    from models import NotificationChannel

    db.session.rollback()
    rows = db.session.execute(
        select(NotificationChannel.kind, NotificationDelivery).join(
            NotificationChannel, NotificationChannel.id == NotificationDelivery.channel_id
        )
    ).all()
    return {kind: found for kind, found in rows}


def test_an_event_reaches_every_channel_once_in_the_users_language(app, servers):
    user = subscribe(app, webhook_url=servers["webhook"].url + "/hook")
    enqueue(db.session, user.id, "dispatch_finished", FINISHED, dedupe_key="dispatch_finished:7")
    db.session.commit()

    run(app, passes=2)

    [telegram] = servers["telegram"].requests
    assert telegram.path == f"/bot{TOKEN}/sendMessage"
    assert telegram.json["chat_id"] == "4242"
    assert telegram.json["text"].startswith("สัญญาณ #7 ซื้อ XAUUSD เสร็จสิ้น (สำเร็จบางส่วน)")
    [hook] = servers["webhook"].requests
    stamp = hook.headers["X-Signature-Timestamp"]
    expected = hmac.new(SIGNING_KEY.encode(), stamp.encode() + b"." + hook.body, hashlib.sha256)
    assert hook.headers["X-Signature"] == "sha256=" + expected.hexdigest()
    assert hook.json["event"] == "dispatch_finished" and hook.json["payload"]["total"] == 1000
    [mail] = servers["smtp"][1]
    assert mail["To"] == "trader@example.com"
    assert str(make_header(decode_header(mail["Subject"]))) == "สัญญาณ #7 เสร็จสิ้น"
    assert {k: d.status for k, d in deliveries().items()} == dict.fromkeys(
        ("telegram", "webhook", "email"), "sent"
    )


def test_english_message_for_an_english_user(app, servers):
    user = subscribe(app, webhook_url=servers["webhook"].url, locale="en")
    enqueue(db.session, user.id, "dispatch_finished", FINISHED)
    db.session.commit()

    run(app)

    assert servers["telegram"].requests[0].json["text"] == (
        "Broadcast #7 buy XAUUSD finished (partial): 998 executed, 2 failed, 0 skipped of 1000."
    )


def test_a_channel_that_is_down_is_retried_then_given_up_without_holding_the_others(app, servers):
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    user = subscribe(app, webhook_url=down)
    enqueue(db.session, user.id, "target_failed", {"dispatch_id": 7, "account": "Gold"})
    db.session.commit()

    reports = run(app, passes=4, max_attempts=3)

    found = deliveries()
    assert (found["webhook"].status, found["webhook"].attempts) == ("failed", 3)
    assert found["webhook"].last_error.startswith("unreachable: ConnectionRefusedError")
    assert (found["telegram"].status, found["telegram"].attempts) == ("sent", 1)
    assert len(servers["telegram"].requests) == 1 and len(servers["smtp"][1]) == 1
    assert [r.failed for r in reports] == [1, 1, 1, 0]


def test_a_refusing_bot_api_records_its_description(app, servers):
    servers["telegram"].status = 401
    user = subscribe(app, webhook_url=servers["webhook"].url)
    enqueue(db.session, user.id, "target_failed", {"dispatch_id": 7})
    db.session.commit()

    run(app, max_attempts=1)

    telegram = deliveries()["telegram"]
    assert telegram.status == "failed" and telegram.last_error == "http_401: Unauthorized"
    assert TOKEN not in telegram.last_error


def test_backoff_waits_before_the_next_attempt(app, servers):
    servers["webhook"].status = 503
    user = subscribe(app, webhook_url=servers["webhook"].url)
    enqueue(db.session, user.id, "target_failed", {"dispatch_id": 7})
    db.session.commit()

    run(app, passes=2, backoff_s=60)

    webhook = deliveries()["webhook"]
    assert (webhook.status, webhook.attempts) == ("pending", 1)
    assert webhook.next_attempt_at > utcnow() + timedelta(seconds=55)
    assert len(servers["webhook"].requests) == 1


def test_events_a_channel_does_not_take_are_not_delivered_there(app, servers):
    user = subscribe(
        app, webhook_url=servers["webhook"].url,
        email={"address": "t@example.com", "events": ["account_disconnected"]},
    )  # fmt: skip
    enqueue(db.session, user.id, "dispatch_finished", FINISHED)
    db.session.commit()

    run(app)

    assert set(deliveries()) == {"telegram", "webhook"}
    assert servers["smtp"][1] == []


def test_a_send_whose_sender_died_is_sent_again_after_its_lease(app, servers):
    user = subscribe(app, webhook_url=servers["webhook"].url)
    enqueue(db.session, user.id, "target_failed", {"dispatch_id": 7})
    db.session.commit()
    delivery.fan_out(db.session, now=utcnow())
    taken = delivery.claim(db.session, owner="dead", now=utcnow(), lease_s=30, limit=10)

    run(app)  # within the lease: nothing is due
    assert servers["telegram"].requests == []
    later = utcnow() + timedelta(seconds=31)
    delivery.recover_expired(db.session, now=later)
    run(app)

    assert len(taken) == 3 and len(servers["telegram"].requests) == 1
    assert deliveries()["telegram"].attempts == 2  # at least once: the dead one counted


def test_two_deliverers_on_postgresql_send_each_delivery_once(tmp_path, pg_url, servers):
    from app import create_app, init_database

    config = {
        **make_config(tmp_path), **TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": pg_url,
        "EXECUTOR_AUTOSTART": False, "TELEGRAM_API_BASE": servers["telegram"].url,
    }  # fmt: skip
    init_database(config)
    app = create_app(config)
    with app.app_context():
        users = [subscribe(app, webhook_url=servers["webhook"].url, email={"address": "a@b.co",
                 "enabled": False}) for _ in range(3)]  # fmt: skip
        for n in range(60):
            enqueue(db.session, users[n % 3].id, "target_failed", {"dispatch_id": n})
        db.session.commit()
        db.session.remove()

        def deliver(owner: str) -> None:
            with app.app_context():
                run(app, passes=5, owner=owner)
                db.session.remove()

        threads = [threading.Thread(target=deliver, args=(f"d{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ids = [r.headers["X-Event-Id"] for r in servers["webhook"].requests]
        assert len(ids) == 60 and len(set(ids)) == 60
        assert len(servers["telegram"].requests) == 60
        owners = {d.lease_owner for d in db.session.scalars(select(NotificationDelivery))}
        assert owners == {None}
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def test_an_idle_pass_writes_nothing(app) -> None:
    """Every NOTIFY_POLL_S beside the ledger: with nothing stale and nothing due, the pass only
    reads (an UPDATE takes SQLite's write lock even when it matches no row)."""
    with statements_run(db.engine) as statements:
        assert delivery.recover_expired(db.session, now=utcnow()) == 0
        assert delivery.claim(db.session, owner="me", now=utcnow(), lease_s=30, limit=10) == []
    verbs = {statement.lstrip().split()[0].upper() for statement in statements}
    assert statements and verbs == {"SELECT"}
