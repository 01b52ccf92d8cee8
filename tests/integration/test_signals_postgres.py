"""Signal resends on PostgreSQL: concurrent copies of one body meet at the signals table's
unique (token, resend_key), with no lock in the process (serialised_writes does nothing there)."""

from __future__ import annotations

import threading
from typing import Any

from factories import (
    TEST_CONFIG,
    account_body,
    auth_headers,
    make_account,
    make_config,
    make_user,
    sim_broker_of,
)

TEXT = "XAUUSD BUY NOW SL 2300 TP1 2400 TP2 2410 LOT 0.02"


def test_concurrent_copies_of_a_signal_make_one_dispatch_on_postgresql(tmp_path, pg_url):
    from app import create_app, init_database
    from sqlalchemy import func, select

    from extensions import db
    from models import Dispatch, Signal

    config = {**make_config(tmp_path), **TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": pg_url}
    init_database(config)
    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        follower = make_user(app)
        headers = auth_headers(client, follower)
        body = account_body(copy_enabled=True)
        broker = sim_broker_of(app.extensions["mt5_gateway"])
        broker.create_account(int(body["login"]), body["password"], body["server"])
        make_account(client, headers, subscribed=True, **body)
        provider = auth_headers(client, make_user(app, role="super_admin"))
        token = client.post("/api/me/signal_token", json={"name": "pg"}, headers=provider)
        path = f"/hooks/signals/{token.get_json()['token']}"
        db.session.remove()
        answers: list[Any] = []
        start = threading.Barrier(8)

        def post() -> None:
            with app.app_context():
                start.wait()
                answers.append(
                    app.test_client().post(
                        path, data=TEXT.encode(), headers={"Content-Type": "text/plain"}
                    )
                )
                db.session.remove()

        threads = [threading.Thread(target=post) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert [a.status_code for a in answers] == [202] * 8, [a.get_json() for a in answers]
        assert len({a.get_json()["dispatch_id"] for a in answers}) == 1
        assert sum(not a.get_json()["resent"] for a in answers) == 1
        assert db.session.scalar(select(func.count()).select_from(Signal)) == 1
        broadcasts = select(func.count()).where(Dispatch.kind == "broadcast")
        assert db.session.scalar(broadcasts) == 1
        signal = db.session.scalars(select(Signal)).one()
        assert signal.dispatch_id == answers[0].get_json()["dispatch_id"]
        app.extensions["executor_stop"]()
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()
