"""Broadcast fan-out measured from outside: the production server over HTTP, N target accounts.

Run from the repository root: ``python bench/broadcast_http.py [--repeat 3] [--latency-ms 50]
[--postgres] [--celery]``. Starts ``FLASK_ENV=production python app.py`` (waitress, the embedded
executor, the simulated broker with MT5_SIM_LATENCY_MS=50 per terminal round trip) on a temporary
SQLite file as a subprocess; ``--postgres`` uses a fresh schema in database ``test`` on
127.0.0.1 (dropped afterwards), ``--celery`` runs the orders in one Celery worker (``--pool
threads``, its own simulator file, Redis database ``BENCH_REDIS_DB``, default 11, so it does not
share a queue with the test suite's).

Set-up, all over HTTP: a super admin (``flask create-user``, as an operator would), traders who
register, log in and add 1000 simulated accounts between them; one broadcast to all of them, not
measured, logs every terminal session in; then the bench waits until ``/metrics`` counts every
session ``connected`` (the session keeper has attached and looked at each account: a thousand
accounts added within seconds are still being attached for a moment after). Its heartbeats go on
during the rows, as on any trading day. Then, in one run, each row of the table:

- ``warm 10 / 100 / 1000``: a broadcast to the first N accounts, sessions warm (``--repeat``
  times each, 1000 ``--poll-pairs`` times (6) when the poll row follows; the median and the
  range are printed);
- ``poll 1000``: the same as ``warm 1000`` while one more client reads
  ``GET /api/broadcast_status?broadcast_id=`` (its default page) in a loop, 10 ms between an
  answer and the next request (each answer read whole and its status checked; not parsed, which
  on this machine would take the server's CPU); the slowdown against ``warm 1000`` of the same
  run, ``--poll-pairs`` polled broadcasts, each sent right after a warm one (every broadcast
  adds a position per account and rows to the ledger, so a block of polled broadcasts after the
  warm block would also be measuring the fuller books);
- ``cold 1000``: the server is stopped and started again on the same database and simulator, and
  the first broadcast is sent as soon as ``/api/status`` answers (whatever this build does to
  have sessions ready by then is in the figure).

**Done**, precisely: every target row of the broadcast is final (executed, placed, failed,
skipped, expired or cancelled; none pending or in flight). The server stamps that moment: the
transaction that records the last outcome sets the dispatch's ``finished_at`` (status and counts
with it). The figure is ``finished_at`` minus the bench's wall clock just before it sent the
POST (same machine, same clock). The bench observes it by reading
``GET /api/broadcast_status?broadcast_id=&per_page=1`` every 50 ms until ``finished_at`` is set,
then checks the counts: every target executed, none failed (``seen`` is when that read
came back, an upper bound). The warm rows also print the CPU time per order of the server
process and of its simulator process (from /proc, every thread). Each row is printed next to the
limit (one round trip: all targets in parallel) and the sequential baseline (N round trips, one
after another) from the same latency.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import (
    BACKEND,
    PASSWORD,
    free_port,
    postgres_schema,
    server_env,
)

GOALS = {"warm 10": 0.065, "warm 100": 0.10, "warm 1000": 0.50, "cold 1000": 0.60}
POLL_GOAL = 0.10  # at most 10 % slower than warm 1000 without the poller
TRADERS = 4


class Http:
    """One keep-alive connection to the server; JSON in and out."""

    def __init__(self, base_url: str, token: str = "") -> None:
        host, port = base_url.split("//")[1].split(":")
        self.pool = urllib3.HTTPConnectionPool(
            host, port=int(port), maxsize=1, retries=False, timeout=urllib3.Timeout(60)
        )
        self.token = token

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        data = self.raw(method, path, body, expect)
        return json.loads(data) if data else None

    def raw(self, method: str, path: str, body: Any = None, expect: int = 200) -> bytes:
        """The answer's body, read whole and not parsed, once its status is ``expect``."""
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self.pool.request(
            method, path, body=None if body is None else json.dumps(body), headers=headers
        )
        if response.status != expect:
            raise SystemExit(f"{method} {path}: {response.status} {response.data[:300]!r}")
        return bytes(response.data)

    def login(self, username: str) -> None:
        self.token = ""
        body = {"username": username, "password": PASSWORD}
        self.token = self.call("POST", "/api/login", body)["access_token"]


