"""A user's notification settings: their language and channels, secrets sealed at rest."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from errors import AppError
from extensions import DbSession
from models import NotificationChannel, User
from models.columns import utcnow
from services.notifications.deliverer import secret_aad
from services.outbox import EVENTS
from utils.security import SecretBox

# The field that holds each kind's address and its secret, as the API names them.
ADDRESS = {"telegram": "chat_id", "webhook": "url", "email": "address"}
SECRET = {"telegram": "bot_token", "webhook": "secret"}


def _channel_view(channel: NotificationChannel) -> dict[str, Any]:
    view: dict[str, Any] = {"enabled": channel.enabled, "events": channel.events,
                            ADDRESS[channel.kind]: channel.address}  # fmt: skip
    if channel.kind in SECRET:
        view["has_secret"] = channel.secret_encrypted is not None
    return view


def notification_settings(session: DbSession, *, user: User) -> dict[str, Any]:
    channels = session.scalars(
        select(NotificationChannel).where(NotificationChannel.user_id == user.id)
    )
    return {
        "locale": user.locale,
        "events": list(EVENTS),
        "channels": {c.kind: _channel_view(c) for c in channels},
    }


def update_notification_settings(
    *, session: DbSession, box: SecretBox, user: User, changes: dict[str, Any]
) -> dict[str, Any]:
    """Set the language and/or replace the channels; a secret left out keeps the stored one."""
    if "locale" in changes:
        user.locale = changes["locale"]
    if "channels" in changes:
        _replace_channels(session, box, user, changes["channels"])
    session.commit()
    return notification_settings(session, user=user)


def _replace_channels(
    session: DbSession, box: SecretBox, user: User, wanted: dict[str, dict[str, Any]]
) -> None:
    existing = {
        c.kind: c
        for c in session.scalars(
            select(NotificationChannel).where(NotificationChannel.user_id == user.id)
        )
    }
    session.execute(
        delete(NotificationChannel).where(
            NotificationChannel.user_id == user.id,
            NotificationChannel.kind.not_in(list(wanted)),
        )
    )
    for kind, fields in wanted.items():
        channel = existing.get(kind) or NotificationChannel(user_id=user.id, kind=kind)
        channel.enabled, channel.events = fields["enabled"], fields["events"]
        channel.address, channel.updated_at = fields[ADDRESS[kind]], utcnow()
        session.add(channel)
        session.flush()  # the id seals the secret to this row
        _seal(box, channel, fields.get(SECRET.get(kind, "")))


def _seal(box: SecretBox, channel: NotificationChannel, secret: str | None) -> None:
    if channel.kind not in SECRET:
        return
    if secret is not None:
        channel.secret_encrypted = box.encrypt(secret, secret_aad(channel.id))
    elif channel.secret_encrypted is None:
        field = SECRET[channel.kind]
        raise AppError(
            f"A {channel.kind} channel needs its {field}.",
            code="secret_required",
            status_code=422,
            details={"json": {"channels": {channel.kind: {field: ["Missing data."]}}}},
        )
