"""docs/security.md 6.2.12: the optional Have I Been Pwned range check, against a local fake server.

Only the 5-character SHA-1 prefix goes out; a breached password is refused at registration,
password change and `flask create-user`; the check is off by default and fails open (with a log
line holding neither the password nor its hash) when the service is slow, broken or absent.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from factories import PASSWORD, assert_error, auth_headers, log_text, make_user

BREACHED = "winter-is-coming-2024"  # not in the local common list; "breached" on the fake server
CLEAN = "an unbreached passphrase"


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest().upper()


class FakePwned:
    """A range API: GET /range/<prefix> answers suffix:count lines, padded with zero rows."""

    def __init__(self) -> None:
        self.breached: dict[str, int] = {}
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.delay_s = 0.0
        self.body_override: bytes | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append({"path": self.path, "headers": dict(self.headers)})
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                prefix = self.path.rsplit("/", 1)[-1]
                lines = [
                    f"{digest[5:]}:{count}"
                    for digest, count in fake.breached.items()
                    if digest.startswith(prefix)
                ]
                lines += [f"{'0' * 34}{n:01X}:0" for n in range(3)]  # padding rows
                body = fake.body_override or "\r\n".join(lines).encode()
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/range/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def breach(self, password: str, count: int = 42) -> None:
        self.breached[sha1(password)] = count

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_pwned() -> Iterator[FakePwned]:
    fake = FakePwned()
    fake.breach(BREACHED)
    yield fake
    fake.close()


@pytest.fixture
def checked_app(make_app: Any, fake_pwned: FakePwned) -> Iterator[Any]:
    application = make_app(
        PWNED_PASSWORDS_CHECK=True,
        PWNED_PASSWORDS_URL=fake_pwned.url,
        PWNED_PASSWORDS_TIMEOUT_MS=300,
    )
    with application.app_context():
        yield application


def _register(client: Any, password: str, name: str = "alice") -> Any:
    return client.post(
        "/api/register",
        json={"username": name, "email": f"{name}@example.com", "password": password},
    )


# --- the API ------------------------------------------------------------------------------------


def test_register_breached_password_is_refused(checked_app, fake_pwned):
    response = _register(checked_app.test_client(), BREACHED)

    error = assert_error(response, 422, "password_breached")
    assert "password" in error["details"]["json"]


def test_register_clean_password_is_accepted(checked_app, fake_pwned):
    assert _register(checked_app.test_client(), CLEAN).status_code == 201
    assert len(fake_pwned.requests) == 1


def test_only_the_five_character_prefix_leaves_the_server(checked_app, fake_pwned):
    _register(checked_app.test_client(), BREACHED)

    (request,) = fake_pwned.requests
    digest = sha1(BREACHED)
    assert request["path"] == f"/range/{digest[:5]}"
    assert digest[5:] not in request["path"] and BREACHED not in request["path"]
    assert request["headers"].get("Add-Padding") == "true"
    for value in request["headers"].values():
        assert digest[5:] not in value and BREACHED not in value


def test_change_password_to_a_breached_one_is_refused(checked_app, fake_pwned):
    client = checked_app.test_client()
    user = make_user(checked_app)

    response = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": BREACHED},
        headers=auth_headers(client, user),
    )

    assert_error(response, 422, "password_breached")


def test_common_password_is_refused_locally_without_asking(checked_app, fake_pwned):
    response = _register(checked_app.test_client(), "iloveyou")

    assert_error(response, 422, "password_too_common")
    assert fake_pwned.requests == []


def test_create_user_command_refuses_a_breached_password(checked_app, fake_pwned):
    result = checked_app.test_cli_runner().invoke(
        args=["create-user", "ops", "ops@example.com", "--password", BREACHED]
    )

    assert result.exit_code != 0
    assert "breach" in result.output


def test_check_is_off_by_default(make_app, fake_pwned):
    application = make_app(PWNED_PASSWORDS_URL=fake_pwned.url)
    with application.app_context():
        response = _register(application.test_client(), BREACHED)

    assert response.status_code == 201
    assert fake_pwned.requests == []


def test_login_never_asks_the_service(checked_app, fake_pwned):
    user = make_user(checked_app)

    checked_app.test_client().post(
        "/api/login", json={"username": user.username, "password": PASSWORD}
    )

    assert fake_pwned.requests == []


# --- failing open -------------------------------------------------------------------------------


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("failure", ["slow", "server_error", "refused", "garbage"])
def test_unavailable_service_fails_open_with_a_log_line_without_the_password(
    make_app, fake_pwned, failure
):
    url = fake_pwned.url
    if failure == "slow":
        fake_pwned.delay_s = 1.0
    elif failure == "server_error":
        fake_pwned.status = 503
    elif failure == "refused":
        url = f"http://127.0.0.1:{_unused_port()}/range/"
    else:
        fake_pwned.body_override = b"\x00\xff not a range answer"
    application = make_app(
        PWNED_PASSWORDS_CHECK=True, PWNED_PASSWORDS_URL=url, PWNED_PASSWORDS_TIMEOUT_MS=200
    )

    with application.app_context():
        started = time.monotonic()
        response = _register(application.test_client(), BREACHED)
        elapsed = time.monotonic() - started
        logs = log_text(application)

    assert response.status_code == 201  # accepted: the check fails open
    assert elapsed < 0.9  # the short timeout, not the slow server
    digest = sha1(BREACHED)
    assert BREACHED not in logs and digest not in logs and digest[5:] not in logs
    if failure != "garbage":  # a garbled answer is an answer without a match, not an outage
        assert "breached-password check unavailable" in logs


# --- the client on its own ----------------------------------------------------------------------


def test_breach_count_reads_the_count_and_ignores_padding(fake_pwned):
    from services.auth.passwords import PwnedPasswords

    fake_pwned.breach("another one", 7)
    check = PwnedPasswords(url=fake_pwned.url, timeout_s=1)

    assert check.breach_count(BREACHED) == 42
    assert check.breach_count("another one") == 7
    assert check.breach_count(CLEAN) == 0


def test_breach_count_unreachable_is_none():
    from services.auth.passwords import PwnedPasswords

    check = PwnedPasswords(url=f"http://127.0.0.1:{_unused_port()}/range/", timeout_s=0.2)

    assert check.breach_count(BREACHED) is None


@pytest.fixture
def no_env_file(monkeypatch, tmp_path):
    import config

    monkeypatch.setattr(config, "ENV_FILE", tmp_path / "absent.env")
    for name in ("PWNED_PASSWORDS_CHECK", "PWNED_PASSWORDS_URL", "PWNED_PASSWORDS_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)
    for name in ("JWT_FRESH_MINUTES", "MFA_ISSUER"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "https://api.pwnedpasswords.com/range/"),
        ("http://127.0.0.1:9999/range", "http://127.0.0.1:9999/range/"),
        ("https://mirror.example/range/", "https://mirror.example/range/"),
    ],
)
def test_config_pwned_url_defaults_and_gets_a_trailing_slash(no_env_file, value, expected):
    from config import load_config

    assert load_config({"PWNED_PASSWORDS_URL": value})["PWNED_PASSWORDS_URL"] == expected


@pytest.mark.parametrize("value", ["file:///etc/passwd", "ftp://example.com/", "range/"])
def test_config_pwned_url_must_be_http(no_env_file, value):
    from config import ConfigError, load_config

    with pytest.raises(ConfigError, match="PWNED_PASSWORDS_URL"):
        load_config({"PWNED_PASSWORDS_URL": value})


def test_config_new_auth_settings_have_safe_defaults(no_env_file):
    from config import load_config

    settings = load_config({})

    assert settings["PWNED_PASSWORDS_CHECK"] is False
    assert settings["PWNED_PASSWORDS_TIMEOUT_MS"] == 1500
    assert settings["JWT_FRESH_EXPIRES"].total_seconds() == 15 * 60
    assert settings["MFA_ISSUER"] == "MT5 Trading Server"


def test_config_new_auth_settings_are_read_from_the_environment(no_env_file, monkeypatch):
    from config import load_config

    monkeypatch.setenv("PWNED_PASSWORDS_CHECK", "true")
    monkeypatch.setenv("PWNED_PASSWORDS_TIMEOUT_MS", "800")
    monkeypatch.setenv("JWT_FRESH_MINUTES", "5")
    monkeypatch.setenv("MFA_ISSUER", "Acme Trading")

    settings = load_config()

    assert settings["PWNED_PASSWORDS_CHECK"] is True
    assert settings["PWNED_PASSWORDS_TIMEOUT_MS"] == 800
    assert settings["JWT_FRESH_EXPIRES"].total_seconds() == 5 * 60
    assert settings["MFA_ISSUER"] == "Acme Trading"
