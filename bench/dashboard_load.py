"""Dashboard page loads in a real browser: the first page and the broadcast page of N targets.

Run from the repository root after ``make web``: ``python bench/dashboard_load.py [--targets
1000] [--runs 5]``. Starts ``python app.py`` on a free port of 127.0.0.1 with a temporary SQLite
database holding a super admin and N users with one copying account each, sends a broadcast to
all of them and waits until it is final; then drives Debian's Chromium (Playwright) and prints
the median of each figure over the runs, each run in a fresh browser context (nothing cached):

- ``/`` (the login page): first paint, first contentful paint, DOMContentLoaded, load, and the
  bytes it transferred;
- the broadcast page ``/#/broadcasts/<id>`` of a logged-in super admin, from navigation start to
  every target row on screen (the page restores the session from its cookie, reads the
  broadcast's N targets and renders them; the page's User Timing mark ``mt5:targets-rendered``,
  set after that paint), to when Playwright's polling saw the rows (which adds its polling
  interval and waits for the page's next free moment: the results below load meanwhile), and
  to the end of the targets' download;
- baselines from the same run: a navigation to ``/api/status`` (a small JSON document) and to a
  static file (``/docs/static/docs.css``), with the ratios of the dashboard's figures to them.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"
sys.path[:0] = [str(BACKEND), str(ROOT)]
# Debian's Chromium with the browser tests' flags (nothing of its own goes to the network).
from tests.browser.conftest import CHROMIUM, chromium_flags  # noqa: E402

PASSWORD = "bench password 123"  # bench/broadcast_fanout.py's users' password
PAINT_TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paints = performance.getEntriesByType("paint").map(p => [p.name, p.startTime]);
  const paint = Object.fromEntries(paints);
  const resources = performance.getEntriesByType("resource");
  const bytes = resources.reduce((n, r) => n + r.transferSize, nav.transferSize);
  return {
    first_paint: paint["first-paint"] ?? null,
    first_contentful_paint: paint["first-contentful-paint"] ?? null,
    dom_content_loaded: nav.domContentLoadedEventEnd,
    load: nav.loadEventEnd,
    bytes,
  };
}"""


def server_env(tmp: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_", "MT5_"))}
    env.update(
        {
            "FLASK_ENV": "development",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_PATH": str(tmp / "bench.sqlite"),
            "MT5_SIM_DB": str(tmp / "sim.sqlite"),
            "LOG_DIR": str(tmp / "logs"),
            "LOG_LEVEL": "WARNING",
            "BCRYPT_ROUNDS": "4",
            "RATELIMIT_ENABLED": "false",
            "MFA_REQUIRED_ROLES": "",
        }
    )
    return env


def seed(env: dict[str, str], targets: int) -> None:
    """The fan-out benchmark's super admin and ``targets`` traders with one account each,
    straight into the database before the server starts."""
    os.environ.update(env)
    from app import create_app, init_database
    from broadcast_fanout import make_targets

    from extensions import db

    init_database()
    app = create_app({"EXECUTOR_AUTOSTART": False})
    with app.app_context():
        make_targets(app, targets)
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def call(url: str, body: Any = None, token: str | None = None) -> Any:
    import json

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read().decode())


@contextmanager
def running_server(targets: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        tmp = Path(directory)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = server_env(tmp, port)
        seed(env, targets)
        with (tmp / "server.out").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=BACKEND, env=env, stdout=log, stderr=log
            )
            url = f"http://127.0.0.1:{port}"
            try:
                for _ in range(300):
                    try:
                        call(url + "/api/status")
                        break
                    except OSError:
                        time.sleep(0.2)
                yield url
            finally:
                process.terminate()
                process.wait(timeout=10)


