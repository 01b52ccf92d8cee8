"""MT5 account management: the caller's own accounts only (others' are 404)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from api.access import auth_required, body_has, client_ip, current_user
from extensions import db, secret_box
from models import MT5Account
from schemas.accounts import AccountIn, AccountListOut, AccountOut, AccountPatchIn
from services import accounts_service

bp = APIBlueprint("accounts", __name__, url_prefix="/api", tag="Accounts")
NOT_FOUND = {404: "No such account (or not yours)"}
# Changing these re-points the stored password (or replaces it): a fresh password login only.
CREDENTIAL_FIELDS = ("password", "login", "server", "terminal")


def _terminal_policy() -> dict[str, Any]:
    return {
        "default_terminal": current_app.config["MT5_DEFAULT_TERMINAL"],
        "allowed_terminals": current_app.config["MT5_ALLOWED_TERMINALS"],
    }


@bp.get("/accounts")
@auth_required()
@bp.output(AccountListOut)
def list_accounts() -> dict[str, Any]:
    """The caller's MT5 accounts"""
    return {"accounts": accounts_service.list_accounts(session=db.session, user=current_user())}


@bp.post("/accounts")
@auth_required()
@bp.input(AccountIn, arg_name="body")
@bp.output(AccountOut, status_code=201)
@bp.doc(responses={422: "Invalid fields or a terminal the operator does not allow"})
def create_account(body: dict[str, Any]) -> MT5Account:
    """Add an MT5 account (the password is encrypted at rest and never returned)"""
    return accounts_service.create_account(
        session=db.session,
        user=current_user(),
        fields=body,
        box=secret_box(),
        ip=client_ip(),
        **_terminal_policy(),
    )


@bp.get("/accounts/<int:account_id>")
@auth_required()
@bp.output(AccountOut)
@bp.doc(responses=NOT_FOUND)
def get_account(account_id: int) -> MT5Account:
    """One of the caller's MT5 accounts"""
    return accounts_service.get_account(
        session=db.session, user=current_user(), account_id=account_id
    )


@bp.patch("/accounts/<int:account_id>")
@auth_required(fresh=body_has(*CREDENTIAL_FIELDS))
@bp.input(AccountPatchIn, arg_name="body")
@bp.output(AccountOut)
@bp.doc(responses=NOT_FOUND)
def update_account(account_id: int, body: dict[str, Any]) -> MT5Account:
    """Change an MT5 account's details, password or copy settings

    Changing `password`, `login`, `server` or `terminal` needs a fresh login (a JWT from a
    password login within JWT_FRESH_MINUTES); API keys cannot.
    """
    return accounts_service.update_account(
        session=db.session,
        user=current_user(),
        account_id=account_id,
        fields=body,
        box=secret_box(),
        ip=client_ip(),
        **_terminal_policy(),
    )


@bp.delete("/accounts/<int:account_id>")
@auth_required()
@bp.output({}, status_code=204)
@bp.doc(responses=NOT_FOUND)
def delete_account(account_id: int) -> tuple[str, int]:
    """Delete an MT5 account (its credentials are wiped; order history stays)"""
    accounts_service.delete_account(
        session=db.session, user=current_user(), account_id=account_id, ip=client_ip()
    )
    return "", 204
