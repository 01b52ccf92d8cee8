"""GET/PUT /api/me/notifications: language and channels; secrets sealed, never shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import assert_error, auth_headers, make_user
from sqlalchemy import select

from extensions import db
from models import MT5Account, NotificationChannel, OutboxEvent
from services.notifications.disconnects import alert_disconnected

TOKEN = "123456:" + "B" * 30
CHANNELS = {
    "telegram": {"chat_id": "-1001234", "bot_token": TOKEN, "events": ["target_failed"]},
    "webhook": {"url": "https://hooks.example.com/x", "secret": "k" * 24},
    "email": {"address": "me@example.com", "enabled": False},
}


@pytest.fixture
def headers(client, app):
    return auth_headers(client, make_user(app))


def put(client, headers, body):
    return client.put("/api/me/notifications", json=body, headers=headers)


def test_put_then_get_shows_channels_without_secrets(client, headers):
    response = put(client, headers, {"locale": "th", "channels": CHANNELS})
    shown = client.get("/api/me/notifications", headers=headers).get_json()

    assert response.status_code == 200
    assert shown == response.get_json()
    assert shown["locale"] == "th"
    assert shown["channels"]["telegram"] == {
        "enabled": True, "events": ["target_failed"], "chat_id": "-1001234", "has_secret": True,
    }  # fmt: skip
    assert shown["channels"]["email"] == {
        "enabled": False,
        "events": None,
        "address": "me@example.com",
    }
    assert TOKEN not in response.get_data(as_text=True) and "k" * 24 not in str(shown)


def test_secrets_are_sealed_at_rest(client, headers):
    put(client, headers, {"channels": CHANNELS})

    stored = db.session.scalars(select(NotificationChannel.secret_encrypted)).all()
    assert all(s and s.startswith("v1:") for s in stored if s)
    assert not any(TOKEN in (s or "") for s in stored)


def test_put_without_a_secret_keeps_the_stored_one(client, headers):
    put(client, headers, {"channels": CHANNELS})
    again = {**CHANNELS, "telegram": {"chat_id": "777"}}

    response = put(client, headers, {"channels": again})

    assert response.get_json()["channels"]["telegram"]["chat_id"] == "777"
    assert response.get_json()["channels"]["telegram"]["has_secret"] is True


def test_put_leaves_out_a_kind_removes_it(client, headers):
    put(client, headers, {"channels": CHANNELS})

    response = put(client, headers, {"channels": {"email": CHANNELS["email"]}})

    assert set(response.get_json()["channels"]) == {"email"}


def test_new_channel_without_its_secret_is_422_secret_required(client, headers):
    response = put(client, headers, {"channels": {"webhook": {"url": "https://a.example/x"}}})

    assert_error(response, 422, "secret_required")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"locale": "fr"}, "locale"),
        ({"channels": {"webhook": {"url": "http://hooks.example.com/x", "secret": "k" * 24}}},
         "channels"),
        ({"channels": {"telegram": {"chat_id": "12 34", "bot_token": TOKEN}}}, "channels"),
        ({"channels": {"telegram": {"chat_id": "1", "bot_token": "not-a-token"}}}, "channels"),
        ({"channels": {"email": {"address": "nobody"}}}, "channels"),
        ({"channels": {"email": {"address": "a@b.co", "events": ["coffee"]}}}, "channels"),
        ({"channels": {"sms": {"number": "1"}}}, "channels"),
    ],
)  # fmt: skip
def test_put_bad_body_is_422(client, headers, body, field):
    error = assert_error(put(client, headers, body), 422, "validation_error")

    assert field in error["details"]["json"]


def test_webhook_to_this_machine_may_be_plain_http(client, headers):
    body = {"channels": {"webhook": {"url": "http://127.0.0.1:9000/hook", "secret": "k" * 24}}}

    assert put(client, headers, body).status_code == 200


def test_disconnected_account_alerts_its_owner_once_per_outage(app):
    owner = make_user(app)
    seen = datetime.now(UTC) - timedelta(minutes=10)
    account = MT5Account(
        user_id=owner.id, account_name="Gold", login="7001", server="Sim-Demo",
        connection_status="failed", last_connected_at=seen,
    )  # fmt: skip
    recent = MT5Account(
        user_id=owner.id, account_name="New", login="7002", server="Sim-Demo",
        connection_status="failed", last_connected_at=datetime.now(UTC),
    )  # fmt: skip
    db.session.add_all([account, recent])
    db.session.commit()

    for _ in range(2):
        alert_disconnected(db.session, now=datetime.now(UTC), threshold_s=300)

    [alert] = db.session.scalars(select(OutboxEvent)).all()
    assert (alert.user_id, alert.event) == (owner.id, "account_disconnected")
    assert alert.payload["account_id"] == account.id and alert.payload["minutes"] == 10
