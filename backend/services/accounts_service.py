"""MT5 accounts of a user: create, read, update, delete; the password sealed to its row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from errors import AppError, Conflict, MT5Error, NotFound
from extensions import DbSession
from models import MT5Account, User
from services.audit_service import record_event
from services.mt5.dto import AccountRef
from services.mt5_service import account_ref, password_aad
from services.session_keeper import store as keeper_store
from utils.security import DecryptionFailed, SecretBox

SETTABLE = (
    "account_name",
    "login",
    "server",
    "broker",
    "account_type",
    "terminal",
    "is_active",
    "copy_enabled",
    "risk_percent",
    "fixed_volume",
    "volume_multiplier",
    "max_volume",
    "symbol_map",
)


def check_terminal(terminal: str, *, default: str, allowed: list[str]) -> None:
    """Simulated terminals are open to all; real ones only where the operator listed them."""
    if terminal.startswith("sim://") or terminal == default or terminal in allowed:
        return
    raise AppError(
        "This terminal is not one the operator allows (MT5_ALLOWED_TERMINALS).",
        code="terminal_not_allowed",
        status_code=422,
        details={"terminal": terminal},
    )


def list_accounts(*, session: DbSession, user: User) -> list[MT5Account]:
    query = select(MT5Account).where(MT5Account.user_id == user.id, MT5Account.deleted_at.is_(None))
    query = query.options(selectinload(MT5Account.live)).order_by(MT5Account.id)
    return list(session.scalars(query).all())


def get_account(*, session: DbSession, user: User, account_id: int) -> MT5Account:
    """The caller's own account, or 404 (another user's account does not "exist" for them)."""
    account = session.get(MT5Account, account_id)
    if account is None or account.user_id != user.id or account.deleted_at is not None:
        raise NotFound("No such account.", code="account_not_found")
    return account


def create_account(
    *,
    session: DbSession,
    user: User,
    fields: dict[str, Any],
    box: SecretBox,
    default_terminal: str,
    allowed_terminals: list[str],
    ip: str | None,
) -> MT5Account:
    terminal = fields.get("terminal") or default_terminal
    check_terminal(terminal, default=default_terminal, allowed=allowed_terminals)
    account = MT5Account(user_id=user.id, terminal=terminal, password_encrypted="")
    for name in SETTABLE:
        if name in fields and name != "terminal":
            setattr(account, name, fields[name])
    session.add(account)
    session.flush()  # the row id is the associated data of the ciphertext
    account.password_encrypted = box.encrypt(fields["password"], password_aad(account.id))
    _audit(
        session,
        "account_created",
        user,
        account,
        ip,
        details={"login": account.login, "server": account.server},
    )
    session.commit()
    return account


def update_account(
    *,
    session: DbSession,
    user: User,
    account_id: int,
    fields: dict[str, Any],
    box: SecretBox,
    default_terminal: str,
    allowed_terminals: list[str],
    ip: str | None,
) -> MT5Account:
    account = get_account(session=session, user=user, account_id=account_id)
    if not fields:
        raise AppError("Nothing to change.", code="validation_error", status_code=422)
    if "terminal" in fields:
        check_terminal(fields["terminal"], default=default_terminal, allowed=allowed_terminals)
    changed = sorted(k for k in fields if k != "password" and getattr(account, k) != fields[k])
    for name in changed:
        setattr(account, name, fields[name])
    if "password" in fields:
        account.password_encrypted = box.encrypt(fields["password"], password_aad(account.id))
        changed.append("password")
    if {"login", "server", "password", "terminal"} & set(changed):
        account.connection_status = "never"
        # What the keeper saw was of the old credentials (auth_failed too): it looks afresh.
        keeper_store.forget(session, account.id)
    account.updated_at = datetime.now(UTC)
    _audit(session, "account_updated", user, account, ip, details={"fields": changed})
    session.commit()
    return account


class TradesReader(Protocol):
    """The part of ``MT5Gateway`` a deletion reads: what the account still has open."""

    def positions(self, account: AccountRef, symbol: str | None = None) -> list[Any]: ...
    def orders(self, account: AccountRef, symbol: str | None = None) -> list[Any]: ...


def delete_account(
    *, session: DbSession, gateway: TradesReader, box: SecretBox, user: User, account_id: int,
    force: bool, ip: str | None,
) -> None:  # fmt: skip
    """Soft delete: order history keeps pointing at the row; the credentials are wiped.

    Its terminal is asked first: with open positions or pending orders the answer is 409
    ``account_has_open_trades`` (the counts in details), and when it cannot say (unreachable,
    credentials unusable) 409 ``account_trades_unknown``, so nothing the server manages is
    orphaned by accident. ``force`` deletes anyway (the trades stay open at the broker, where
    the trader manages them); the audit records what was open, or that it was unknown.
    """
    trades = _open_trades(session, gateway, box, user, account_id)
    if not force:
        _refuse_open_trades(trades)
    account = get_account(session=session, user=user, account_id=account_id)
    account.deleted_at = datetime.now(UTC)
    account.is_active = False
    account.password_encrypted = ""
    _audit(session, "account_deleted", user, account, ip, details={"forced": force, **trades})
    session.commit()


def _open_trades(
    session: DbSession, gateway: TradesReader, box: SecretBox, user: User, account_id: int
) -> dict[str, Any]:
    """``{"positions": n, "orders": m}`` as the terminal counts them, or why it could not."""
    account = get_account(session=session, user=user, account_id=account_id)
    try:
        ref = account_ref(account, box)
    except (DecryptionFailed, ValueError):
        return {"trades": "unknown", "reason": "credentials_unusable"}
    finally:
        session.commit()  # never hold a database transaction open across a terminal call
    try:
        return {"positions": len(gateway.positions(ref)), "orders": len(gateway.orders(ref))}
    except MT5Error as exc:
        return {"trades": "unknown", "reason": exc.code}


def _refuse_open_trades(trades: dict[str, Any]) -> None:
    if trades.get("trades") == "unknown":
        raise Conflict(
            f"The account's terminal could not say what is open ({trades['reason']}); try "
            "again, or delete with ?force=true (anything open stays open at the broker).",
            code="account_trades_unknown",
            details={"reason": trades["reason"]},
        )
    if trades["positions"] or trades["orders"]:
        raise Conflict(
            f"The account has {trades['positions']} open position(s) and {trades['orders']} "
            "pending order(s); close them first, or delete with ?force=true (they stay open "
            "at the broker, no longer managed here).",
            code="account_has_open_trades",
            details={"positions": trades["positions"], "orders": trades["orders"]},
        )


def account_password(account: MT5Account, box: SecretBox) -> str:
    return box.decrypt(account.password_encrypted, password_aad(account.id))


def rotate_encryption(*, session: DbSession, box: SecretBox) -> int:
    """Re-encrypt every stored MT5 password under the current key; returns how many changed."""
    rotated = 0
    for account in session.scalars(select(MT5Account).where(MT5Account.password_encrypted != "")):
        if box.needs_rotation(account.password_encrypted):
            plain = account_password(account, box)
            account.password_encrypted = box.encrypt(plain, password_aad(account.id))
            rotated += 1
    record_event(session=session, event="encryption_key_rotated", details={"rows": rotated})
    session.commit()
    return rotated


def _audit(
    session: DbSession,
    event: str,
    user: User,
    account: MT5Account,
    ip: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    record_event(
        session=session, event=event, actor_id=user.id, subject_user_id=user.id,
        target_type="mt5_account", target_id=account.id, ip=ip, details=details,
    )  # fmt: skip
