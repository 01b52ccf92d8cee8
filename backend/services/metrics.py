"""Prometheus metrics: one registry per app, request and order instruments, scrape-time gauges.

Where the figures come from:

* request instruments: observed by the web process that answered (``api/metrics.py``);
* ``mt5_orders_total`` and ``broadcast_fanout_seconds``: observed by the process that records
  the outcomes, the embedded executor's or a Celery worker's; a worker serves them on its own
  endpoint (``serve_worker_metrics``, ``WORKER_METRICS_PORT``), scraped as one target per worker;
* ``broadcast_queue_rows`` and ``mt5_order_rows``: counted in the database at scrape time, so
  every web process reports the same, exact figures whichever process executed the rows;
* ``mt5_sessions`` and ``mt5_heartbeat_latency_seconds``: the session keeper's last look at each
  active account, read from the database at scrape time (whichever worker keeps it).
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from extensions import db
from ledger.types import RowOutcome
from models import SESSION_STATES, AccountSession, BroadcastQueue, MT5Account
from models.broadcast import FINAL_ROW_STATUSES, ROW_STATUSES
from services.mt5_service import gateway_health

logger = logging.getLogger("metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# A fan-out spans one terminal round trip (tens of ms) to a slow broker's retries (a minute).
FANOUT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True)
class AppMetrics:
    """The instruments of one app; tests build many apps, so nothing is global."""

    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    orders: Counter
    fanout_seconds: Histogram


def init_metrics(app: Flask) -> AppMetrics:
    """Create the app's registry, its instruments and its scrape-time collectors."""
    registry = CollectorRegistry(auto_describe=True)
    labels = ("method", "route", "status")
    metrics = AppMetrics(
        registry=registry,
        requests=Counter("http_requests", "HTTP requests answered.", labels, registry=registry),
        request_seconds=Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        orders=Counter(
            "mt5_orders",
            "Ledger rows recorded, by final status and MT5 retcode ('none' without one).",
            ("status", "retcode"),
            registry=registry,
        ),
        fanout_seconds=Histogram(
            "broadcast_fanout_seconds",
            "Time from a dispatch's creation to each of its rows' final record.",
            buckets=FANOUT_BUCKETS,
            registry=registry,
        ),
    )
    app_ref = weakref.ref(app)  # the app holds the registry; no cycle through the collectors
    registry.register(QueueDepthCollector(app_ref))
    registry.register(TerminalCollector(app_ref))
    registry.register(SessionCollector(app_ref))
    app.extensions["metrics"] = metrics
    return metrics


def get_metrics(app: Flask) -> AppMetrics | None:
    return app.extensions.get("metrics")


def observe_request(
    metrics: AppMetrics, *, method: str, route: str, status: int, seconds: float
) -> None:
    labels = (method, route, str(status))
    metrics.requests.labels(*labels).inc()
    metrics.request_seconds.labels(*labels).observe(seconds)


def observe_outcomes(app: Flask, outcomes: Sequence[RowOutcome]) -> None:
    """Count recorded outcomes by retcode and time each final one from its dispatch's creation.

    Called by the executors right after ``record_outcomes``; a metrics failure is logged, never
    raised into the ledger.
    """
    metrics = get_metrics(app)
    if metrics is None or not outcomes:
        return
    try:
        final = [o for o in outcomes if o.status in FINAL_ROW_STATUSES]
        for outcome in final:
            retcode = "none" if outcome.retcode is None else str(outcome.retcode)
            metrics.orders.labels(outcome.status, retcode).inc()
        now = datetime.now(UTC)
        for outcome in final:
            if outcome.created_at is not None:
                waited = (now - _aware(outcome.created_at)).total_seconds()
                metrics.fanout_seconds.observe(max(0.0, waited))
    except Exception:
        logger.exception("metrics: could not observe %s outcome(s)", len(outcomes))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def render(app: Flask) -> bytes:
    metrics = get_metrics(app)
    return generate_latest(metrics.registry) if metrics else b""


class QueueDepthCollector(Collector):
    """Ledger rows by status, and final rows by status and retcode: one GROUP BY at scrape time.

    ``mt5_order_rows`` is the database's answer to ``mt5_orders_total``: exact across every
    executor process (and across restarts), the same on every web process.
    """

    def __init__(self, app_ref: weakref.ref[Flask]) -> None:
        self._app_ref = app_ref

    def describe(self) -> Iterator[Any]:
        return iter(())  # no query at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        app = self._app_ref()
        if app is None:
            return
        gauge = GaugeMetricFamily(
            "broadcast_queue_rows", "Ledger rows by status.", labels=["status"]
        )
        final = GaugeMetricFamily(
            "mt5_order_rows",
            "Ledger rows in a final state by status and MT5 retcode ('none' without one), "
            "counted in the database: the same on every web process, whichever process "
            "executed them.",
            labels=["status", "retcode"],
        )
        counts = dict.fromkeys(ROW_STATUSES, 0)
        by_retcode: dict[tuple[str, str], int] = {}
        q = BroadcastQueue
        query = select(q.status, q.retcode, func.count()).group_by(q.status, q.retcode)
        try:
            with app.app_context(), db.engine.connect() as connection:
                for status, code, n in connection.execute(query):
                    counts[status] = counts.get(status, 0) + int(n)
                    if status in FINAL_ROW_STATUSES:
                        key = (status, "none" if code is None else str(code))
                        by_retcode[key] = by_retcode.get(key, 0) + int(n)
        except Exception:
            logger.exception("metrics: queue depth query failed")
            return
        for status, n in sorted(counts.items()):
            gauge.add_metric([status], n)
        yield gauge
        for (status, retcode), n in sorted(by_retcode.items()):
            final.add_metric([status, retcode], n)
        yield final


