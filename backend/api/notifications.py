"""Notification settings of the caller: language and channels (Telegram, webhook, email)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from api.access import auth_required, current_user
from extensions import db, secret_box
from schemas.notifications import NotificationSettingsIn, NotificationSettingsOut
from services import notifications_service

bp = APIBlueprint("notifications", __name__, url_prefix="/api", tag="Notifications")


@bp.get("/me/notifications")
@auth_required()
@bp.output(NotificationSettingsOut)
def get_notifications() -> dict[str, Any]:
    """Your notification language and channels (secrets are never shown)"""
    return notifications_service.notification_settings(db.session, user=current_user())


@bp.put("/me/notifications")
@auth_required()
@bp.input(NotificationSettingsIn, arg_name="body")
@bp.output(NotificationSettingsOut)
@bp.doc(responses={422: "Invalid body, or a channel without its secret (secret_required)"})
def put_notifications(body: dict[str, Any]) -> dict[str, Any]:
    """Set your notification language and replace your channels"""
    return notifications_service.update_notification_settings(
        session=db.session, box=secret_box(), user=current_user(), changes=body
    )
