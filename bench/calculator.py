"""Position-size calculator throughput: the pure function and POST /api/calculate.

Run from the repository root: ``python bench/calculator.py [--seconds 2]``. Each figure is
printed next to a trivial baseline measured in the same run: for the pure function, building
the same dataclasses and returning; for the endpoint, GET /api/me through the same Flask test
client with the same JWT (auth, database read of the caller, JSON out). The live row sizes
through an account on the in-process simulator (no added latency).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))

GOLD_TRADE = {
    "order_type": "pending",
    "entry": "2350.00",
    "stop_loss": "2340.00",
    "take_profits": [
        {"price": "2360.00", "share_percent": "34"},
        {"price": "2370.00", "share_percent": "33"},
        {"price": "2380.00", "share_percent": "33"},
    ],
}
GOLD_REQUEST = {
    "account": {"currency": "USD", "balance": "10000", "free_margin": "10000", "leverage": "100"},
    "symbol": "XAUUSD",
    "risk": {"percent": "1"},
    "costs": {"commission_per_lot_per_side": "3.50"},
    "trade": GOLD_TRADE,
}


def per_second(run: Callable[[], Any], seconds: float) -> tuple[float, int]:
    """Microseconds per call and the number of calls, over about ``seconds``."""
    for _ in range(50):
        run()
    calls, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            run()
        calls += 20
    elapsed = time.perf_counter() - started
    return elapsed / calls * 1e6, calls


def pure_inputs() -> Callable[[], dict[str, Any]]:
    from services.calculation_service import AccountTerms, Costs, Policy, RiskSpec, TradePlan
    from services.mt5.catalog import catalog_spec

    spec = catalog_spec("XAUUSD")
    assert spec is not None

    def build() -> dict[str, Any]:
        return {
            "account": AccountTerms("USD", Decimal("10000"), None, Decimal("10000"), Decimal(100)),
            "spec": spec,
            "plan": TradePlan(
                stop_loss=Decimal("2340.00"),
                entry=Decimal("2350.00"),
                take_profits=[
                    (Decimal("2360.00"), Decimal(34)),
                    (Decimal("2370.00"), Decimal(33)),
                    (Decimal("2380.00"), Decimal(33)),
                ],
            ),
            "risk": RiskSpec(percent=Decimal(1)),
            "costs": Costs(Decimal("3.50")),
            "policy": Policy(),
        }

    return build


def bench_pure(seconds: float) -> list[tuple[str, float, int]]:
    from services.calculation_service import calculate_position

    build = pure_inputs()
    result = calculate_position(**build())
    assert result.lots == Decimal("0.09") and len(result.orders) == 3, result
    return [
        ("baseline: build the same dataclasses", *per_second(build, seconds)),
        (
            "calculate_position XAUUSD, 3 TPs",
            *per_second(lambda: calculate_position(**build()), seconds),
        ),
    ]


def build_app(tmp: Path) -> Any:
    from app import create_app, init_database

    config = {
        "TESTING": True, "BCRYPT_ROUNDS": 4, "RATELIMIT_ENABLED": False,
        "EXECUTOR_AUTOSTART": False, "LOG_DIR": tmp / "logs", "LOG_LEVEL": "WARNING",
        "MT5_SIM_DB": str(tmp / "sim.sqlite"), "MT5_SIM_LATENCY_MS": 0,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite'}",
    }  # fmt: skip
    init_database(config)
    return create_app(config)


def bench_endpoint(seconds: float) -> list[tuple[str, float, int]]:
    from extensions import db
    from models import User
    from utils.security import hash_password

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp))
        with app.app_context():
            db.session.add(User(username="bench", email="bench@bench.local",
                                password_hash=hash_password("bench password 123", 4)))  # fmt: skip
            db.session.commit()
        client = app.test_client()
        token = client.post(
            "/api/login", json={"username": "bench", "password": "bench password 123"}
        ).get_json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        account = client.post("/api/accounts", headers=headers, json={
            "account_name": "bench", "login": "70000001", "password": "sim-pass",
            "server": "Sim-Demo", "account_type": "demo",
        }).get_json()  # fmt: skip
        live = {"account_id": account["id"], "symbol": "XAUUSD", "risk": {"percent": "1"},
                "trade": {"stop_loss": "2300.00"}}  # fmt: skip

        def post(body: dict[str, Any]) -> Callable[[], None]:
            def run() -> None:
                response = client.post("/api/calculate", json=body, headers=headers)
                assert response.status_code == 200, response.get_json()

            return run

        def me() -> None:
            assert client.get("/api/me", headers=headers).status_code == 200

        rows = [
            ("baseline: GET /api/me (JWT)", *per_second(me, seconds)),
            ("POST /api/calculate XAUUSD, 3 TPs", *per_second(post(GOLD_REQUEST), seconds)),
            ("POST /api/calculate account_id (sim)", *per_second(post(live), seconds)),
        ]
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        return rows


def report(title: str, rows: list[tuple[str, float, int]]) -> None:
    print(f"\n{title}")
    print(f"  {'case':<40} {'us/op':>10} {'ops/s':>10} {'x baseline':>11} {'calls':>8}")
    base = rows[0][1]
    for name, micros, calls in rows:
        print(
            f"  {name:<40} {micros:>10.1f} {1e6 / micros:>10.0f} {micros / base:>11.2f} {calls:>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per case")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}; {args.seconds:g} s per case")
    report("Pure function", bench_pure(args.seconds))
    report("Endpoint (Flask test client, SQLite)", bench_endpoint(args.seconds))


if __name__ == "__main__":
    main()