def broadcast_to_all(url: str) -> int:
    """A broadcast to every account, waited for until final; its id."""
    login = {"username": "bench_admin", "password": PASSWORD}
    token = call(url + "/api/login", login)["access_token"]
    body = {
        "targets": {"all": True},
        "order": {"symbol": "XAUUSD", "side": "buy", "deviation": 100},
        "sizing": {"mode": "fixed_volume", "volume": "0.01"},
        "expires_in_s": 600,
    }
    broadcast_id = int(call(url + "/api/broadcast_orders", body, token)["broadcast_id"])
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        view = call(
            f"{url}/api/broadcast_status?broadcast_id={broadcast_id}&per_page=1", None, token
        )
        if view["counts"]["pending"] + view["counts"]["in_flight"] == 0:
            print(f"broadcast {broadcast_id}: {view['total']} targets, {view['counts']}")
            return broadcast_id
        time.sleep(0.5)
    raise RuntimeError("the broadcast did not finish in 10 minutes")


def in_fresh_context(
    browser: Any, url: str, measure: Callable[[Any], dict[str, float]]
) -> dict[str, float]:
    context = browser.new_context(base_url=url, viewport={"width": 1360, "height": 900})
    try:
        return measure(context.new_page())
    finally:
        context.close()


def navigation(path: str) -> Callable[[Any], dict[str, float]]:
    def measure(page: Any) -> dict[str, float]:
        page.goto(path, wait_until="load")
        page.wait_for_timeout(50)  # let the paint entries land
        return dict(page.evaluate(PAINT_TIMINGS))

    return measure


def broadcast_page(broadcast_id: int, rows: int) -> Callable[[Any], dict[str, float]]:
    def measure(page: Any) -> dict[str, float]:
        page.goto("/")
        page.fill("input[name=username]", "bench_admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=MT5 accounts")
        page.goto(f"/#/broadcasts/{broadcast_id}")
        page.reload()  # a cold page: the session from the cookie, then the broadcast
        # A selector, not wait_for_function: the page's CSP refuses the eval that would need.
        page.wait_for_selector(f"[data-testid=targets] tbody tr:nth-child({rows})", timeout=120_000)
        seen = page.evaluate("() => performance.now()")
        # The page's own mark, set after the paint with every row (Playwright's polling of the
        # selector adds up to its polling interval to ``seen``).
        rendered = page.evaluate(
            "() => performance.getEntriesByName('mt5:targets-rendered').map(m => m.startTime)[0]"
        )
        fetched = page.evaluate(
            """() => performance.getEntriesByType("resource")
                .filter(r => r.name.includes("/api/broadcast_status"))
                .map(r => r.responseEnd)[0]"""
        )
        return {
            "rows_on_screen": rendered if rendered is not None else seen,
            "rows_seen_by_playwright": seen,
            "targets_fetched": fetched,
            **page.evaluate(PAINT_TIMINGS),
        }

    return measure


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs if r[k] is not None) for k in runs[0]}


def show(name: str, figures: dict[str, float]) -> None:
    parts = [
        f"{k} {v / 1024:.0f} KiB" if k == "bytes" else f"{k} {v:.0f} ms" for k, v in figures.items()
    ]
    print(f"{name:32} " + ", ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (ROOT / "web" / "dist" / "index.html").is_file():
        raise SystemExit("the dashboard is not built: run `make web` first")
    from playwright.sync_api import sync_playwright

    with running_server(args.targets) as url, sync_playwright() as playwright:
        broadcast_id = broadcast_to_all(url)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_flags())
        pages = {
            "baseline /api/status": navigation("/api/status"),
            "baseline /docs/static/docs.css": navigation("/docs/static/docs.css"),
            "/ (login page)": navigation("/"),
            f"broadcast page, {args.targets} targets": broadcast_page(broadcast_id, args.targets),
        }
        results = {}
        for name, measure in pages.items():
            in_fresh_context(browser, url, measure)  # warm the server's caches, not the browser's
            results[name] = median_of(
                [in_fresh_context(browser, url, measure) for _ in range(args.runs)]
            )
            show(name, results[name])
        browser.close()
    base = results["baseline /api/status"]["dom_content_loaded"]
    home = results["/ (login page)"]
    print(
        f"ratios to /api/status DOMContentLoaded ({base:.0f} ms): / DOMContentLoaded "
        f"{home['dom_content_loaded'] / base:.1f}x, / first contentful paint "
        f"{home['first_contentful_paint'] / base:.1f}x, broadcast page rows on screen "
        f"{results[f'broadcast page, {args.targets} targets']['rows_on_screen'] / base:.1f}x"
    )


if __name__ == "__main__":
    main()
