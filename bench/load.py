"""Load: N concurrent clients against the server started as in production, over real HTTP.

Run from the repository root: ``python bench/load.py [--seconds 60] [--clients 50]
[--compare-seconds 10] [--postgres] [--latency-ms 0]``. Starts ``FLASK_ENV=production python
app.py`` (waitress) on a temporary SQLite file, or with ``--postgres`` on a fresh schema in
database ``test`` on 127.0.0.1, with generated secrets and BCRYPT_ROUNDS=12. Each client
registers, logs in and adds a simulated MT5 account, then loops over a weighted mix of login,
calculate, accounts, send_orders, broadcast status and /api/status. Prints: the 5xx count,
"database is locked" lines in the server's output, p50/p99 latency and requests/s per endpoint;
then, in phases of the same run, /api/calculate alone against two trivial JSON baselines alone:
/api/status (no authentication) and /api/me (the same JWT check and user load as calculate), and
the throughput ratios (target >= 0.7).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "backend"
PASSWORD = "load test password 123"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CALCULATE_BODY = {
    "account": {"currency": "USD", "balance": "10000", "leverage": "100"},
    "symbol": "XAUUSD",
    "risk": {"percent": "1"},
    "trade": {
        "order_type": "pending",
        "entry": "2350.00",
        "stop_loss": "2340.00",
        "take_profits": [
            {"price": "2360.00", "share_percent": "50"},
            {"price": "2370.00", "share_percent": "50"},
        ],
    },
}
# endpoint -> weight in the mix (calculate and the reads dominate, as in use)
MIX = {
    "login": 4,
    "calculate": 30,
    "accounts": 20,
    "send_orders": 8,
    "broadcast_status": 8,
    "status": 30,
}


@dataclass
class Results:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: list[str] = field(default_factory=list)

    def add(self, endpoint: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies[endpoint].append(seconds)
            self.statuses[endpoint][status] += 1


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(tmp: Path, port: int, database_url: str, latency_ms: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_"))}
    env.update(
        FLASK_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        API_KEY_PEPPER=secrets.token_urlsafe(48),
        ENCRYPTION_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        BCRYPT_ROUNDS="12",
        DATABASE_PATH=str(tmp / "load.sqlite"),
        DATABASE_URL=database_url,
        LOG_DIR=str(tmp / "logs"),
        MT5_SIM_DB=str(tmp / "sim.sqlite"),
        MT5_SIM_LATENCY_MS=str(latency_ms),
        MT5_DEFAULT_TERMINAL="sim://default",
        RATELIMIT_ENABLED="false",
        HOST="127.0.0.1",
        PORT=str(port),
        EXECUTOR="threads",
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def postgres_schema() -> Iterator[str]:
    import sqlalchemy as sa

    schema = f"load_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    output: Path
    log_dir: Path

    def server_text(self) -> str:
        texts = [self.output.read_text(errors="replace")]
        texts += [p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log*"))]
        return "\n".join(texts)


@contextmanager
def production_server(tmp: Path, database_url: str, latency_ms: int) -> Iterator[Server]:
    port = free_port()
    env = server_env(tmp, port, database_url, latency_ms)
    output = tmp / "server-output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=BACKEND, env=env, stdout=sink, stderr=sink
        )
        server = Server(f"http://127.0.0.1:{port}", env, output, tmp / "logs")
        try:
            wait_until_up(server, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(server: Server, process: subprocess.Popen[bytes]) -> None:
    http = urllib3.PoolManager(retries=False, timeout=2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{server.output.read_text()[-3000:]}")
        try:
            if http.request("GET", f"{server.base_url}/api/status").status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server did not answer in 60 s:\n{server.output.read_text()[-3000:]}")


def create_super_admin(server: Server) -> str:
    name = "load_admin"
    command = [sys.executable, "-m", "flask", "--app", "app:create_app", "create-user", name]
    command += ["admin@load.example.com", "--role", "super_admin", "--password", PASSWORD]
    env = {**server.env, "LOG_LEVEL": "WARNING"}
    subprocess.run(command, cwd=BACKEND, env=env, check=True, capture_output=True)
    return name


# --- the clients ------------------------------------------------------------------------------


class Client:
    """One simulated user: its own keep-alive connection, token and MT5 account."""

    def __init__(self, base_url: str, results: Results, username: str | None = None) -> None:
        self.http = urllib3.HTTPConnectionPool(
            base_url.split("//")[1].split(":")[0],
            port=int(base_url.rsplit(":", 1)[1]),
            maxsize=1,
            retries=False,
            timeout=urllib3.Timeout(connect=5, read=60),
        )
        self.results = results
        self.username = username or f"load_{uuid.uuid4().hex[:10]}"
        self.token = ""
        self.admin_token = ""
        self.account_id = 0

    def call(self, endpoint: str, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if endpoint == "broadcast_status":
            headers = {"Authorization": f"Bearer {self.admin_token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            response = self.http.request(
                method, path, body=json.dumps(body) if body is not None else None, headers=headers
            )
        except urllib3.exceptions.HTTPError as exc:
            self.results.add(endpoint, 0, time.perf_counter() - started)
            with self.results.lock:
                self.results.errors.append(f"{endpoint}: {type(exc).__name__}: {exc}")
            return None
        self.results.add(endpoint, response.status, time.perf_counter() - started)
        if response.status >= 400:
            with self.results.lock:
                self.results.errors.append(f"{endpoint}: {response.status} {response.data[:200]!r}")
            return None
        return json.loads(response.data) if response.data else None

    def set_up(self) -> None:
        body = {"username": self.username, "email": f"{self.username}@load.example.com"}
        self.call("register", "POST", "/api/register", {**body, "password": PASSWORD})
        self.login()
        account = self.call(
            "add_account",
            "POST",
            "/api/accounts",
            {
                "account_name": "load",
                "login": str(10_000_000 + uuid.uuid4().int % 1_000_000),
                "password": "Mt5-S3cret!pass",
                "server": "Sim-Demo",
                "broker": "Simulated",
                "account_type": "demo",
            },
        )
        self.account_id = account["id"] if account else 0

    def login(self) -> None:
        tokens = self.call(
            "login", "POST", "/api/login", {"username": self.username, "password": PASSWORD}
        )
        if tokens:
            self.token = tokens["access_token"]

    def run_endpoint(self, endpoint: str) -> None:
        actions: dict[str, Callable[[], Any]] = {
            "login": self.login,
            "calculate": lambda: self.call("calculate", "POST", "/api/calculate", CALCULATE_BODY),
            "accounts": lambda: self.call("accounts", "GET", "/api/accounts"),
            "send_orders": lambda: self.call(
                "send_orders",
                "POST",
                "/api/send_orders",
                {
                    "account_ids": [self.account_id],
                    "symbol": "XAUUSD",
                    "side": random.choice(["buy", "sell"]),
                    "volume": "0.01",
                },
            ),
            "broadcast_status": lambda: self.call(
                "broadcast_status", "GET", "/api/broadcast_status"
            ),
            "status": lambda: self.call("status", "GET", "/api/status"),
            "me": lambda: self.call("me", "GET", "/api/me"),
        }
        actions[endpoint]()


def run_phase(clients: list[Client], seconds: float, pick: Callable[[], str]) -> float:
    """Every client loops on ``pick()`` until the time is up; returns the elapsed seconds."""
    stop = time.monotonic() + seconds

    def loop(client: Client) -> None:
        while time.monotonic() < stop:
            client.run_endpoint(pick())

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def set_up_clients(server: Server, n: int, results: Results) -> list[Client]:
    admin = Client(server.base_url, results, create_super_admin(server))
    admin.login()
    clients = [Client(server.base_url, results) for _ in range(n)]
    threads = [threading.Thread(target=c.set_up) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.admin_token = admin.token
    return clients


# --- the report -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_table(results: Results, elapsed: float) -> None:
    print(f"{'endpoint':<18}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    total = 0
    for endpoint in sorted(results.latencies):
        values = results.latencies[endpoint]
        total += len(values)
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(results.statuses[endpoint].items()))
        print(
            f"{endpoint:<18}{len(values):>9}{len(values) / elapsed:>9.1f}"
            f"{percentile(values, 0.5) * 1000:>9.1f}{percentile(values, 0.99) * 1000:>9.1f}"
            f"  {statuses}"
        )
    print(f"{'total':<18}{total:>9}{total / elapsed:>9.1f}")


def count_5xx(results: Results) -> int:
    return sum(n for per in results.statuses.values() for s, n in per.items() if s >= 500 or s == 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="the mixed phase")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--compare-seconds", type=float, default=10, help="each of calculate-only, status-only"
    )
    parser.add_argument("--postgres", action="store_true", help="database test on 127.0.0.1")
    parser.add_argument("--latency-ms", type=int, default=0, help="simulated terminal latency")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        database = postgres_schema() if args.postgres else _sqlite_url()
        with database as database_url, production_server(tmp, database_url, args.latency_ms) as s:
            run(s, args)


@contextmanager
def _sqlite_url() -> Iterator[str]:
    yield ""  # DATABASE_URL empty: the temporary DATABASE_PATH


def run(server: Server, args: argparse.Namespace) -> None:
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"server: FLASK_ENV=production python app.py (waitress), {backend}, BCRYPT_ROUNDS=12")
    setup = Results()
    clients = set_up_clients(server, args.clients, setup)
    if count_5xx(setup) or not all(c.token and c.account_id for c in clients):
        raise SystemExit(f"set-up failed: {setup.errors[:5]}")

    mixed = Results()
    for client in clients:
        client.results = mixed
    names, weights = list(MIX), list(MIX.values())
    print(f"\n== mixed: {args.clients} clients for {args.seconds:.0f} s, weights {MIX}")
    elapsed = run_phase(clients, args.seconds, lambda: random.choices(names, weights)[0])
    print_table(mixed, elapsed)

    rates = {}
    for endpoint in ("status", "me", "calculate"):
        alone = Results()
        for client in clients:
            client.results = alone
        took = run_phase(clients, args.compare_seconds, lambda e=endpoint: e)  # type: ignore[misc]
        rates[endpoint] = len(alone.latencies[endpoint]) / took
        mixed.errors += alone.errors
        for status, n in alone.statuses[endpoint].items():
            mixed.statuses[f"{endpoint} (alone)"][status] += n
        print(
            f"\n== {endpoint} alone: {rates[endpoint]:.1f} req/s, "
            f"p50 {statistics.median(alone.latencies[endpoint]) * 1000:.1f} ms"
        )
    print()
    for baseline, what in (("status", "unauthenticated"), ("me", "authenticated")):
        ratio = rates["calculate"] / rates[baseline]
        print(
            f"calculate / {baseline} ({what} trivial JSON) throughput ratio: {ratio:.2f} "
            f"({'meets' if ratio >= 0.7 else 'BELOW'} the 0.7 target)"
        )
    text = server.server_text()
    locked = text.lower().count("database is locked")
    tracebacks = text.count("Traceback")
    print(f"5xx (or no answer): {count_5xx(mixed)}")
    print(f'"database is locked" in server output and logs: {locked}')
    print(f"tracebacks in server output and logs: {tracebacks}")
    unexpected = [e for e in mixed.errors if not e.startswith("login: 401")]
    if unexpected:
        print(f"{len(unexpected)} non-2xx answers, first: {unexpected[:3]}")


if __name__ == "__main__":
    main()
