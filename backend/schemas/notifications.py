"""Schemas of a user's notification settings: language and channels (secrets go in, never out)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Email, Length, OneOf, Regexp
from marshmallow import ValidationError, validates, validates_schema

from models import LOCALES
from services.outbox import EVENTS

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
EVENTS_NOTE = "Events this channel receives; omitted or null: all of them."


def check_webhook_url(url: str) -> None:
    """HTTPS, or plain HTTP to this machine (a local relay, the tests' receiver)."""
    if url.startswith("https://"):
        return
    host = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)[0]
    if not (url.startswith("http://") and host in LOCAL_HOSTS):
        raise ValidationError("Must be an https:// URL (http:// only to 127.0.0.1).")


class ChannelIn(Schema):
    enabled = fields.Boolean(load_default=True)
    events = fields.List(
        fields.String(validate=OneOf(EVENTS)), allow_none=True, load_default=None,
        validate=Length(max=len(EVENTS)), metadata={"description": EVENTS_NOTE},
    )  # fmt: skip


class TelegramIn(ChannelIn):
    chat_id = fields.String(
        required=True, validate=Regexp(r"^(-?\d{1,20}|@[A-Za-z0-9_]{5,32})$"),
        metadata={"description": "A chat id (123456789, -100...) or @channelname."},
    )  # fmt: skip
    bot_token = fields.String(
        validate=Regexp(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$"),
        metadata={"description": "From @BotFather; stored encrypted, never shown. Omit to keep."},
    )


class WebhookIn(ChannelIn):
    url = fields.String(required=True, validate=Length(max=500))
    secret = fields.String(
        validate=[Length(min=16, max=200), Regexp(r"^[\x21-\x7e]+$")],
        metadata={"description": "HMAC-SHA256 signing key; stored encrypted, never shown. Omit "
                  "to keep."},
    )  # fmt: skip

    @validates("url")
    def _url(self, value: str, **_: Any) -> None:
        check_webhook_url(value)


class EmailIn(ChannelIn):
    address = fields.String(required=True, validate=[Email(), Length(max=254)])


class ChannelsIn(Schema):
    telegram = fields.Nested(TelegramIn)
    webhook = fields.Nested(WebhookIn)
    email = fields.Nested(EmailIn)


class NotificationSettingsIn(Schema):
    locale = fields.String(validate=OneOf(LOCALES), metadata={"description": "en or th"})
    channels = fields.Nested(
        ChannelsIn,
        metadata={"description": "Replaces every channel: a kind left out is removed."},
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Give locale and/or channels.", "_schema")


class ChannelOut(Schema):
    enabled = fields.Boolean()
    events = fields.List(fields.String(), allow_none=True)
    chat_id = fields.String()
    url = fields.String()
    address = fields.String()
    has_secret = fields.Boolean(metadata={"description": "A bot token or signing key is stored."})


class NotificationSettingsOut(Schema):
    locale = fields.String(metadata={"enum": list(LOCALES)})
    events = fields.List(fields.String(), metadata={"description": "Every event there is."})
    channels = fields.Dict(keys=fields.String(), values=fields.Nested(ChannelOut))
