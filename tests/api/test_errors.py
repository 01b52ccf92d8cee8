"""One JSON error envelope for everything: bad JSON, wrong types, routing, size, crashes."""

from __future__ import annotations

import json
import shutil

import pytest
from factories import account_body, assert_error, auth_headers, make_config, make_user


def _post_raw(client, path, data, content_type="application/json", headers=None):
    return client.post(path, data=data, content_type=content_type, headers=headers or {})


def test_post_malformed_json_is_bad_request(client):
    response = _post_raw(client, "/api/login", '{"username": "a", ')

    assert_error(response, 400, "invalid_json")


def test_post_duplicate_keys_is_bad_request(client):
    body = '{"username": "a", "username": "b", "password": "xxxxxxxxxx"}'

    assert_error(_post_raw(client, "/api/login", body), 400, "invalid_json")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_post_non_finite_number_is_bad_request(client, app, constant):
    headers = auth_headers(client, make_user(app))
    body = '{"account_name": "a", "login": "1", "password": "p", "server": "s", '
    body += f'"risk_percent": {constant}}}'

    assert_error(_post_raw(client, "/api/accounts", body, headers=headers), 400, "invalid_json")


def test_post_huge_exponent_number_is_rejected(client, app):
    headers = auth_headers(client, make_user(app))
    body = account_body()
    body["risk_percent"] = "__NUM__"
    raw = json.dumps(body).replace('"__NUM__"', "1e400")

    response = _post_raw(client, "/api/accounts", raw, headers=headers)

    assert_error(response, 422, "validation_error")


def test_post_very_long_number_is_bad_request(client):
    assert_error(
        _post_raw(client, "/api/login", '{"username": ' + "9" * 5000 + "}"), 400, "invalid_json"
    )


def test_post_true_for_string_is_rejected(client):
    response = client.post("/api/login", json={"username": True, "password": "xxxxxxxxxx"})

    error = assert_error(response, 422, "validation_error")
    assert "username" in str(error["details"])


def test_post_true_for_page_number_is_rejected(client, app):
    headers = auth_headers(client, make_user(app, role="admin"))

    assert_error(client.get("/api/users?page=true", headers=headers), 422, "validation_error")


def test_post_overlong_string_is_rejected(client):
    response = client.post("/api/login", json={"username": "a" * 10_000, "password": "x"})

    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("body", ["null", "[]", '"text"', "42"])
def test_post_non_object_body_is_rejected(client, body):
    response = _post_raw(client, "/api/login", body)

    assert_error(response, 422, "validation_error")


def test_post_empty_json_body_is_rejected(client):
    assert_error(_post_raw(client, "/api/login", ""), 422, "validation_error")


def test_post_wrong_content_type_is_unsupported(client):
    response = _post_raw(client, "/api/login", "username=a&password=b", "text/plain")

    assert_error(response, 415, "unsupported_media_type")


def test_post_form_encoded_body_is_unsupported(client):
    response = client.post("/api/login", data={"username": "a", "password": "b"})

    assert_error(response, 415, "unsupported_media_type")


def test_get_unknown_route_is_json_not_found(client):
    response = client.get("/api/nothing-here")

    assert_error(response, 404, "not_found")
    assert b"<html" not in response.data.lower()


def test_get_unknown_non_api_route_is_json_not_found(client):
    assert_error(client.get("/nothing-here"), 404, "not_found")


def test_wrong_method_is_json_method_not_allowed(client):
    response = client.delete("/api/login")

    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_post_body_over_limit_is_payload_too_large(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    body = '{"username": "' + "a" * 2048 + '", "password": "x"}'

    assert_error(_post_raw(client, "/api/login", body), 413, "payload_too_large")


@pytest.fixture
def crashing_client(tmp_path, migrated_sqlite):
    from app import create_app

    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    application = create_app(make_config(tmp_path, EXECUTOR_AUTOSTART=False))

    @application.get("/api/test-crash")
    def crash():
        raise RuntimeError("secret internals /etc/passwd Traceback")

    with application.app_context():
        yield application.test_client()


def test_unexpected_exception_is_internal_error_without_internals(crashing_client):
    response = crashing_client.get("/api/test-crash")

    assert_error(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "internals" not in text and "RuntimeError" not in text


def test_every_response_carries_security_headers(client):
    response = client.get("/api/status")

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
