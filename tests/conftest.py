"""Shared fixtures: an app on a fresh migrated SQLite file per test, users, tokens, accounts."""

from __future__ import annotations

import functools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import (
    MFA_T0,
    TEST_CONFIG,
    make_config,
    require_service,
    sim_broker_of,
)

os.environ.setdefault("FLASK_ENV", "development")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the migrations once; every test copies the resulting file."""
    from app import init_database

    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    init_database(
        {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "LOG_DIR": path.parent / "logs",
        }
    )
    return path


@pytest.fixture
def app_config(tmp_path: Path, migrated_sqlite: Path) -> dict[str, Any]:
    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    return make_config(tmp_path)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Any]:
    from app import create_app

    application = create_app(app_config)
    with application.app_context():
        yield application
        from extensions import db

        application.extensions["executor_stop"]()  # before the engine goes away
        db.session.remove()
        db.engine.dispose()
    application.extensions["mt5_gateway"].close()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def make_app(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Any]:
    """Build apps with config overrides, each on a fresh copy of the migrated database."""
    from app import create_app

    from extensions import db

    built: list[Any] = []

    def build(**overrides: Any) -> Any:
        directory = tmp_path / f"app{len(built)}"
        directory.mkdir()
        shutil.copy(migrated_sqlite, directory / "db.sqlite")
        application = create_app(make_config(directory, EXECUTOR_AUTOSTART=False, **overrides))
        built.append(application)
        return application

    yield build
    for application in built:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        application.extensions["mt5_gateway"].close()


@pytest.fixture
def sim_broker(app: Any) -> Callable[..., Any]:
    """``sim_broker(name="default")``: the app's simulated broker ``sim://name`` (a Broker)."""
    return functools.partial(sim_broker_of, app.extensions["mt5_gateway"])


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema in database `test`, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


# --- factories -------------------------------------------------------------------------------


# --- MFA ---------------------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The MFA clock, fixed at MFA_T0 and movable: TOTP codes are deterministic.

    Only the MFA clock (services/auth/second_factor.py): tokens, lockouts and
    tokens_valid_after keep the wall clock.
    """
    from services.auth import second_factor

    now = {"t": MFA_T0}
    monkeypatch.setattr(second_factor, "now", lambda: now["t"])

    class Clock:
        def advance(self, seconds: float) -> None:
            now["t"] += timedelta(seconds=seconds)

        @property
        def now(self) -> datetime:
            return now["t"]

    return Clock()
