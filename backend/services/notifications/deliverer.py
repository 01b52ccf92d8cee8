"""One pass of the deliverer: recover, fan out, claim, send side by side, record each outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from extensions import DbSession
from models.columns import utcnow
from services.notifications import delivery
from services.notifications.channels import DeliveryFailed, Outgoing, send
from services.notifications.messages import render
from services.notifications.settings import NotifySettings
from utils.security import SecretBox

logger = logging.getLogger("notifications")
Sender = Callable[[Outgoing, NotifySettings], None]


def secret_aad(channel_id: int) -> str:
    """Associated data: a channel's sealed secret only opens in its own row."""
    return f"notification_channels:{channel_id}:secret"


@dataclass(frozen=True)
class PassReport:
    fanned_out: int = 0
    sent: int = 0
    failed: int = 0


def _outgoing(row: Any, box: SecretBox) -> Outgoing:
    secret = None
    if row.secret_encrypted:
        secret = box.decrypt(row.secret_encrypted, secret_aad(row.channel_id))
    return Outgoing(
        delivery_id=row.id, event_id=row.event_id, event=row.event, kind=row.kind,
        address=row.address, secret=secret, message=render(row.event, row.payload, row.locale),
        payload=row.payload, locale=row.locale,
    )  # fmt: skip


def _attempt(row: Any, box: SecretBox, settings: NotifySettings, sender: Sender) -> str | None:
    """Send one; None when the channel took it, else the reason."""
    try:
        sender(_outgoing(row, box), settings)
        return None
    except DeliveryFailed as exc:
        return exc.reason
    except Exception as exc:  # a bug or an unreadable secret fails this delivery, not the pass
        logger.exception("delivery %s: %s failed", row.id, row.kind)
        return f"internal_error: {type(exc).__name__}"


def run_once(
    session: DbSession, *, box: SecretBox, settings: NotifySettings, owner: str,
    pool: ThreadPoolExecutor, sender: Sender = send,
) -> PassReport:  # fmt: skip
    """Deliver what is due now; every outcome is recorded as soon as its send returns."""
    delivery.recover_expired(session, now=utcnow())
    fanned = delivery.fan_out(session, now=utcnow())
    claimed = delivery.claim(
        session, owner=owner, now=utcnow(), lease_s=settings.lease_s, limit=settings.batch
    )
    rows = delivery.claimed_rows(session, claimed) if claimed else []
    futures: dict[Future[str | None], Any] = {
        pool.submit(_attempt, row, box, settings, sender): row for row in rows
    }
    sent = failed = 0
    for future in as_completed(futures):
        row, error = futures[future], future.result()
        if error is None:
            delivery.record_sent(session, row.id, owner=owner, now=utcnow())
            sent += 1
            continue
        failed += 1
        logger.warning(
            "delivery %s (%s, attempt %s) failed: %s", row.id, row.kind, row.attempts, error
        )
        delivery.record_failure(
            session, row.id, owner=owner, now=utcnow(), error=error, attempts=row.attempts,
            max_attempts=settings.max_attempts, backoff_s=settings.backoff(row.attempts),
        )  # fmt: skip
    return PassReport(fanned, sent, failed)
