"""`python app.py` (what `make run` starts) serves through waitress in every mode."""

from __future__ import annotations

from typing import Any

import app as app_module
import pytest
from factories import log_text


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
