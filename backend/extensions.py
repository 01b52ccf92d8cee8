"""Unbound Flask extensions, bound by ``init_app``; one accessor per collaborator in app.extensions.

Collaborators that tests replace (the MT5 gateway, the executor) and those built once from the
configuration (the secret box, the auth settings) live in ``app.extensions``; routes and
commands read them through the accessors below and pass them to services as arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from flask import current_app
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

from utils.jwt_cache import CachingJWTManager

if TYPE_CHECKING:  # services import this module; it imports none of them
    from flask import Flask, Response

    from services.auth import AuthSettings
    from services.mt5.gateway import MT5Gateway
    from utils.security import SecretBox
    from workers import Executor

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
# What services accept: a plain Session (tests, workers) or Flask-SQLAlchemy's db.session.
DbSession: TypeAlias = Session | scoped_session[Any]
migrate = Migrate()
jwt = CachingJWTManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
cors = CORS()

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
AUTH_SETTINGS, GATEWAY, EXECUTOR, SECRET_BOX = (
    "auth_settings",
    "mt5_gateway",
    "executor",
    "secret_box",
)


def init_app(app: Flask) -> None:
    """Bind the extensions to the app (the database engine options come from utils.database)."""
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    jwt.init_app(app)
    # A shared store (RATELIMIT_STORAGE_URI=redis://...) that goes away must not turn every
    # limited route into a 500: the limits then hold per process until it is back.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    # Registered before the limiter's own hook so that it runs after it (Flask runs
    # after_request hooks in reverse order of registration).
    app.after_request(_retry_after_at_least_one)
    limiter.init_app(app)
    origins = app.config["CORS_ORIGINS"]
    cors.init_app(
        app,
        resources={r"/api/*": {"origins": origins}} if origins else {},
        expose_headers=["X-Request-ID", "Retry-After"],
    )


def _retry_after_at_least_one(response: Response) -> Response:
    """Flask-Limiter truncates the wait to whole seconds, so with 0.4 s of the window left a 429
    says ``Retry-After: 0``: a client retrying at once is limited again. Never less than 1."""
    value = response.headers.get("Retry-After")
    whole_seconds = value is not None and value.lstrip("-").isdigit()
    if response.status_code == 429 and whole_seconds and int(value) < 1:  # type: ignore[arg-type]
        response.headers["Retry-After"] = "1"
    return response


def auth_settings() -> AuthSettings:
    """The app's AuthSettings (services/auth/settings.py), for routes and commands to pass on."""
    return cast("AuthSettings", current_app.extensions[AUTH_SETTINGS])


def mt5_gateway() -> MT5Gateway:
    """The app's MT5 gateway (tests pass their own to create_app)."""
    return cast("MT5Gateway", current_app.extensions[GATEWAY])


def order_executor() -> Executor:
    """The app's order executor: the embedded thread pool or the Celery front."""
    return cast("Executor", current_app.extensions[EXECUTOR])


def secret_box() -> SecretBox:
    """The key ring that seals MT5 passwords and MFA secrets."""
    return cast("SecretBox", current_app.extensions[SECRET_BOX])
