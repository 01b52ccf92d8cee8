"""`python app.py` (what `make run` starts) serves through waitress in every mode."""

from __future__ import annotations

import threading
import time
from typing import Any

import app as app_module
import pytest
from factories import auth_headers, log_text, make_account, make_user

from extensions import db
from models import AccountSession


@pytest.fixture
def served(monkeypatch) -> list[dict[str, Any]]:
    """waitress.serve replaced by a recorder; Flask's development server made to fail."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(app_module, "waitress_serve", lambda app, **options: calls.append(options))
    monkeypatch.setattr("flask.Flask.run", lambda *a, **k: pytest.fail("Flask's server started"))
    return calls


def test_serve_in_development_uses_waitress_and_says_how_to_run_production(app, served):
    assert not app.config["PRODUCTION"]

    app_module.serve(app)

    assert served == [app_module.waitress_options(app)]
    line = next(t for t in log_text(app).splitlines() if "serving with waitress" in t)
    assert "development mode" in line and "FLASK_ENV=production" in line


def test_serve_in_production_uses_waitress(app, served):
    app.config["PRODUCTION"] = True

    app_module.serve(app)

    assert served == [app_module.waitress_options(app)]
    assert "serving with waitress" in log_text(app) and "(production)" in log_text(app)


def test_serve_starts_the_session_keeper_before_the_first_request(make_app, served):
    from services.session_keeper import KEEPER, stop_keeper

    application = make_app(SESSION_KEEPER_ENABLED=True)
    try:
        app_module.serve(application)

        assert application.extensions[KEEPER] is not None
        assert application.extensions[KEEPER].running
    finally:
        stop_keeper(application)


def test_serve_with_the_keeper_off_starts_none(app, served):
    from services.session_keeper import KEEPER

    app_module.serve(app)

    assert app.extensions[KEEPER] is None


def looked_at() -> int:
    db.session.expire_all()
    return db.session.query(AccountSession).filter(AccountSession.checked_at.is_not(None)).count()


def test_serve_opens_its_port_once_every_account_due_at_start_was_looked_at(make_app, monkeypatch):
    from services.session_keeper import stop_keeper

    application = make_app(SESSION_KEEPER_ENABLED=True, SESSION_KEEPER_THREADS=2)
    with application.app_context():
        client = application.test_client()
        headers = auth_headers(client, make_user(application))
        for n in range(5):
            make_account(client, headers, account_name=f"A{n}")
        seen_at_serve: list[int] = []
        monkeypatch.setattr(
            app_module, "waitress_serve", lambda app, **options: seen_at_serve.append(looked_at())
        )
        try:
            app_module.serve(application)
        finally:
            stop_keeper(application)
        assert seen_at_serve == [5]
        assert "sessions warm: 5 accounts looked at" in log_text(application)


def test_serve_waits_at_most_warm_start_s_then_serves_and_says_how_many_wait(make_app, monkeypatch):
    from services.session_keeper import stop_keeper
    from services.session_keeper.keeper import SessionKeeper

    application = make_app(
        SESSION_KEEPER_ENABLED=True, SESSION_KEEPER_THREADS=2, SESSION_KEEPER_WARM_START_S=1
    )
    hung = threading.Event()
    original = SessionKeeper.look
    monkeypatch.setattr(
        SessionKeeper, "look", lambda keeper, account: hung.wait(30) and original(keeper, account)
    )
    with application.app_context():
        client = application.test_client()
        headers = auth_headers(client, make_user(application))
        make_account(client, headers)
        served_after: list[float] = []
        started = time.monotonic()
        monkeypatch.setattr(
            app_module, "waitress_serve",
            lambda app, **options: served_after.append(time.monotonic() - started),
        )  # fmt: skip
        try:
            app_module.serve(application)
        finally:
            hung.set()
            stop_keeper(application)
        assert len(served_after) == 1 and 0.9 <= served_after[0] < 5
        assert "serving with 1 accounts not looked at yet after 1 s" in log_text(application)


def test_serve_with_warm_start_off_does_not_wait(make_app, monkeypatch):
    from services.session_keeper import stop_keeper
    from services.session_keeper.keeper import SessionKeeper

    application = make_app(SESSION_KEEPER_ENABLED=True, SESSION_KEEPER_WARM_START_S=0)
    hung = threading.Event()
    original = SessionKeeper.look
    monkeypatch.setattr(
        SessionKeeper, "look", lambda keeper, account: hung.wait(30) and original(keeper, account)
    )
    with application.app_context():
        client = application.test_client()
        make_account(client, auth_headers(client, make_user(application)))
        served: list[float] = []
        started = time.monotonic()
        monkeypatch.setattr(
            app_module, "waitress_serve",
            lambda app, **options: served.append(time.monotonic() - started),
        )  # fmt: skip
        try:
            app_module.serve(application)
        finally:
            hung.set()
            stop_keeper(application)
        assert len(served) == 1 and served[0] < 0.5
