"""The first order after a restart, with and without the session keeper, measured over HTTP.

Run from the repository root: ``python bench/keeper_restart.py [--n 100] [--latency-ms 50]``
(N up to 100, what one send_orders takes).
One user with N simulated accounts (each call to the simulated terminal takes --latency-ms).
The production server (``python app.py``, FLASK_ENV=production, SQLite, embedded executor) is
started as a subprocess three times on the same files:

1. a first start that creates the accounts over HTTP (and lets the keeper open them);
2. a restart with the keeper off (SESSION_KEEPER_ENABLED=false): POST /api/send_orders to all N
   accounts at once, timed until every fill is back (the cold baseline: every account pays
   initialize, login, its symbol list and spec on the order's own path);
3. a restart with the keeper on: the time until GET /api/accounts shows every account
   connected, then the same send_orders, timed the same way.

Printed: both first sends after a restart, their ratio, the keeper's attach time, and the
reference points from the same latency: the limit (one round trip) and the sequential baseline
(N round trips).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"
PASSWORD = "keeper bench password 123"
MT5_PASSWORD = "Mt5-S3cret!pass"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(tmp: Path, latency_ms: int, *, keeper: bool) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin", "FLASK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48), "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": (tmp / "key").read_text(), "BCRYPT_ROUNDS": "12",
        "DATABASE_PATH": str(tmp / "bench.sqlite"), "DATABASE_URL": "",
        "LOG_DIR": str(tmp / "logs"), "LOG_LEVEL": "WARNING",
        "MT5_SIM_DB": str(tmp / "sim.sqlite"), "MT5_SIM_LATENCY_MS": str(latency_ms),
        "RATELIMIT_ENABLED": "false", "HOST": "127.0.0.1", "PORT": str(free_port()),
        "EXECUTOR": "threads", "SESSION_KEEPER_ENABLED": "true" if keeper else "false",
        "NOTIFY_ENABLED": "false", "AUTOMATION_ENABLED": "false", "PYTHONUNBUFFERED": "1",
    }  # fmt: skip


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = urllib3.PoolManager(retries=False, timeout=120)
        self.token = ""

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        response = self.http.request(method, self.base_url + path, body=data, headers=headers)
        return response.status, (json.loads(response.data) if response.data else None)

    def log_in(self, username: str) -> None:
        status, body = self.call("POST", "/api/login", {"username": username, "password": PASSWORD})
        assert status == 200, body
        self.token = body["access_token"]


@contextmanager
def server(tmp: Path, latency_ms: int, *, keeper: bool) -> Iterator[tuple[Api, float]]:
    """The server up; yields its client and the moment it was started (perf_counter)."""
    env = server_env(tmp, latency_ms, keeper=keeper)
    started = time.perf_counter()
    with (tmp / "server-output.txt").open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=BACKEND, env=env, stdout=sink, stderr=sink
        )
        api = Api(f"http://127.0.0.1:{env['PORT']}")
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise SystemExit((tmp / "server-output.txt").read_text()[-3000:])
                try:
                    if api.call("GET", "/api/status")[0] == 200:
                        break
                except urllib3.exceptions.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.05)
            yield api, started
        finally:
            process.terminate()
            process.wait(30)


def connected(api: Api, since: datetime | None = None) -> int:
    """Accounts connected (at a heartbeat of this server's, when ``since`` is given)."""
    status, body = api.call("GET", "/api/accounts")
    assert status == 200, body
    return sum(
        a["connection_status"] == "connected"
        and (since is None or datetime.fromisoformat(a["checked_at"]) >= since)
        for a in body["accounts"]
    )


def send_to_all(api: Api, account_ids: list[int]) -> float:
    body = {"account_ids": account_ids, "symbol": "XAUUSD", "side": "buy", "volume": "0.01",
            "wait_s": 30}  # fmt: skip
    started = time.perf_counter()
    status, result = api.call("POST", "/api/send_orders", body)
    elapsed = time.perf_counter() - started
    assert status in (200, 201), result
    outcomes = {t["status"] for t in result["targets"]}
    assert outcomes == {"executed"}, outcomes
    return elapsed


def run(n: int, latency_ms: int) -> None:
    with tempfile.TemporaryDirectory(prefix="keeper-bench-") as directory:
        tmp = Path(directory)
        (tmp / "key").write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        username = f"keeper{secrets.token_hex(3)}"
        with server(tmp, latency_ms, keeper=True) as (api, _):
            status, body = api.call("POST", "/api/register", {
                "username": username, "email": f"{username}@bench.example.com",
                "password": PASSWORD,
            })  # fmt: skip
            assert status == 201, body
            api.log_in(username)
            ids = []
            for i in range(n):
                status, body = api.call("POST", "/api/accounts", {
                    "account_name": f"bench {i}", "login": str(70_000_000 + i),
                    "password": MT5_PASSWORD, "server": "Sim-Demo",
                })  # fmt: skip
                assert status == 201, body
                ids.append(body["id"])
            while connected(api) < n:  # the simulator opens each account on its first login
                time.sleep(0.2)

        with server(tmp, latency_ms, keeper=False) as (api, _):
            api.log_in(username)
            cold = send_to_all(api, ids)

        restarted = datetime.now(UTC)
        with server(tmp, latency_ms, keeper=True) as (api, started):
            api.log_in(username)
            # The rows still show the first run's looks: wait for this server's own.
            while connected(api, since=restarted) < n:
                time.sleep(0.05)
            attached = time.perf_counter() - started
            warm = send_to_all(api, ids)
            steady = send_to_all(api, ids)

    limit, sequential = latency_ms / 1000, n * latency_ms / 1000
    print(f"N={n} accounts, simulated round trip {latency_ms} ms, embedded executor, SQLite")
    print(f"  first send after a restart, keeper off (cold): {cold:7.3f} s")
    print(f"  first send after a restart, keeper on (warm):  {warm:7.3f} s"
          f"   cold/warm = {cold / warm:.1f}x")  # fmt: skip
    print(f"  a later send on the same server:               {steady:7.3f} s")
    print(f"  keeper: every account connected {attached:.2f} s after the server was started")
    print(f"  limit (one round trip): {limit:.3f} s; sequential baseline (N round trips): "
          f"{sequential:.3f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=50)
    args = parser.parse_args()
    if not 1 <= args.n <= 100:
        parser.error("--n: send_orders takes 1 to 100 accounts (bench/broadcast_fanout.py: more)")
    run(args.n, args.latency_ms)


if __name__ == "__main__":
    main()
