"""Alembic migrations: idempotent upgrades on SQLite and PostgreSQL, no drift, SQLite pragmas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from factories import TEST_CONFIG

EXPECTED_TABLES = {
    "users",
    "mt5_accounts",
    "broadcast_queue",
    "broadcasts",
    "audit_log",
    "token_blocklist",
    "alembic_version",
}


def _config(uri: str, tmp_path: Path) -> dict[str, Any]:
    return {
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": uri,
        "LOG_DIR": tmp_path / "logs",
        "EXECUTOR_AUTOSTART": False,
    }


def _upgrade(uri: str, tmp_path: Path) -> None:
    from app import init_database

    init_database(_config(uri, tmp_path))


def _drift(uri: str, tmp_path: Path) -> list[Any]:
    from app import create_app

    from extensions import db

    application = create_app(_config(uri, tmp_path))
    with application.app_context(), db.engine.connect() as connection:
        # compare_type=True compares against each dialect's implementation of a TypeDecorator,
        # so UTCDateTime / ExactDecimal are checked as TIMESTAMPTZ / NUMERIC(28,10) on PostgreSQL.
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
        db.engine.dispose()
    return list(diff)


def _tables(uri: str) -> set[str]:
    engine = sa.create_engine(uri)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _head_revision(uri: str) -> str:
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as connection:
            return str(
                connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            )
    finally:
        engine.dispose()


def test_upgrade_fresh_sqlite_creates_every_table(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.sqlite'}"

    _upgrade(uri, tmp_path)

    assert _tables(uri) >= EXPECTED_TABLES


def test_upgrade_sqlite_twice_changes_nothing(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    _upgrade(uri, tmp_path)
    revision = _head_revision(uri)

    _upgrade(uri, tmp_path)

    assert _head_revision(uri) == revision
    assert _tables(uri) >= EXPECTED_TABLES


def test_models_and_migrations_do_not_drift_on_sqlite(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    _upgrade(uri, tmp_path)

    assert _drift(uri, tmp_path) == []


def _alter(uri: str, *statements: str) -> None:
    engine = sa.create_engine(uri)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    engine.dispose()


def _drift_kinds(uri: str, tmp_path: Path) -> set[str]:
    return {
        entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in _drift(uri, tmp_path)
    }


def test_drift_check_notices_extra_column_and_missing_index_on_sqlite(tmp_path):
    uri = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    _upgrade(uri, tmp_path)
    _alter(
        uri,
        "ALTER TABLE users ADD COLUMN extra_col INTEGER",
        "DROP INDEX ix_audit_log_event",
    )

    assert {"remove_column", "add_index"} <= _drift_kinds(uri, tmp_path)


def test_drift_check_notices_custom_type_changes_on_postgresql(pg_url, tmp_path):
    _upgrade(pg_url, tmp_path)
    _alter(
        pg_url,
        "ALTER TABLE mt5_accounts ALTER COLUMN risk_percent TYPE NUMERIC(20,4)",
        "ALTER TABLE users ALTER COLUMN last_login TYPE TIMESTAMP WITHOUT TIME ZONE",
    )

    changed = {entry[0][3] for entry in _drift(pg_url, tmp_path) if isinstance(entry, list)}

    assert changed == {"risk_percent", "last_login"}


def test_upgrade_postgresql_twice_and_no_drift(pg_url, tmp_path):
    _upgrade(pg_url, tmp_path)
    revision = _head_revision(pg_url)

    _upgrade(pg_url, tmp_path)

    assert _head_revision(pg_url) == revision
    assert _tables(pg_url) >= EXPECTED_TABLES
    assert _drift(pg_url, tmp_path) == []


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(app):
    from extensions import db

    with db.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
        busy_timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()

    assert (journal, foreign_keys) == ("wal", 1)
    assert busy_timeout > 0


def test_sqlite_foreign_keys_are_enforced(app):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from extensions import db

    with pytest.raises(IntegrityError):
        db.session.execute(
            sa.text(
                "INSERT INTO mt5_accounts (user_id, account_name, login, password_encrypted, "
                "server, account_type, is_active, created_at, terminal, connection_status, "
                "copy_enabled) VALUES (424242, 'a', '1', '', 's', 'demo', 1, '2026-01-01', "
                "'sim://default', 'never', 1)"
            )
        )
        db.session.commit()
    db.session.rollback()


def _upgrade_to(uri: str, tmp_path: Path, revision: str) -> None:
    from app import create_app
    from flask_migrate import upgrade

    from extensions import MIGRATIONS_DIR, db

    application = create_app(_config(uri, tmp_path))
    with application.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision=revision)
        db.engine.dispose()


def _legacy_world(uri: str) -> None:
    """Before subscriptions: a copy-enabled account, one that is not, and a deleted one."""
    _alter(
        uri,
        "INSERT INTO users (id, username, email, password_hash, role, created_at, is_active, "
        "failed_login_count, allow_broadcast, locale) VALUES (1, 'u', 'u@example.com', 'x', "
        "'user', '2026-01-01', true, 0, true, 'en')",
        *(
            "INSERT INTO mt5_accounts (id, user_id, account_name, login, password_encrypted, "
            "server, account_type, is_active, created_at, terminal, connection_status, "
            f"copy_enabled, deleted_at) VALUES ({i}, 1, 'a', '{i}', '', 's', 'demo', true, "
            f"'2026-01-01', 'sim://default', 'never', {copy}, {deleted})"
            for i, copy, deleted in ((1, "true", "NULL"), (2, "false", "NULL"),
                                     (3, "true", "'2026-02-01'"))
        ),
    )  # fmt: skip


def _subscriptions(uri: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(
                    sa.text("SELECT account_id, state, consent, terms_version FROM subscriptions")
                )
            ]
    finally:
        engine.dispose()


def test_subscriptions_migration_keeps_copy_enabled_accounts_as_legacy_consent_on_sqlite(
    tmp_path,
):
    uri = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    _upgrade_to(uri, tmp_path, "5698e92a46fe")
    _legacy_world(uri)

    _upgrade(uri, tmp_path)

    assert _subscriptions(uri) == [(1, "active", "legacy", None)]


def test_subscriptions_migration_keeps_copy_enabled_accounts_as_legacy_consent_on_postgresql(
    pg_url, tmp_path
):
    _upgrade_to(pg_url, tmp_path, "5698e92a46fe")
    _legacy_world(pg_url)

    _upgrade(pg_url, tmp_path)

    assert _subscriptions(pg_url) == [(1, "active", "legacy", None)]
