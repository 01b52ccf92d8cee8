"""SQLAlchemy models; importing this package registers every table on the metadata."""

from models.account import ACCOUNT_TYPES, MT5Account
from models.audit import AuditLog
from models.broadcast import FINAL_ROW_STATUSES, ROW_STATUSES, BroadcastQueue, Dispatch
from models.revoked_token import TokenBlocklist
from models.user import ROLES, User

__all__ = [
    "ACCOUNT_TYPES",
    "FINAL_ROW_STATUSES",
    "ROLES",
    "ROW_STATUSES",
    "AuditLog",
    "BroadcastQueue",
    "Dispatch",
    "MT5Account",
    "TokenBlocklist",
    "User",
]
