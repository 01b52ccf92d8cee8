"""Database set-up: SQLite pragmas, migrations to head, and a reachability probe."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from extensions import MIGRATIONS_DIR, db


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL for concurrent readers, a busy timeout instead of "database is locked", real FKs."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def engine_options(uri: str) -> dict[str, Any]:
    if uri.startswith("sqlite"):
        # Every server thread and the executor may hold a connection at once (WAL readers do
        # not block each other); a small pool would make them queue for a connection instead.
        return {
            "connect_args": {"timeout": 30, "check_same_thread": False},
            "pool_size": 40,
            "max_overflow": 60,
        }
    return {"pool_pre_ping": True, "pool_size": 20, "max_overflow": 40}


def init_engine_options(app: Flask) -> None:
    """The engine options for the configured database, before the extension binds it."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    ensure_sqlite_dir(uri)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(uri))


def ensure_sqlite_dir(uri: str) -> None:
    if uri.startswith("sqlite:///") and uri != "sqlite:///:memory:":
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)


def dialect_insert(session: Any, table: Any) -> Any:
    """An INSERT with ``on_conflict_do_nothing`` / ``_do_update`` for the session's database
    (SQLite and PostgreSQL spell them the same)."""
    return insert_for(session.get_bind().dialect.name, table)


def insert_for(dialect: str, table: Any) -> Any:
    """dialect_insert by the database's dialect name (for statements built once per dialect)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# Re-entrant: a signal's transaction holds it while the broadcast it creates takes it again.
_SQLITE_WRITES = threading.RLock()


@contextmanager
def serialised_writes(session: Any) -> Iterator[None]:
    """On SQLite, one such writing transaction at a time in this process; elsewhere nothing.

    SQLite lets one writer in at a time anyway, and its busy handler makes the others sleep
    (up to 100 ms a try, first come not first served): twenty concurrent writers then wait
    seconds at the tail. Queued on a lock, the next writer starts the moment the last one
    commits. Correctness never rests on it (unique keys and fenced updates do that); it only
    shortens the queue. PostgreSQL locks rows, so writers to different rows do not wait.
    """
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    with _SQLITE_WRITES:
        yield


def upgrade_to_head(app: Flask) -> None:
    """Apply every Alembic migration; running it twice changes nothing."""
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        db.engine.dispose()  # closes SQLite connections, which checkpoints the WAL


def database_reachable() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False
