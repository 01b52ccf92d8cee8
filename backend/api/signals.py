"""Signals: webhook tokens (super admin), the parse preview (anyone), and the webhook itself.

``POST /hooks/signals/<token>`` lives outside /api: TradingView cannot send headers, so the
token travels in the URL, is the only credential, and is never logged (api/hooks.py masks it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from apiflask import APIBlueprint
from flask import current_app, g, request

from api.access import auth_required, client_ip, current_user
from extensions import auth_settings, db, limiter, order_executor
from schemas.signals import (
    SignalAcceptedOut,
    SignalParseIn,
    SignalPreviewOut,
    SignalTokenCreatedOut,
    SignalTokenIn,
    SignalTokenListOut,
    load_signal,
)
from services import signal_tokens_service, signals_service
from services.signals import grammar
from services.signals.symbols import signal_symbol

bp = APIBlueprint("signals", __name__, url_prefix="/api", tag="Signals")
hooks_bp = APIBlueprint("signal_hooks", __name__, url_prefix="/hooks", tag="Signals")
WEBHOOK_PATH = "/hooks/signals/"

F = TypeVar("F", bound=Callable[..., Any])


def _token_key() -> str:
    """The rate-limit key: a digest of the token (never the token, even in the limiter's store)."""
    token = str((request.view_args or {}).get("token", ""))
    return "signal:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _signal_limit() -> str:
    return str(current_app.config["SIGNAL_RATE_LIMIT"])


def signal_token_required(view: F) -> F:
    """The URL's token must be live and its owner an active super admin: else one 401."""

    @wraps(view)
    def wrapper(token: str, **kwargs: Any) -> Any:
        g.signal_token, g.current_user = signal_tokens_service.authenticate(
            db.session,
            token=token,
            pepper=auth_settings().api_key_pepper,
            mfa_required_roles=auth_settings().mfa_required_roles,
        )
        return view(**kwargs)

    return cast(F, wrapper)


@bp.post("/me/signal_token")
@auth_required("super_admin", fresh=True)
@bp.input(SignalTokenIn, arg_name="body")
@bp.output(SignalTokenCreatedOut, status_code=201)
def create_signal_token(body: dict[str, Any]) -> dict[str, Any]:
    """Create a signal webhook token, shown once

    Post signals to `/hooks/signals/{token}`. Optional `symbols` limits what it may trade.
    """
    token, row = signal_tokens_service.create_token(
        session=db.session,
        user=current_user(),
        pepper=auth_settings().api_key_pepper,
        name=body.get("name"),
        symbols=body.get("symbols"),
        ip=client_ip(),
    )
    return {**_token_fields(row), "token": token, "webhook_path": WEBHOOK_PATH + token}


@bp.get("/me/signal_tokens")
@auth_required("super_admin")
@bp.output(SignalTokenListOut)
def list_signal_tokens() -> dict[str, Any]:
    """Your signal webhook tokens (never the tokens themselves), revoked ones too"""
    tokens = signal_tokens_service.list_tokens(db.session, user=current_user())
    return {"tokens": [_token_fields(row) for row in tokens]}


@bp.delete("/me/signal_tokens/<int:token_id>")
@auth_required("super_admin")
@bp.output({}, status_code=204)
@bp.doc(responses={404: "No such token of yours (`signal_token_not_found`)"})
def revoke_signal_token(token_id: int) -> tuple[str, int]:
    """Revoke a signal webhook token: it answers 401 from now on"""
    signal_tokens_service.revoke_token(
        db.session, user=current_user(), token_id=token_id, ip=client_ip()
    )
    return "", 204


@bp.post("/signals/parse")
@auth_required()
@bp.input(SignalParseIn, arg_name="body")
@bp.output(SignalPreviewOut)
@bp.doc(responses={422: "Not understood (`signal_not_understood`, naming the word) or invalid"})
def parse_signal(body: dict[str, Any]) -> dict[str, Any]:
    """What a signal text would do, without doing it"""
    return signals_service.preview(
        grammar.parse(body["text"], signal_symbol),
        default_risk_percent=current_app.config["SIGNAL_DEFAULT_RISK_PERCENT"],
    )


@hooks_bp.post("/signals/<token>")
@limiter.limit(_signal_limit, key_func=_token_key)
@signal_token_required
@hooks_bp.output(SignalAcceptedOut, status_code=202)
@hooks_bp.doc(hide=True)
def receive_signal() -> dict[str, Any]:
    """Receive a signal (text/plain or JSON); 202 once its dispatch is queued"""
    data = request.get_data(cache=True)
    mimetype = request.mimetype
    return signals_service.receive_signal(
        session=db.session,
        executor=order_executor(),
        token=g.signal_token,
        owner=current_user(),
        body_hash=signals_service.body_hash(mimetype, data),
        read_command=lambda: load_signal(mimetype, data),
        resend_window_s=current_app.config["SIGNAL_RESEND_WINDOW_S"],
        default_risk_percent=current_app.config["SIGNAL_DEFAULT_RISK_PERCENT"],
        ip=client_ip(),
    )


def _token_fields(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "prefix": row.prefix,
        "name": row.name,
        "symbols": row.symbols,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    }