@dataclass
class Server:
    env: dict[str, str]
    output: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PORT']}"

    def start(self) -> None:
        sink = self.output.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=BACKEND, env=self.env, stdout=sink, stderr=sink
        )
        http = urllib3.PoolManager(retries=False, timeout=2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited:\n{self.output.read_text()[-3000:]}")
            try:
                if http.request("GET", f"{self.base_url}/api/status").status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"server did not answer in 60 s:\n{self.output.read_text()[-3000:]}")

    def cpu_seconds(self) -> tuple[float, float]:
        """The server process's CPU time so far, user and system (every thread)."""
        if self.process is None:
            return 0.0, 0.0
        return _cpu_of(self.process.pid)

    def children_cpu_seconds(self) -> float:
        """The CPU time so far of the server's running children (the simulator process)."""
        if self.process is None:
            return 0.0
        found = Path(f"/proc/{self.process.pid}/task").glob("*/children")
        pids = {int(pid) for path in found for pid in path.read_text().split()}
        return sum(sum(_cpu_of(pid)) for pid in pids if Path(f"/proc/{pid}").exists())

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _cpu_of(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


@contextmanager
def celery_worker(env: dict[str, str], tmp: Path) -> Iterator[None]:
    worker_env = {**env, "MT5_SIM_DB": str(tmp / "sim-worker.sqlite"), "PORT": ""}
    command = [sys.executable, "-m", "celery", "-A", "wsgi:celery", "worker", "--pool", "threads"]
    command += ["--concurrency", "128", "--loglevel", "WARNING", "-Q", "ledger"]
    with (tmp / "worker-output.txt").open("wb") as sink:
        worker = subprocess.Popen(command, cwd=BACKEND, env=worker_env, stdout=sink, stderr=sink)
        try:
            time.sleep(4)
            if worker.poll() is not None:
                raise SystemExit((tmp / "worker-output.txt").read_text()[-3000:])
            yield
        finally:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def create_super_admin(env: dict[str, str]) -> str:
    name = "bench_admin"
    command = [sys.executable, "-m", "flask", "--app", "app:create_app", "create-user", name]
    command += ["admin@bench.example.com", "--role", "super_admin", "--password", PASSWORD]
    subprocess.run(
        command, cwd=BACKEND, env={**env, "LOG_LEVEL": "WARNING"}, check=True, capture_output=True
    )
    return name


def add_accounts(base_url: str, n: int) -> list[int]:
    """TRADERS users register and add n simulated accounts between them, in parallel."""
    ids: list[list[int]] = [[] for _ in range(TRADERS)]

    def trader(k: int) -> None:
        http = Http(base_url)
        name = f"trader_{k}_{uuid.uuid4().hex[:6]}"
        http.call(
            "POST",
            "/api/register",
            {"username": name, "email": f"{name}@bench.example.com", "password": PASSWORD},
            expect=201,
        )
        http.login(name)
        for i in range(k, n, TRADERS):
            body = {
                "account_name": f"acc{i}",
                "login": str(60_000_000 + i),
                "password": "Mt5-S3cret!pass",
                "server": "Sim-Demo",
                "account_type": "demo",
            }
            made = http.call("POST", "/api/accounts", body, expect=201)["id"]
            # Broadcast opens reach only accounts whose owner opted in, as a follower does.
            http.call("PUT", f"/api/accounts/{made}/subscription", {"accept_terms": True})
            ids[k].append(made)

    threads = [threading.Thread(target=trader, args=(k,)) for k in range(TRADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = sorted(i for chunk in ids for i in chunk)
    if len(found) != n:
        raise SystemExit(f"set-up: {len(found)} of {n} accounts added")
    return found


def broadcast(
    admin: Http, account_ids: list[int], on_created: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """POST one broadcast to these accounts and wait until it is done (see the docstring)."""
    body = {
        "targets": {"account_ids": account_ids},
        "order": {"symbol": "XAUUSD", "side": "buy", "volume": "0.01"},
        "sizing": {"mode": "fixed_volume", "volume": "0.01"},
        "expires_in_s": 120,
    }
    started = time.time()
    created = admin.call("POST", "/api/broadcast_orders", body, expect=202)
    accepted = time.time() - started
    broadcast_id = created["broadcast_id"]
    if on_created is not None:
        on_created(broadcast_id)
    while True:
        time.sleep(0.05)
        view = admin.call("GET", f"/api/broadcast_status?broadcast_id={broadcast_id}&per_page=1")
        if view["finished_at"] is not None:
            break
        if time.time() - started > 300:
            raise SystemExit(f"broadcast {broadcast_id} not done within 300 s: {view['counts']}")
    seen = time.time() - started
    counts = {k: v for k, v in view["counts"].items() if v}
    open_rows = view["counts"].get("pending", 0) + view["counts"].get("in_flight", 0)
    if open_rows or view["total"] != len(account_ids):
        raise SystemExit(f"broadcast {broadcast_id} finished with open rows: {counts}")
    done = datetime.fromisoformat(view["finished_at"]).timestamp() - started
    every = admin.call("GET", f"/api/broadcast_status?broadcast_id={broadcast_id}&per_page=1000")
    first = min(datetime.fromisoformat(t["executed_at"]).timestamp() for t in every["targets"])
    return {
        "accepted": accepted,
        "first": first - started,
        "id": broadcast_id,
        "done": done,
        "seen": seen,
        "failed": len(account_ids) - view["counts"].get("executed", 0),
        "counts": counts,
    }


def wait_attached(server: Server, n: int, timeout: float = 120.0) -> float:
    """Wait until /metrics counts n sessions connected; how long that took."""
    http = urllib3.PoolManager(retries=False, timeout=10)
    headers = {"Authorization": f"Bearer {server.env['METRICS_TOKEN']}"}
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        text = http.request("GET", f"{server.base_url}/metrics", headers=headers).data.decode()
        if f'mt5_sessions{{state="connected"}} {float(n)}' in text:
            return time.monotonic() - started
        time.sleep(0.2)
    raise SystemExit(f"sessions not all connected within {timeout:.0f} s")


class Poller:
    """One client reading a broadcast's status in a loop, 10 ms between answer and request."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = Http(base_url, token)
        self.broadcast_id = 0
        self.reads = 0
        self.seconds: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.broadcast_id:
                started = time.perf_counter()
                # The answer is read whole and its status checked, not parsed: on this 2-core
                # machine the client's own JSON parsing would be CPU taken from the server.
                path = f"/api/broadcast_status?broadcast_id={self.broadcast_id}"
                if not self.http.raw("GET", path):
                    raise SystemExit(f"poll: GET {path} answered 200 with no body")
                self.seconds.append(time.perf_counter() - started)
                self.reads += 1
            self._stop.wait(0.01)

    def start(self) -> None:
        self._thread.start()

    def follow(self, broadcast_id: int) -> None:
        self.reads, self.seconds = 0, []
        self.broadcast_id = broadcast_id

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def polled_broadcast(base_url: str, admin: Http, account_ids: list[int]) -> dict[str, Any]:
    """Like broadcast(), while the poller reads it (from its 202 on; the previous broadcast,
    which costs the same to read, until then)."""
    poller = Poller(base_url, admin.token)
    poller.broadcast_id = admin.call("GET", "/api/broadcast_status")["broadcasts"][0][
        "broadcast_id"
    ]
    poller.start()
    time.sleep(0.1)
    try:
        result = broadcast(admin, account_ids, on_created=poller.follow)
    finally:
        poller.stop()
    result["reads"] = poller.reads
    result["read_p50_ms"] = statistics.median(poller.seconds) * 1000 if poller.seconds else 0
    return result


# Where a sampled stack's CPU goes: the innermost frame in one of these (library frames count
# for the project code that called them, e.g. SQLAlchemy under ledger/store.py is ledger).
CATEGORIES = (
    ("simulator", ("/mt5sim/",)),
    ("gateway", ("/services/mt5/",)),
    ("sizing", ("/ledger/sizing.py", "/services/calculation/")),
    ("ledger", ("/ledger/", "/workers/", "/services/metrics", "/services/notifications")),
    ("http+api", ("/api/", "/schemas/", "/services/", "/waitress/", "/werkzeug/", "/flask")),
)


@contextmanager
def profiled(server: Server, out: Path | None, orders: int) -> Iterator[None]:
    """py-spy samples the server (only the thread holding the GIL: the process's Python CPU)
    while the block runs; then prints the per-order CPU by category."""
    if out is None or server.process is None:
        yield
        return
    spy = shutil.which("py-spy") or os.environ.get("PY_SPY", "py-spy")
    raw = out.with_suffix(".raw")
    rate = int(os.environ.get("PROFILE_RATE", "200"))
    # --nonblocking: py-spy pausing every thread for each sample slowed the server 5x.
    command = [spy, "record", "--pid", str(server.process.pid), "--nonblocking"]
    command += ["--gil"] if os.environ.get("PROFILE_GIL", "1") == "1" else []
    command += ["--rate", str(rate), "--format", "raw", "-o", str(raw), "--full-filenames"]
    recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        recorder.wait(30)
    print_split(raw, orders, rate=rate)


def print_split(raw: Path, orders: int, *, rate: int) -> None:
    samples: dict[str, int] = dict.fromkeys([c for c, _ in CATEGORIES] + ["other"], 0)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        category = "other"
        for frame in reversed(frames):
            path = frame.rpartition("(")[2]
            found = next((c for c, marks in CATEGORIES if any(m in path for m in marks)), None)
            if found:
                category = found
                break
        samples[category] += int(count)
    total = sum(samples.values())
    per_order = {c: n / rate / orders * 1000 for c, n in samples.items()}
    parts = ", ".join(f"{c} {ms:.3f}" for c, ms in per_order.items())
    print(
        f"  profile ({raw}): {total / rate:.2f} s of GIL-held CPU for {orders} orders = "
        f"{total / rate / orders * 1000:.3f} ms/order: {parts}",
        flush=True,
    )


def timeline(results: list[dict[str, Any]]) -> str:
    """Medians: the 202 came back, the first target was final, the bench saw it done."""
    return ", ".join(
        f"{what} {statistics.median(r[what] for r in results):.3f}s"
        for what in ("accepted", "first", "seen")
    )


def row(name: str, figures: list[float], n: int, latency: float, extra: str = "") -> None:
    median = statistics.median(figures)
    spread = f"{min(figures):.3f}-{max(figures):.3f}" if len(figures) > 1 else ""
    goal = GOALS.get(name)
    verdict = "" if goal is None else ("meets" if median <= goal else "OVER")
    goal_text = f"{goal:.3f}s" if goal is not None else "-"
    print(
        f"{name:<11} {median:>8.3f}s {spread:>13} {latency:>7.3f}s {n * latency:>10.1f}s "
        f"{n * latency / median:>8.1f}x {goal_text:>7} {verdict:<6} {extra}",
        flush=True,
    )


def run(server: Server, args: argparse.Namespace, tmp: Path) -> None:
    latency = args.latency_ms / 1000
    server.start()
    admin_name = create_super_admin(server.env)
    worker = celery_worker(server.env, tmp) if args.celery else nullcontext()
    with worker:
        ids = measure_warm(server, args, admin_name)
    if args.only_1000:
        return
    server.stop()  # and the worker: the restart of a deploy, same database and simulator
    server.start()
    with celery_worker(server.env, tmp) if args.celery else nullcontext():
        admin = Http(server.base_url)
        admin.login(admin_name)
        cold = broadcast(admin, ids)
    row("cold 1000", [cold["done"]], 1000, latency, f"{timeline([cold])} {cold['counts']}")


def measure_warm(server: Server, args: argparse.Namespace, admin_name: str) -> list[int]:
    """Set up the accounts, warm their sessions, print the warm and polled rows."""
    latency = args.latency_ms / 1000
    ids = add_accounts(server.base_url, 1000)
    admin = Http(server.base_url)
    admin.login(admin_name)
    warm_up = broadcast(admin, ids)  # every terminal session logs in (and reads its spec)
    # Sessions warm: the keeper has looked at every account (a thousand accounts added within
    # seconds are still being attached for a while after; that catch-up is not a warm server).
    attached = wait_attached(server, len(ids))
    print(
        f"set-up: 1000 accounts, {TRADERS} traders; warm-up broadcast {warm_up['done']:.3f}s "
        f"{warm_up['counts']}; every session connected {attached:.1f}s after it"
    )
    print(
        f"{'case':<11} {'done':>9} {'range':>13} {'limit':>8} {'sequential':>11} "
        f"{'x faster':>9} {'goal':>7} {'':<6} notes"
    )
    warm_1000: list[float] = []
    polled: list[dict[str, Any]] = []
    for n in (10, 100, 1000) if not args.only_1000 else (1000,):
        # The polled broadcasts go between the warm ones: every broadcast leaves a position on
        # each account and rows in the ledger, so a block of polled broadcasts after the warm
        # block would meet a fuller simulator and database and read as slower for that alone.
        interleave = n == 1000 and not args.only_1000 and args.profile is None
        results, spent, simulator = [], [0.0, 0.0], 0.0
        # A ratio of two medians wants more samples than one median: 1000 is sent poll-pairs
        # times when the polled broadcasts go between (three pairs read +8 % to +18 % of one
        # and the same build, eight pairs +3 % to +7 %).
        rounds = max(args.repeat, args.poll_pairs) if interleave else args.repeat
        with profiled(server, args.profile if n == 1000 else None, n * rounds):
            for _ in range(rounds):
                cpu, child = server.cpu_seconds(), server.children_cpu_seconds()
                results.append(broadcast(admin, ids[:n]))
                for k, (after, before) in enumerate(zip(server.cpu_seconds(), cpu, strict=True)):
                    spent[k] += after - before
                simulator += server.children_cpu_seconds() - child
                if interleave:
                    polled.append(polled_broadcast(server.base_url, admin, ids))
        user, system = (seconds / (n * rounds) * 1000 for seconds in spent)
        figures = [r["done"] for r in results]
        if n == 1000:
            warm_1000 = figures
        failed = sum(r["failed"] for r in results)
        notes = (
            f"{timeline(results)}, server CPU {user + system:.2f} ms/order "
            f"({system:.2f} system), simulator process {simulator / (n * rounds) * 1000:.2f}, "
            f"failed {failed}"
        )
        row(f"warm {n}", figures, n, latency, notes)
    if args.only_1000:
        return ids
    if not polled:  # profiled: the polled broadcasts after the warm ones
        polled = [polled_broadcast(server.base_url, admin, ids) for _ in range(args.repeat)]
    figures = [r["done"] for r in polled]
    slower = statistics.median(figures) / statistics.median(warm_1000) - 1
    reads = sum(r["reads"] for r in polled) // len(polled)
    read_ms = statistics.median(r["read_p50_ms"] for r in polled)
    verdict = "meets" if slower <= POLL_GOAL else "OVER"
    row(
        "poll 1000",
        figures,
        1000,
        latency,
        f"{slower:+.0%} vs warm 1000 (goal <= +10%: {verdict}); {reads} reads a broadcast, "
        f"p50 {read_ms:.1f} ms; failed {sum(r['failed'] for r in polled)}",
    )
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="broadcasts per warm row")
    parser.add_argument(
        "--poll-pairs", type=int, default=6, help="warm + polled pairs of 1000 (the poll row)"
    )
    parser.add_argument("--latency-ms", type=int, default=50, help="simulated round trip")
    parser.add_argument("--postgres", action="store_true", help="database test on 127.0.0.1")
    parser.add_argument("--celery", action="store_true", help="one Celery worker runs orders")
    parser.add_argument("--only-1000", action="store_true", help="only the warm 1000 row")
    parser.add_argument(
        "--profile",
        type=Path,
        help="record the server with py-spy during the warm 1000 row into this file (.raw) and "
        "print the per-order CPU split into ledger, sizing, gateway, simulator, http+api",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        database = postgres_schema() if args.postgres else nullcontext("")
        with database as database_url:
            env = server_env(tmp, free_port(), database_url, args.latency_ms)
            env["LOG_LEVEL"] = "WARNING"
            env["METRICS_TOKEN"] = uuid.uuid4().hex
            if args.celery:
                redis_db = os.environ.get("BENCH_REDIS_DB", "11")
                env.update(
                    EXECUTOR="celery", CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{redis_db}"
                )
            print(
                f"server: FLASK_ENV=production python app.py, "
                f"{'PostgreSQL' if args.postgres else 'SQLite'}, executor "
                f"{'celery (1 worker)' if args.celery else 'embedded threads'}, simulator "
                f"latency {args.latency_ms} ms",
                flush=True,
            )
            server = Server(env, tmp / "server-output.txt")
            try:
                run(server, args, tmp)
            finally:
                server.stop()
            text = server.output.read_text(errors="replace")
            print(f"tracebacks in server output: {text.count('Traceback')}")


if __name__ == "__main__":
    main()
