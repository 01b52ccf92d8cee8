"""Logs: request ids on every line and in X-Request-ID, and never a secret in the file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from factories import PASSWORD, login, make_account, make_user


def _log_text(app) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return (Path(app.config["LOG_DIR"]) / "trading_server.log").read_text(encoding="utf-8")


def test_response_carries_generated_request_id(client):
    response = client.get("/api/status")

    assert len(response.headers["X-Request-ID"]) == 32


def test_response_echoes_well_formed_request_id(client):
    response = client.get("/api/status", headers={"X-Request-ID": "trace-abc.123"})

    assert response.headers["X-Request-ID"] == "trace-abc.123"


def test_response_replaces_malformed_request_id(client):
    for malformed in ("bad id <script>", "x" * 65):
        response = client.get("/api/status", headers={"X-Request-ID": malformed})

        assert response.headers["X-Request-ID"] != malformed
        assert len(response.headers["X-Request-ID"]) == 32


def test_error_response_carries_request_id(client):
    assert "X-Request-ID" in client.get("/api/nowhere").headers


def test_log_line_carries_request_id(client, app):
    client.get("/api/status", headers={"X-Request-ID": "req-log-check-42"})

    lines = [line for line in _log_text(app).splitlines() if "req-log-check-42" in line]
    assert any("GET /api/status 200" in line for line in lines)


def test_log_json_format_is_one_object_per_line(client, app, tmp_path, migrated_sqlite):
    import shutil

    from app import create_app
    from factories import make_config

    directory = tmp_path / "json"
    directory.mkdir()
    shutil.copy(migrated_sqlite, directory / "db.sqlite")
    application = create_app(make_config(directory, LOG_FORMAT="json", EXECUTOR_AUTOSTART=False))

    application.test_client().get("/api/status", headers={"X-Request-ID": "json-line"})

    entries = [json.loads(line) for line in _log_text(application).splitlines()]
    access = [e for e in entries if e["request_id"] == "json-line"]
    assert access and access[0]["logger"] == "access"
    assert access[0]["time"].endswith("+00:00")


def test_log_file_after_secret_flow_holds_no_secret(client, app):
    user = make_user(app)
    client.post(
        "/api/register",
        json={"username": "logcheck", "email": "l@example.com", "password": "register-secret-pass"},
    )
    tokens = login(client, user.username)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = client.post("/api/me/api_key", headers=headers).get_json()["api_key"]
    make_account(client, headers, password="Mt5-log-secret")
    client.get("/api/me", headers={"X-API-Key": key})
    client.post("/api/login", json={"username": user.username, "password": "typo-secret-pass"})
    client.post(
        "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "new-secret-passphrase"},
        headers=headers,
    )
    client.post("/api/logout", headers=headers)

    text = _log_text(app)
    assert "POST /api/login" in text  # the flow was logged at all
    for secret in (
        PASSWORD,
        "register-secret-pass",
        "typo-secret-pass",
        "new-secret-passphrase",
        "Mt5-log-secret",
        key,
        tokens["access_token"],
        tokens["refresh_token"],
    ):
        assert secret not in text
