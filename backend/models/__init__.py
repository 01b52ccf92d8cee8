"""SQLAlchemy models; importing this package registers every table on the metadata."""

from models.account import ACCOUNT_TYPES, MT5Account
from models.audit import AuditLog
from models.automation import AutomationFiring
from models.broadcast import FINAL_ROW_STATUSES, ROW_STATUSES, BroadcastQueue, Dispatch
from models.mfa import MfaRecoveryCode
from models.notification import NotificationChannel, NotificationDelivery, OutboxEvent
from models.refresh_token import UsedRefreshToken
from models.results import DispatchResult
from models.revoked_token import TokenBlocklist
from models.subscription import CONSENTS, SUBSCRIPTION_STATES, Subscription
from models.user import API_KEY_SCOPES, LOCALES, ROLES, User

__all__ = [
    "ACCOUNT_TYPES",
    "API_KEY_SCOPES",
    "CONSENTS",
    "FINAL_ROW_STATUSES",
    "LOCALES",
    "ROLES",
    "ROW_STATUSES",
    "SUBSCRIPTION_STATES",
    "AuditLog",
    "AutomationFiring",
    "BroadcastQueue",
    "Dispatch",
    "DispatchResult",
    "MT5Account",
    "MfaRecoveryCode",
    "NotificationChannel",
    "NotificationDelivery",
    "OutboxEvent",
    "Subscription",
    "TokenBlocklist",
    "UsedRefreshToken",
    "User",
]
