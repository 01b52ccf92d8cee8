"""The dashboard in a real browser: Playwright driving Debian's Chromium against a real server.

One server process per test module (``python app.py`` on a free port of 127.0.0.1, with its own
SQLite database and simulator file), one browser for the session, a fresh browser context
(cookies, storage) per test. Every test fails if the page sends a request to any host but
127.0.0.1 (such requests are also blocked) or logs a console error, except the failed requests
a test says it expects (``page_guard.expect(pattern, status)``).

Skipped, with the reason, when Chromium or the built dashboard is missing, unless
REQUIRE_SERVICES is set (CI): then they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
DIST = ROOT / "web" / "dist"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Debian's Chromium, headless, with nothing of its own that talks to the network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser test passphrase"
# `make screenshots` keeps them in docs/screenshots (the README shows them); a plain test run
# takes them all the same, into a scratch folder, so the tracked pictures change only on purpose.
SCREENSHOTS = Path(
    os.environ.get("DASHBOARD_SCREENSHOTS") or Path(tempfile.gettempdir()) / "dashboard-screenshots"
)
LOCAL_HOST = "127.0.0.1"


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(f"{reason}, and REQUIRE_SERVICES is set")
    pytest.skip(reason)


def chromium_flags() -> list[str]:
    return list(CHROMIUM_FLAGS)


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require(
        Path(CHROMIUM).is_file(),
        f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
    )
    _require((DIST / "index.html").is_file(), "the dashboard is not built (run `make web`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_flags())
        yield launched
        launched.close()


@dataclass
class PageGuard:
    """What a page did that a test did not ask for: foreign requests and console errors."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected: list[tuple[re.Pattern[str], int]] = field(default_factory=list)

    def expect(self, url_pattern: str, status: int) -> None:
        """A request to a URL matching ``url_pattern`` may fail with ``status`` (logged by
        Chromium as a console error) without failing the test."""
        self.expected.append((re.compile(url_pattern), status))

    def console(self, message: Any) -> None:
        if message.type != "error":
            return
        text, url = message.text, (message.location or {}).get("url", "")
        status = re.search(r"status of (\d{3})", text)
        for pattern, code in self.expected:
            if status and int(status.group(1)) == code and pattern.search(url):
                return
        self.errors.append(f"{text} ({url})")

    def route(self, route: Any) -> None:
        if urlparse(route.request.url).hostname == LOCAL_HOST:
            route.continue_()
        else:
            self.foreign.append(route.request.url)
            route.abort()


@pytest.fixture
def page_guard() -> PageGuard:
    return PageGuard()


@pytest.fixture
def page(browser: Any, server: Server, page_guard: PageGuard) -> Iterator[Any]:
    context = browser.new_context(
        base_url=server.url, locale="en-GB", viewport={"width": 1360, "height": 900}
    )
    context.set_default_timeout(15_000)
    context.route("**/*", page_guard.route)
    opened = context.new_page()
    opened.on("console", page_guard.console)
    opened.on("pageerror", lambda error: page_guard.errors.append(f"page error: {error}"))
    yield opened
    context.close()
    assert page_guard.foreign == [], "requests left 127.0.0.1"
    assert page_guard.errors == [], "console errors"


def screenshot(page: Any, name: str) -> None:
    """A picture of a main page, for docs/screenshots (see SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.fonts.ready.then(() => true)")  # the Thai font is fetched late
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


# --- the server --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL_HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def cli(self, *args: str) -> str:
        """Run ``flask ARGS`` against this server's database, as an operator would."""
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=BACKEND,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """One JSON request to the API (to set things up the way a test needs them)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read().decode() or "null")

    def user(self, role: str = "user", prefix: str = "u") -> str:
        """A new user of ``role`` with PASSWORD; its username."""
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        if role == "user":
            status, body = self.call(
                "POST",
                "/api/register",
                {"username": name, "email": f"{name}@example.com", "password": PASSWORD},
            )
            assert status == 201, body
        else:
            self.cli(
                "create-user", name, f"{name}@example.com", "--role", role, "--password", PASSWORD
            )
        return name

    def token(self, username: str) -> str:
        status, body = self.call("POST", "/api/login", {"username": username, "password": PASSWORD})
        assert status == 200, body
        return str(body["access_token"])


def _server_env(tmp: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "DATABASE_", "MT5_", "JWT_", "EXECUTOR"))
    }
    env.update(
        {
            "FLASK_ENV": "development",
            "HOST": LOCAL_HOST,
            "PORT": str(port),
            "DATABASE_PATH": str(tmp / "dashboard.sqlite"),
            "DATABASE_URL": "",
            "MT5_SIM_DB": str(tmp / "sim.sqlite"),
            "MT5_SIM_LATENCY_MS": "0",
            "LOG_DIR": str(tmp / "logs"),
            "LOG_LEVEL": "WARNING",
            "BCRYPT_ROUNDS": "4",
            "RATELIMIT_ENABLED": "false",
            "MFA_REQUIRED_ROLES": "",
            "EXECUTOR": "threads",
            "EXECUTOR_THREADS": "16",
            "WEB_DIST_DIR": str(DIST),
        }
    )
    return env


def start_server(tmp: Path, **settings: str) -> Server:
    port = _free_port()
    env = {**_server_env(tmp, port), **settings}
    log = (tmp / "server.out").open("wb")
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=BACKEND, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    server = Server(url=f"http://{LOCAL_HOST}:{port}", env=env, process=process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((tmp / "server.out").read_text())
        try:
            if server.call("GET", "/api/status")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not answer within 60 s")


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, browser: Any
) -> Iterator[Server]:
    """A real server process for this module's tests, with the module's SERVER_ENV settings (the
    browser fixture first: its checks decide whether the module runs at all)."""
    settings = getattr(request.module, "SERVER_ENV", {})
    started = start_server(tmp_path_factory.mktemp("dashboard"), **settings)
    yield started
    started.process.terminate()
    try:
        started.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        started.process.kill()


# --- steps every flow takes --------------------------------------------------------------------


def log_in(page: Any, username: str, password: str = PASSWORD) -> None:
    page.goto("/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("text=MT5 accounts")