class TerminalCollector(Collector):
    """The default terminal's reachability (1 connected, 0 not), from the gateway's health."""

    def __init__(self, app_ref: weakref.ref[Flask]) -> None:
        self._app_ref = app_ref

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:

        app = self._app_ref()
        if app is None:
            return
        health = gateway_health(app)
        gauge = GaugeMetricFamily(
            "mt5_terminal_connected",
            "The default MT5 terminal answers (1) or not (0).",
            labels=["terminal", "simulated"],
        )
        connected = bool(health.get("connected", health.get("ok", False)))
        terminal = str(health.get("terminal", ""))
        gauge.add_metric([terminal, str(bool(health.get("simulated"))).lower()], int(connected))
        yield gauge


class SessionCollector(Collector):
    """Active accounts by the state of their terminal session, and the heartbeat round trips of
    the connected ones (quantiles over the accounts' last heartbeats)."""

    QUANTILES = ("0.5", "0.9", "0.99", "1")

    def __init__(self, app_ref: weakref.ref[Flask]) -> None:
        self._app_ref = app_ref

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        app = self._app_ref()
        if app is None:
            return
        a, s = MT5Account, AccountSession
        state = func.coalesce(s.connection_status, "never")
        query = (
            select(state, s.latency_ms)
            .select_from(a)
            .outerjoin(s, s.account_id == a.id)
            .where(a.is_active.is_(True), a.deleted_at.is_(None))
        )
        counts = dict.fromkeys(SESSION_STATES, 0)
        latencies: list[float] = []
        try:
            with app.app_context(), db.engine.connect() as connection:
                for status, latency_ms in connection.execute(query):
                    counts[status] = counts.get(status, 0) + 1
                    if status == "connected" and latency_ms is not None:
                        latencies.append(float(latency_ms) / 1000)
        except Exception:
            logger.exception("metrics: session state query failed")
            return
        sessions = GaugeMetricFamily(
            "mt5_sessions",
            "Active MT5 accounts by the state of their terminal session (the session keeper's "
            "last look; never = not looked at yet).",
            labels=["state"],
        )
        for status, n in sorted(counts.items()):
            sessions.add_metric([status], n)
        yield sessions
        latency = GaugeMetricFamily(
            "mt5_heartbeat_latency_seconds",
            "The account_info round trip of each connected account's last heartbeat, as "
            "quantiles over the accounts (1 = the slowest).",
            labels=["quantile"],
        )
        latencies.sort()
        for q in self.QUANTILES if latencies else ():
            index = min(len(latencies) - 1, int(float(q) * len(latencies)))
            latency.add_metric([q], latencies[index])
        yield latency


# --- a Celery worker's own endpoint ------------------------------------------------------------


class ExecutionCollector(Collector):
    """The instruments an executor feeds (orders by retcode, fan-out latency), nothing else.

    A worker's endpoint leaves out the request figures (it answers no HTTP requests) and the
    database gauges (the web processes report those; a worker would only repeat them).
    """

    def __init__(self, metrics: AppMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        yield from self._metrics.orders.collect()
        yield from self._metrics.fanout_seconds.collect()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _bearer_only(app: WsgiApp, token: str) -> WsgiApp:
    expected = f"Bearer {token}".encode()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = str(environ.get("HTTP_AUTHORIZATION", "")).encode()
        if not hmac.compare_digest(given, expected):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", "Bearer")],
            )
            return [b"A valid metrics token is required.\n"]
        return app(environ, start_response)

    return guarded


def serve_worker_metrics(app: Flask, host: str, port: int, *, token: str = "") -> WSGIServer | None:
    """Serve the app's executor instruments at ``http://host:port/metrics`` on a daemon thread.

    The same names as the web server's ``/metrics`` (scrape each worker as its own target and
    ``sum`` across targets); ``token`` (METRICS_TOKEN) requires ``Authorization: Bearer``.
    None when the app has no metrics. Raises OSError (or OverflowError) when it cannot listen.
    """
    metrics = get_metrics(app)
    if metrics is None:
        return None
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ExecutionCollector(metrics))
    wsgi: WsgiApp = make_wsgi_app(registry)
    if token:
        wsgi = _bearer_only(wsgi, token)
    server_class = _Server6 if ":" in host else _Server
    server = make_server(host, port, wsgi, server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server
