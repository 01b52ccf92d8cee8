"""`python app.py` (what `make run` starts) serves through waitress in every mode."""

from __future__ import annotations

import threading
import time
from typing import Any

import app as app_module
import pytest
from factories import auth_headers, log_text, make_accounts, make_user

from extensions import db
from models import AccountSession


@pytest.fixture(autouse=True)
def settled(monkeypatch) -> list[str]:
    """settle_heap recorded, not run: it would freeze this test process's heap."""
    calls: list[str] = []
    monkeypatch.setattr(app_module, "settle_heap", lambda: calls.append("settled"))
    return calls


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


def keeper_app(make_app: Any, accounts: int, **config: Any) -> Any:
    """An app with the session keeper on and ``accounts`` accounts of one trader."""
    application = make_app(SESSION_KEEPER_ENABLED=True, SESSION_KEEPER_THREADS=2, **config)
    with application.app_context():
        client = application.test_client()
        make_accounts(client, auth_headers(client, make_user(application)), accounts)
    return application


def hang_looks(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every look of the keeper waits for the event returned (at most 30 s)."""
    from services.session_keeper.keeper import SessionKeeper

    hung = threading.Event()
    original = SessionKeeper.look
    monkeypatch.setattr(
        SessionKeeper, "look", lambda keeper, account: hung.wait(30) and original(keeper, account)
    )
    return hung


def serve_recording(
    application: Any, monkeypatch: pytest.MonkeyPatch, record: Any, *,
    release: threading.Event | None = None,
) -> list[Any]:  # fmt: skip
    """``serve`` with waitress replaced by ``record()`` (what it returns, once per serve call);
    then the hung looks are let go and the keeper stopped."""
    from services.session_keeper import stop_keeper

    seen: list[Any] = []
    monkeypatch.setattr(app_module, "waitress_serve", lambda app, **options: seen.append(record()))
    with application.app_context():
        try:
            app_module.serve(application)
        finally:
            if release is not None:
                release.set()
            stop_keeper(application)
    return seen


def test_serve_opens_its_port_once_every_account_due_at_start_was_looked_at(make_app, monkeypatch):
    application = keeper_app(make_app, 5)

    assert serve_recording(application, monkeypatch, looked_at) == [5]
    assert "sessions warm: 5 accounts looked at" in log_text(application)


def served_after_a_hung_look(make_app: Any, monkeypatch: pytest.MonkeyPatch, warm_start_s: int):
    """An app with one account whose look hangs, served: the seconds until it served (one per
    serve call) and the app."""
    application = keeper_app(make_app, 1, SESSION_KEEPER_WARM_START_S=warm_start_s)
    hung = hang_looks(monkeypatch)
    started = time.monotonic()
    served = serve_recording(
        application, monkeypatch, lambda: time.monotonic() - started, release=hung
    )
    return served, application


def test_serve_waits_at_most_warm_start_s_then_serves_and_says_how_many_wait(make_app, monkeypatch):
    served_after, application = served_after_a_hung_look(make_app, monkeypatch, 1)

    assert len(served_after) == 1 and 0.9 <= served_after[0] < 5
    assert "serving with 1 accounts not looked at yet after 1 s" in log_text(application)


def test_serve_with_warm_start_off_does_not_wait(make_app, monkeypatch):
    served_after, _ = served_after_a_hung_look(make_app, monkeypatch, 0)

    assert len(served_after) == 1 and served_after[0] < 0.5


def test_serve_settles_the_heap_after_the_warm_start_and_before_the_port(make_app, monkeypatch):
    from services import session_keeper

    order: list[str] = []
    application = make_app()
    monkeypatch.setattr(app_module, "settle_heap", lambda: order.append("settled"))
    monkeypatch.setattr(session_keeper, "start_in_server", lambda app: order.append("warm"))
    monkeypatch.setattr(app_module, "waitress_serve", lambda app, **options: order.append("serve"))

    app_module.serve(application)

    assert order == ["warm", "settled", "serve"]


def test_settle_heap_freezes_what_start_up_made_and_collects_less_often() -> None:
    import gc

    from utils import runtime

    before = gc.get_threshold()
    try:
        runtime.settle_heap()
        assert gc.get_freeze_count() > 10_000  # this process's modules and objects
        assert gc.get_threshold() == (runtime.YOUNG_THRESHOLD, 10, runtime.OLD_THRESHOLD)
        garbage = []
        garbage.append(garbage)  # a cycle made after the freeze is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_waitress_serves_with_descriptors_numbered_past_select_s_limit(app):
    """A server holding a thousand and more descriptors (a simulator link per executor thread,
    the database pool) still answers: waitress watches its sockets with poll(), not select()."""
    import os
    import resource

    import urllib3
    from waitress.server import create_server

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1300:
        pytest.skip(f"needs 1300 open files, RLIMIT_NOFILE is {soft}")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    options = {**app_module.waitress_options(app), "host": "127.0.0.1", "port": 0}
    server = create_server(app, **options)
    thread = threading.Thread(target=server.run, daemon=True)
    try:
        assert server.socket.fileno() >= 1024  # past what select() can watch
        thread.start()
        port = server.socket.getsockname()[1]
        response = urllib3.PoolManager(retries=False, timeout=10).request(
            "GET", f"http://127.0.0.1:{port}/api/status"
        )
        assert response.status == 200 and response.json()["status"] in ("ok", "degraded")
    finally:
        server.close()  # its loop ends at its next poll timeout; the thread is a daemon
        for fd in held:
            os.close(fd)
