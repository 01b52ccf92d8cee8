"""Sending one message on one channel: Telegram's Bot API, a signed webhook, or SMTP email.

Each sender raises ``DeliveryFailed`` with a reason that names no secret (the bot token is in
Telegram's URL, so no URL is ever quoted).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from services.notifications.messages import Message
from services.notifications.settings import NotifySettings

SIGNATURE_HEADER = "X-Signature"  # "sha256=<hex of HMAC-SHA256(secret, '<timestamp>.<body>')>"
TIMESTAMP_HEADER = "X-Signature-Timestamp"  # Unix seconds; receivers refuse stale ones
USER_AGENT = "mt5-trading-server-notifier/1"


class DeliveryFailed(Exception):
    """The channel did not take the message; ``reason`` is safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:500]


@dataclass(frozen=True)
class Outgoing:
    """One delivery as a sender sees it."""

    delivery_id: int
    event_id: int
    event: str
    kind: str  # telegram | webhook | email
    address: str  # chat id, URL or email address
    secret: str | None  # bot token or webhook signing key
    message: Message
    payload: dict[str, Any]
    locale: str


def _post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> bytes:
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked when the channel is saved)
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return bytes(response.read(65_536))
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"http_{exc.code}: {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"unreachable: {type(reason).__name__}: {reason}") from exc


def send_telegram(outgoing: Outgoing, settings: NotifySettings) -> None:
    """Bot API ``sendMessage``; Telegram answers ``{"ok": true, ...}`` when it took it."""
    url = f"{settings.telegram_api_base}/bot{outgoing.secret}/sendMessage"
    body = json.dumps(
        {"chat_id": outgoing.address, "text": outgoing.message.text,
         "disable_web_page_preview": True}
    ).encode()  # fmt: skip
    try:
        answer = json.loads(_post(url, body, {}, settings.timeout_s) or b"{}")
    except DeliveryFailed as exc:
        raise DeliveryFailed(exc.reason.replace(outgoing.secret or "\0", "***")) from exc
    except ValueError as exc:
        raise DeliveryFailed("telegram: the answer was not JSON") from exc
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        description = answer.get("description") if isinstance(answer, dict) else None
        raise DeliveryFailed(f"telegram: {description or 'not ok'}")


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def send_webhook(outgoing: Outgoing, settings: NotifySettings) -> None:
    """POST the event as JSON, signed: HMAC-SHA256 over '<timestamp>.<body>' with the key."""
    body = json.dumps(
        {"id": outgoing.event_id, "event": outgoing.event, "locale": outgoing.locale,
         "subject": outgoing.message.subject, "text": outgoing.message.text,
         "payload": outgoing.payload},
        ensure_ascii=False, sort_keys=True, default=str,
    ).encode()  # fmt: skip
    timestamp = str(int(time.time()))
    headers = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(outgoing.secret or "", timestamp, body),
        "X-Event-Id": str(outgoing.event_id),  # the same on every retry: receivers dedupe by it
    }
    _post(outgoing.address, body, headers, settings.timeout_s)


def send_email(outgoing: Outgoing, settings: NotifySettings) -> None:
    smtp = settings.smtp
    if not smtp.configured:
        raise DeliveryFailed("email: SMTP_HOST and SMTP_FROM are not set")
    mail = EmailMessage()
    mail["From"], mail["To"] = smtp.sender, outgoing.address
    mail["Subject"] = outgoing.message.subject
    # The same Message-ID on every retry, so a mail client shows a resent one once.
    mail["Message-ID"] = f"<notification-{outgoing.event_id}-{outgoing.delivery_id}@{smtp.host}>"
    mail.set_content(outgoing.message.text)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=settings.timeout_s) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"smtp: {type(exc).__name__}: {exc}") from exc


SENDERS = {"telegram": send_telegram, "webhook": send_webhook, "email": send_email}


def send(outgoing: Outgoing, settings: NotifySettings) -> None:
    SENDERS[outgoing.kind](outgoing, settings)
