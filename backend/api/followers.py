"""Followers: an account's subscription to broadcasts (opt-in, own sizing, filters, protection)
and the dispatches that reached the caller's accounts."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app

from api.access import auth_required, client_ip, current_user
from extensions import db
from schemas.followers import MyDispatchesQuery, MyDispatchListOut
from schemas.orders import DispatchOut, DispatchQuery
from schemas.subscriptions import SubscriptionIn, SubscriptionOut
from services import followers_service, subscriptions_service

bp = APIBlueprint("followers", __name__, url_prefix="/api", tag="Followers")
NOT_FOUND = {404: "No such account (or not yours)"}


def _terms() -> str:
    return str(current_app.config["BROADCAST_TERMS_VERSION"])


@bp.get("/accounts/<int:account_id>/subscription")
@auth_required()
@bp.output(SubscriptionOut)
@bp.doc(responses=NOT_FOUND)
def get_subscription(account_id: int) -> dict[str, Any]:
    """Whether broadcasts reach this account, on which terms, and where its protection stands"""
    return subscriptions_service.get_subscription(
        session=db.session, user=current_user(), account_id=account_id, terms_version=_terms()
    )


@bp.put("/accounts/<int:account_id>/subscription")
@auth_required(fresh=True)
@bp.input(SubscriptionIn, arg_name="body")
@bp.output(SubscriptionOut)
@bp.doc(responses={**NOT_FOUND, 422: "accept_terms is not true, or invalid settings"})
def put_subscription(account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Subscribe this account to broadcasts (accept the terms) with your own settings

    Needs a fresh login (a password login within JWT_FRESH_MINUTES); API keys cannot. The terms
    version, time and IP are recorded and audited. Settings replace the previous ones.
    """
    return subscriptions_service.subscribe(
        session=db.session, user=current_user(), account_id=account_id,
        sizing=body.get("sizing"), symbols=body.get("symbols"),
        protection=body.get("protection"), terms_version=_terms(), ip=client_ip(),
    )  # fmt: skip


@bp.delete("/accounts/<int:account_id>/subscription")
@auth_required()
@bp.output(SubscriptionOut)
@bp.doc(responses={404: "No such account, or not subscribed (not_subscribed)"})
def delete_subscription(account_id: int) -> dict[str, Any]:
    """Stop new broadcast opens on this account (closes still reach what it holds)"""
    return subscriptions_service.unsubscribe(
        session=db.session, user=current_user(), account_id=account_id,
        terms_version=_terms(), ip=client_ip(),
    )  # fmt: skip


@bp.post("/accounts/<int:account_id>/subscription/reset")
@auth_required()
@bp.output(SubscriptionOut)
@bp.doc(responses={404: "No such account, or not subscribed (not_subscribed)"})
def reset_subscription(account_id: int) -> dict[str, Any]:
    """After a protection breach: receive opens again (the owner, or a super admin)"""
    return subscriptions_service.reset(
        session=db.session, actor=current_user(), account_id=account_id,
        terms_version=_terms(), ip=client_ip(),
    )  # fmt: skip


@bp.get("/me/dispatches")
@auth_required()
@bp.input(MyDispatchesQuery, location="query", arg_name="query")
@bp.output(MyDispatchListOut)
def my_dispatches(query: dict[str, Any]) -> dict[str, Any]:
    """Every dispatch that reached your accounts, newest first"""
    return followers_service.my_dispatches(db.session, user=current_user(), **query)


@bp.get("/me/dispatches/<int:dispatch_id>")
@auth_required()
@bp.input(DispatchQuery, location="query", arg_name="query")
@bp.output(DispatchOut)
@bp.doc(responses={404: "No such dispatch on your accounts"})
def my_dispatch(dispatch_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """One dispatch as it reached your accounts (only your targets)"""
    return followers_service.my_dispatch(
        db.session, user=current_user(), dispatch_id=dispatch_id, **query
    )
