"""The seed's setup commands, run as an operator would: init_database, flask create-user and
flask reset-mfa."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BACKEND = Path(__file__).resolve().parents[2] / "backend"
ADMIN_PASSWORD = "operator chosen passphrase"


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FLASK_ENV="development",
        DATABASE_PATH=str(tmp_path / "seed.sqlite"),
        DATABASE_URL="",
        LOG_DIR=str(tmp_path / "logs"),
        MT5_SIM_DB=str(tmp_path / "sim.sqlite"),
        BCRYPT_ROUNDS="4",
        EXECUTOR_AUTOSTART="0",
    )
    return env


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=BACKEND, env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )


def _init(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    code = "from app import init_database; init_database()"
    return _run([sys.executable, "-c", code], tmp_path)


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.fixture(scope="module")
def seeded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """One run of the seed's init command; tests copy its database."""
    directory = tmp_path_factory.mktemp("seed")
    return directory / "seed.sqlite", _init(directory)


@pytest.fixture
def seeded_db(seeded, tmp_path) -> Path:
    shutil.copy(seeded[0], tmp_path / "seed.sqlite")
    return tmp_path / "seed.sqlite"


def test_init_database_seed_command_creates_tables(seeded):
    path, result = seeded

    assert result.returncode == 0, result.stderr
    assert _tables(path) >= {"users", "mt5_accounts", "broadcast_queue", "alembic_version"}


def test_init_database_seed_command_twice_succeeds(seeded_db, tmp_path):
    result = _init(tmp_path)

    assert result.returncode == 0, result.stderr


def _create_user(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    return _run([*flask, "create-user", "root", "root@example.com", *extra], tmp_path)


def test_create_user_command_creates_super_admin_who_can_log_in(seeded_db, tmp_path):
    from app import create_app
    from factories import make_config

    result = _create_user(tmp_path, "--role", "super_admin", "--password", ADMIN_PASSWORD)

    assert result.returncode == 0, result.stderr
    assert "super_admin" in result.stdout
    application = create_app(
        make_config(
            tmp_path,
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'seed.sqlite'}",
            EXECUTOR_AUTOSTART=False,
        )
    )
    client = application.test_client()
    tokens = client.post("/api/login", json={"username": "root", "password": ADMIN_PASSWORD})
    assert tokens.status_code == 200
    assert tokens.get_json()["user"]["role"] == "super_admin"
    headers = {"Authorization": f"Bearer {tokens.get_json()['access_token']}"}
    assert client.get("/api/users", headers=headers).status_code == 200


def test_create_user_command_password_from_prompt(seeded_db, tmp_path):
    flask = [sys.executable, "-m", "flask", "--app", "app"]

    result = subprocess.run(
        [*flask, "create-user", "root", "root@example.com", "--role", "admin"],
        cwd=BACKEND,
        env=_env(tmp_path),
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert ADMIN_PASSWORD not in result.stdout


def test_reset_mfa_command_lets_the_only_super_admin_in_again(seeded_db, tmp_path):
    """The one super admin lost the authenticator: the operator clears it from the shell."""
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    created = _create_user(tmp_path, "--role", "super_admin", "--password", ADMIN_PASSWORD)
    assert created.returncode == 0, created.stderr
    with sqlite3.connect(seeded_db) as conn:  # MFA on, as a confirmed enrolment leaves it
        conn.execute(
            "UPDATE users SET mfa_enabled_at = '2026-01-01 00:00:00.000000',"
            " mfa_secret_encrypted = 'v1:sealed' WHERE username = 'root'"
        )

    declined = _run([*flask, "reset-mfa", "root"], tmp_path)  # no input: the prompt says no
    result = _run([*flask, "reset-mfa", "root", "--yes"], tmp_path)

    assert declined.returncode != 0
    assert result.returncode == 0, result.stderr
    assert "root" in result.stdout
    with sqlite3.connect(seeded_db) as conn:
        row = conn.execute(
            "SELECT mfa_enabled_at, mfa_secret_encrypted, tokens_valid_after FROM users"
            " WHERE username = 'root'"
        ).fetchone()
        audit = conn.execute(
            "SELECT actor_id, details FROM audit_log WHERE event = 'mfa_reset'"
        ).fetchall()
    assert row[:2] == (None, None) and row[2] is not None
    assert audit == [(None, '{"via": "cli"}')]


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_create_user_command_short_password_fails(app):
    result = _cli(app, "create-user", "root", "root@example.com", "--password", "short")

    assert result.exit_code != 0
    assert "8 to 128" in result.output


def test_create_user_command_duplicate_fails_cleanly(app):
    _cli(app, "create-user", "root", "root@example.com", "--password", ADMIN_PASSWORD)

    result = _cli(app, "create-user", "root", "root@example.com", "--password", ADMIN_PASSWORD)

    assert result.exit_code == 1
    assert "already registered" in result.output and result.exception.__class__ is SystemExit


def test_create_user_command_common_password_fails(app):
    result = _cli(app, "create-user", "root", "root@example.com", "--password", "iloveyou")

    assert result.exit_code == 1 and "too common" in result.output


def test_generate_key_command_prints_a_usable_key(app):
    from config import decode_encryption_key

    result = _cli(app, "generate-key")

    assert result.exit_code == 0
    assert len(decode_encryption_key(result.output.strip())) == 32
