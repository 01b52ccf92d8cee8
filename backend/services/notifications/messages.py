"""Each event's message in English and Thai: a subject and one short text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOCALES = ("en", "th")
KINDS = {
    "en": {"orders": "Order", "broadcast": "Broadcast", "action": "Follow-up"},
    "th": {"orders": "คำสั่งซื้อขาย", "broadcast": "สัญญาณ", "action": "คำสั่งจัดการ"},
}
SIDES = {"en": {"buy": "buy", "sell": "sell"}, "th": {"buy": "ซื้อ", "sell": "ขาย"}}
STATUSES = {
    "en": {},
    "th": {
        "completed": "สำเร็จทั้งหมด", "partial": "สำเร็จบางส่วน", "failed": "ล้มเหลว",
        "expired": "หมดเวลา", "cancelled": "ยกเลิก",
    },
}  # fmt: skip
TEMPLATES = {
    "en": {
        "dispatch_finished": (
            "{kind} #{dispatch_id} finished",
            "{kind} #{dispatch_id} {what} finished ({status}): {executed} executed, "
            "{failed} failed, {skipped} skipped of {total}.",
        ),
        "target_failed": (
            "{kind} #{dispatch_id} failed on {account}",
            "{kind} #{dispatch_id} {what} failed on account {account} ({login}): {reason}.",
        ),
        "protection_triggered": (
            "Protection triggered on {account}",
            "Protection triggered on account {account}: {reason}.",
        ),
        "account_disconnected": (
            "{account} is disconnected",
            "Account {account} ({login}) has been disconnected for {minutes} min "
            "(last seen {since} UTC).",
        ),
    },
    "th": {
        "dispatch_finished": (
            "{kind} #{dispatch_id} เสร็จสิ้น",
            "{kind} #{dispatch_id} {what} เสร็จสิ้น ({status}): สำเร็จ {executed}, "
            "ล้มเหลว {failed}, ข้าม {skipped} จากทั้งหมด {total}",
        ),
        "target_failed": (
            "{kind} #{dispatch_id} ล้มเหลวในบัญชี {account}",
            "{kind} #{dispatch_id} {what} ล้มเหลวในบัญชี {account} ({login}): {reason}",
        ),
        "protection_triggered": (
            "ระบบป้องกันทำงานในบัญชี {account}",
            "ระบบป้องกันทำงานในบัญชี {account}: {reason}",
        ),
        "account_disconnected": (
            "บัญชี {account} ขาดการเชื่อมต่อ",
            "บัญชี {account} ({login}) ขาดการเชื่อมต่อมา {minutes} นาที (เห็นล่าสุด {since} UTC)",
        ),
    },
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str


class _Blank(dict[str, Any]):
    """A payload without some field renders it as "?" rather than failing the delivery."""

    def __missing__(self, key: str) -> str:
        return "?"


def _fields(payload: dict[str, Any], locale: str) -> _Blank:
    fields = _Blank(payload)
    counts = payload.get("counts") or {}
    fields.setdefault("executed", counts.get("executed", 0) + counts.get("placed", 0))
    fields.setdefault("failed", sum(counts.get(s, 0) for s in ("failed", "expired", "cancelled")))
    fields.setdefault("skipped", counts.get("skipped", 0))
    fields["kind"] = KINDS[locale].get(payload.get("kind", ""), payload.get("kind", "?"))
    side = SIDES[locale].get(payload.get("side") or "", "")
    fields["what"] = " ".join(
        p for p in (payload.get("action") or side, payload.get("symbol")) if p
    )
    status = payload.get("status", "?")
    fields["status"] = STATUSES[locale].get(status, status)
    return fields


def render(event: str, payload: dict[str, Any], locale: str) -> Message:
    """The event's message in ``locale`` (English for an unknown one)."""
    templates = TEMPLATES.get(locale, TEMPLATES["en"])
    subject, text = templates[event]
    fields = _fields(payload, locale if locale in TEMPLATES else "en")
    return Message(subject.format_map(fields), text.format_map(fields))
