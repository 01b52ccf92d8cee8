"""Broadcast fan-out: time from POST /api/broadcast_orders to the last fill, N target accounts.

Run from the repository root: ``python bench/broadcast_fanout.py [--n 100 500 1000]
[--latency-ms 50] [--executor threads|celery] [--netting] [--then close]``. Prints, per N: time
to the last fill, the spread of fill times (first, median, p99, last), and the two reference points
measured from the same simulator latency: the sequential baseline (N round trips) and the limit
(one). ``--then close`` follows the broadcast with ``{"action": "close"}`` and prints the same
figures for the close, from the action request to the last position closed.
``--netting`` opens the simulated accounts as netting accounts (fills add to one position per
symbol; embedded executor only: a Celery worker has its own simulator file). The simulated
brokers run in their own process, as ``python app.py`` runs them (``MT5_SIM_PROCESS``), except
with ``--netting`` and ``--then breakeven``, which set the broker's accounts and quotes directly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))


def build_app(
    tmp: Path,
    latency_ms: int,
    executor: str,
    threads: int,
    db_url: str | None,
    sim_process: bool = True,
) -> Any:
    """The app as the product runs it (the simulator in its own process), or with the simulator
    in this process where the bench sets the broker's quotes or accounts itself."""
    from app import create_app, init_database

    config = {
        "TESTING": True,
        "BCRYPT_ROUNDS": 4,
        "RATELIMIT_ENABLED": False,
        "LOG_DIR": tmp / "logs",
        "LOG_LEVEL": "WARNING",
        "MT5_SIM_DB": str(tmp / "sim.sqlite"),
        "MT5_SIM_LATENCY_MS": latency_ms,
        "EXECUTOR": executor,
        "EXECUTOR_THREADS": threads,
        "MT5_SIM_PROCESS": sim_process,
        "SQLALCHEMY_DATABASE_URI": db_url or f"sqlite:///{tmp / 'bench.sqlite'}",
    }
    init_database(config)
    return create_app(config)


def make_targets(app: Any, n: int) -> tuple[Any, list[Any]]:
    from extensions import db, secret_box
    from models import User
    from services.accounts_service import create_account
    from services.subscriptions_service import subscribe
    from utils.security import hash_password

    pw = hash_password("bench password 123", 4)
    admin = User(
        username="bench_admin", email="admin@bench.local", password_hash=pw, role="super_admin"
    )
    db.session.add(admin)
    db.session.commit()
    accounts = []
    for i in range(n):
        owner = User(username=f"trader{i}", email=f"t{i}@bench.local", password_hash=pw)
        db.session.add(owner)
        db.session.flush()
        accounts.append(
            create_account(
                session=db.session,
                user=owner,
                box=secret_box(),
                default_terminal="sim://default",
                allowed_terminals=[],
                ip=None,
                fields={
                    "account_name": f"acc{i}",
                    "login": str(50_000_000 + i),
                    "password": "sim-pass",
                    "server": "Sim-Demo",
                    "account_type": "demo",
                },
            )
        )
        # Broadcasts reach subscribed accounts only: each trader opts in, as a follower does.
        subscribe(
            session=db.session, user=owner, account_id=accounts[-1].id, sizing=None,
            symbols=None, protection=None, terms_version="bench", ip=None,
        )  # fmt: skip
    return admin, accounts


def warm_up(app: Any, accounts: list[Any], *, netting: bool = False) -> None:
    """Log every account in once, as live terminals would be: the fan-out measures orders only."""
    from extensions import secret_box
    from services.accounts_service import account_password
    from services.mt5.dto import AccountRef

    gateway = app.extensions["mt5_gateway"]
    if netting:  # opened before the first login, which would open them as hedging accounts
        broker = gateway.sources.brokers.get("default")  # what its sim:// sessions trade on
        for account in accounts:
            broker.create_account(int(account.login), "sim-pass", account.server, margin_mode=0)
    box = secret_box()
    refs = [
        AccountRef(a.id, a.terminal, int(a.login), account_password(a, box), a.server)
        for a in accounts
    ]
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(lambda r: (gateway.connect(r), gateway.symbol_spec(r, "XAUUSD")), refs))


