"""SQLAlchemy models; importing this package registers every table on the metadata."""

from models.account import ACCOUNT_TYPES, MT5Account
from models.audit import AuditLog
from models.broadcast import FINAL_ROW_STATUSES, ROW_STATUSES, BroadcastQueue, Dispatch
from models.mfa import MfaRecoveryCode
from models.refresh_token import UsedRefreshToken
from models.revoked_token import TokenBlocklist
from models.user import API_KEY_SCOPES, ROLES, User

__all__ = [
    "ACCOUNT_TYPES",
    "API_KEY_SCOPES",
    "FINAL_ROW_STATUSES",
    "ROLES",
    "ROW_STATUSES",
    "AuditLog",
    "BroadcastQueue",
    "Dispatch",
    "MT5Account",
    "MfaRecoveryCode",
    "TokenBlocklist",
    "UsedRefreshToken",
    "User",
]
