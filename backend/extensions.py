"""Unbound Flask extensions, bound to the app in create_app()."""

from __future__ import annotations

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
    from services.auth import AuthSettings

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

AUTH_SETTINGS = "auth_settings"


def auth_settings() -> AuthSettings:
    """The app's AuthSettings (services/auth/settings.py), for routes and commands to pass on."""
    return cast("AuthSettings", current_app.extensions[AUTH_SETTINGS])