def fan_out(app: Any, admin_id: int, n: int, *, measured: bool = True) -> dict[str, Any]:
    body = {
        "targets": {"all": True},
        "order": {"symbol": "XAUUSD", "side": "buy", "volume": "0.01"},
        "sizing": {"mode": "fixed_volume", "volume": "0.01"},
        "expires_in_s": 120,
    }
    return timed(app, admin_id, n, "/api/broadcast_orders", body, "broadcast_id", measured)


def breakeven_after_tp1(app: Any, admin_id: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    """An open of two take-profit legs with ``breakeven_after_tp: 1``, then the quote that
    crosses TP1: the time from that quote to the last stop loss moved (the watcher polled at
    once; live, it reads quotes every AUTOMATION_TICK_MS, which comes on top)."""
    from services.automation import build_watcher

    broker = app.extensions["mt5_gateway"].sources.brokers.get("default")
    bid, ask = broker.prices.quote("XAUUSD")
    broker.set_quote("XAUUSD", bid, ask, freeze=True)
    tp1, tp2 = bid + Decimal("1.00"), bid + Decimal("5.00")
    body = {
        "targets": {"all": True},
        "order": {
            "symbol": "XAUUSD", "side": "buy", "volume": "0.02", "stop_loss": str(bid - 10),
            "take_profits": [{"price": str(tp1), "share_percent": "50"},
                             {"price": str(tp2), "share_percent": "50"}],
        },
        "sizing": {"mode": "fixed_volume", "volume": "0.02"},
        "automation": {"breakeven_after_tp": 1},
        "expires_in_s": 120,
    }  # fmt: skip
    opened = timed(app, admin_id, n, "/api/broadcast_orders", body, "broadcast_id", True)
    broker.set_quote("XAUUSD", tp1 + Decimal("0.10"), tp1 + Decimal("0.30"), freeze=True)
    watcher = build_watcher(app)
    moved = timed_by(app, lambda: _poll_for_action(watcher, opened["id"]))
    return [("open", opened), ("be", moved)]


def _poll_for_action(watcher: Any, dispatch_id: int) -> int:
    from extensions import db
    from models import Dispatch

    watcher.poll_once()
    action = db.session.query(Dispatch).filter_by(parent_id=dispatch_id).one()
    return int(action.id)


def close_all(app: Any, admin_id: int, broadcast_id: int, n: int) -> dict[str, Any]:
    url = f"/api/broadcasts/{broadcast_id}/actions"
    return timed(app, admin_id, n, url, {"action": "close"}, "action_id", True)


def timed(
    app: Any, admin_id: int, n: int, url: str, body: dict[str, Any], id_key: str, measured: bool
) -> dict[str, Any]:
    """POST the dispatch, wait until every row is final; when each row finished, from the POST."""
    from flask_jwt_extended import create_access_token

    from extensions import db

    client = app.test_client()
    token = create_access_token(identity=str(admin_id), additional_claims={"sid": "bench"})
    db.session.remove()  # the poll below must not drag a session full of set-up objects along
    started = time.time()
    response = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.get_json()
    return _until_final(response.get_json()[id_key], started, n, measured)


def timed_by(app: Any, start: Any) -> dict[str, Any]:
    """Time a dispatch that ``start()`` creates (and returns the id of) until it is final."""
    from extensions import db

    db.session.remove()
    started = time.time()
    dispatch_id = start()
    return _until_final(dispatch_id, started, 0, True)


def _until_final(dispatch_id: int, started: float, n: int, measured: bool) -> dict[str, Any]:
    from sqlalchemy import func, select

    from extensions import db
    from models import BroadcastQueue

    while True:
        db.session.rollback()
        left = db.session.scalar(
            select(func.count()).where(
                BroadcastQueue.dispatch_id == dispatch_id,
                BroadcastQueue.status.in_(("pending", "in_flight")),
            )
        )
        if not left:
            break
        if time.time() - started > 120:
            raise SystemExit("fan-out did not finish within 120 s")
        time.sleep(0.01)
    rows = db.session.execute(
        select(
            BroadcastQueue.status,
            BroadcastQueue.executed_at,
            BroadcastQueue.error_message,
            BroadcastQueue.attempts,
        ).where(BroadcastQueue.dispatch_id == dispatch_id)
    ).all()
    if not measured:
        return {"id": dispatch_id}
    errors = Counter(r.error_message for r in rows if r.status != "executed")
    if errors:
        print("  failures:", dict(errors.most_common(3)))
    executed = [r.executed_at.timestamp() - started for r in rows if r.status == "executed"]
    failed = len(rows) - len(executed)
    executed.sort()
    return {
        "id": dispatch_id,
        "n": n,
        "failed": failed,
        "last": executed[-1],
        "first": executed[0],
        "median": statistics.median(executed),
        "p99": executed[int(len(executed) * 0.99) - 1],
    }


def run_one(
    n: int,
    latency_ms: int,
    executor: str,
    threads: int,
    db_url: str | None,
    netting: bool,
    then: str | None,
) -> list[tuple[str, dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        in_process = netting or then == "breakeven"  # they reach into the broker
        app = build_app(tmp, latency_ms, executor, threads, db_url, sim_process=not in_process)
        worker = None
        with app.app_context():
            admin, accounts = make_targets(app, n)
            warm_up(app, accounts, netting=netting)
            admin_id = admin.id
            if executor == "celery":
                worker = start_worker(tmp, latency_ms, db_url)
            try:
                fan_out(app, admin_id, n, measured=False)  # the worker's terminal sessions log in
                if then == "breakeven":
                    results = breakeven_after_tp1(app, admin_id, n)
                else:
                    results = [("open", fan_out(app, admin_id, n))]
                if then == "close":
                    results.append(("close", close_all(app, admin_id, results[0][1]["id"], n)))
            finally:
                if worker is not None:
                    worker.terminate()
                    worker.wait(30)
                app.extensions["executor"].stop()
                app.extensions["mt5_gateway"].close()
        return results


def start_worker(tmp: Path, latency_ms: int, db_url: str | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EXECUTOR": "celery",
        "MT5_SIM_DB": str(tmp / "sim-worker.sqlite"),
        "MT5_SIM_LATENCY_MS": str(latency_ms),
        "LOG_DIR": str(tmp / "logs"),
        "DATABASE_URL": db_url or "",
        "DATABASE_PATH": str(tmp / "bench.sqlite"),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "wsgi",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "128",
            "--loglevel",
            "WARNING",
            "-Q",
            "ledger",
        ],
        cwd=ROOT / "backend",
        env=env,
    )
    time.sleep(3)
    return worker


@contextmanager
def postgres_schema(enabled: bool) -> Iterator[str | None]:
    if not enabled:
        yield None
        return
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--executor", default="threads", choices=["threads", "celery"])
    parser.add_argument(
        "--threads", type=int, default=int(os.environ.get("EXECUTOR_THREADS", "256"))
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="use a fresh schema in PostgreSQL database `test` on 127.0.0.1",
    )
    parser.add_argument("--netting", action="store_true", help="netting accounts (default hedging)")
    parser.add_argument(
        "--then",
        choices=["close", "breakeven"],
        help="close: close every position the broadcast opened; breakeven: open two TP legs "
        "with breakeven_after_tp 1, then cross TP1 and time the watcher's stop moves",
    )
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    print(
        f"executor={args.executor} threads={args.threads} simulator latency={args.latency_ms} ms "
        f"database={'postgresql' if args.postgres else 'sqlite'} "
        f"accounts={'netting' if args.netting else 'hedging'}"
    )
    print(
        f"{'N':>6} {'what':>6} {'last':>9} {'first':>8} {'median':>8} {'p99':>8} "
        f"{'sequential':>11} {'limit':>7} {'x faster':>9} {'failed':>7}"
    )
    for n in args.n:
        with postgres_schema(args.postgres) as db_url:
            results = run_one(
                n, args.latency_ms, args.executor, args.threads, db_url, args.netting, args.then
            )  # fmt: skip
        sequential = n * latency
        for what, r in results:
            print(
                f"{n:>6} {what:>6} {r['last']:>8.3f}s {r['first']:>7.3f}s {r['median']:>7.3f}s "
                f"{r['p99']:>7.3f}s {sequential:>10.1f}s {latency:>6.3f}s "
                f"{sequential / r['last']:>8.1f}x {r['failed']:>7}"
            )


if __name__ == "__main__":
    main()
