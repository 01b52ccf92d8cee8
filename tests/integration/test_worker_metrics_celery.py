"""A real Celery worker serves its order figures on its own port; the web reads the ledger."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import test_ledger_celery as ledger_celery
from ledger_helpers import new_dispatch, seed_accounts, wait_final

# The scale-out stack of the ledger tests: PostgreSQL, Redis and real worker processes.
redis_url, scale_out = ledger_celery.redis_url, ledger_celery.scale_out
start_worker, stop = ledger_celery.start_worker, ledger_celery.stop

TOKEN = "worker-scrape-token-for-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def scrape_until(port: int, ready, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, text = scrape(port)
            if status == 200 and ready(text):
                return text
        except OSError:  # not listening yet
            pass
        assert time.monotonic() < deadline, "worker metrics never showed the figures"
        time.sleep(0.1)


def value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


EXECUTED = 'mt5_orders_total{retcode="10009",status="executed"}'


def test_worker_endpoint_and_web_ledger_gauge_count_the_celery_fills(scale_out):
    app, env = scale_out
    admin, accounts = seed_accounts(app, 3)
    port = free_port()
    worker = start_worker({**env, "WORKER_METRICS_PORT": str(port), "METRICS_TOKEN": TOKEN})
    try:
        before = scrape_until(port, lambda text: "# TYPE mt5_orders_total counter" in text)
        dispatch_id = new_dispatch(app, admin, accounts)
        app.extensions["executor"].submit_dispatch(dispatch_id)
        rows = wait_final(dispatch_id, timeout=60)
        after = scrape_until(port, lambda text: value(text, EXECUTED) >= 3)
        anonymous, _ = scrape(port, token=None)
    finally:
        stop(worker)

    assert {r.status for r in rows} == {"executed"}
    assert value(before, EXECUTED) == 0
    assert value(after, EXECUTED) == 3
    assert value(after, "broadcast_fanout_seconds_count") == 3
    assert anonymous == 401
    web = app.test_client().get("/metrics").get_data(as_text=True)
    assert value(web, 'mt5_order_rows{retcode="10009",status="executed"}') == 3
    assert value(web, EXECUTED) == 0  # the web process executed none of them
