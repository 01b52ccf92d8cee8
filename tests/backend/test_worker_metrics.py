"""A Celery worker's own metrics endpoint: what it serves, its token, and when it cannot listen."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from services.metrics import get_metrics, serve_worker_metrics
from workers.celery_app import start_metrics_endpoint


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str = "/metrics", **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def served(app) -> Iterator[Any]:
    servers: list[Any] = []

    def serve(**config: Any) -> Any:
        app.config.update(config)
        server = start_metrics_endpoint(app)
        if server is not None:
            servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def record_orders(app) -> None:
    metrics = get_metrics(app)
    assert metrics is not None
    metrics.orders.labels("executed", "10009").inc(3)
    metrics.orders.labels("failed", "10019").inc()
    metrics.fanout_seconds.observe(0.2)


def test_endpoint_serves_the_executors_instruments_only(app, served):
    port = free_port()
    server = served(WORKER_METRICS_PORT=port, WORKER_METRICS_HOST="127.0.0.1")
    record_orders(app)

    status, text = get(port)

    assert server is not None and status == 200
    assert 'mt5_orders_total{retcode="10009",status="executed"} 3.0' in text
    assert 'mt5_orders_total{retcode="10019",status="failed"} 1.0' in text
    assert "broadcast_fanout_seconds_count 1.0" in text
    # no request figures (a worker answers none) and no database gauges (the web reports them)
    assert "http_requests" not in text and "broadcast_queue_rows" not in text


def test_endpoint_with_metrics_token_requires_it(app, served):
    port = free_port()
    served(WORKER_METRICS_PORT=port, METRICS_TOKEN="worker-scrape-token")

    anonymous, _ = get(port)
    wrong, _ = get(port, Authorization="Bearer nope")
    status, text = get(port, Authorization="Bearer worker-scrape-token")

    assert (anonymous, wrong, status) == (401, 401, 200)
    assert "mt5_orders_total" in text


@pytest.mark.parametrize("port", [0, None])
def test_endpoint_off_by_default(app, served, port):
    assert served(WORKER_METRICS_PORT=port) is None


def test_port_in_use_is_logged_and_the_worker_runs_on(app, served, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="workers.celery"):
            server = served(WORKER_METRICS_PORT=port)

    assert server is None
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text


def test_port_out_of_range_is_logged(app, served, caplog):
    with caplog.at_level(logging.ERROR, logger="workers.celery"):
        assert served(WORKER_METRICS_PORT=70000) is None

    assert "cannot listen on 127.0.0.1:70000" in caplog.text


def test_app_without_metrics_serves_nothing(app):
    app.extensions.pop("metrics")

    assert serve_worker_metrics(app, "127.0.0.1", free_port()) is None


def test_a_ready_worker_settles_its_heap(monkeypatch) -> None:
    import weakref

    from celery import signals

    from workers import celery_app

    settled: list[bool] = []
    monkeypatch.setattr(celery_app, "settle_heap", lambda: settled.append(True))
    receivers = [  # weak references resolved; strong ones (weak=False) as they are
        ref() if isinstance(ref, weakref.ReferenceType) else ref
        for _, ref in signals.worker_ready.receivers
    ]
    assert celery_app._settle_heap in receivers  # connected at import, as the worker loads it
    celery_app._settle_heap(sender=None)
    assert settled == [True]
