"""Prometheus metrics: one registry per app, request and order instruments, scrape-time gauges."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from extensions import DbSession, db
from models import BroadcastQueue, Dispatch
from models.broadcast import FINAL_ROW_STATUSES, ROW_STATUSES
from workers.store import RowOutcome

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


def observe_outcomes(app: Flask, outcomes: Sequence[RowOutcome], *, session: DbSession) -> None:
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
        for created_at in _dispatch_created_at(session, [o.row_id for o in final]):
            metrics.fanout_seconds.observe(max(0.0, (now - _aware(created_at)).total_seconds()))
    except Exception:
        logger.exception("metrics: could not observe %s outcome(s)", len(outcomes))


def _dispatch_created_at(session: DbSession, row_ids: list[int]) -> list[datetime]:
    if not row_ids:
        return []
    query = (
        select(Dispatch.created_at)
        .join(BroadcastQueue, BroadcastQueue.dispatch_id == Dispatch.id)
        .where(BroadcastQueue.id.in_(row_ids))
    )
    return list(session.scalars(query))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def render(app: Flask) -> bytes:
    metrics = get_metrics(app)
    return generate_latest(metrics.registry) if metrics else b""


class QueueDepthCollector(Collector):
    """Ledger rows by status, counted at scrape time (one GROUP BY on broadcast_queue)."""

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
        counts = dict.fromkeys(ROW_STATUSES, 0)
        try:
            with app.app_context(), db.engine.connect() as connection:
                query = select(BroadcastQueue.status, func.count()).group_by(BroadcastQueue.status)
                counts.update({status: int(n) for status, n in connection.execute(query)})
        except Exception:
            logger.exception("metrics: queue depth query failed")
            return
        for status, n in sorted(counts.items()):
            gauge.add_metric([status], n)
        yield gauge


class TerminalCollector(Collector):
    """The default terminal's reachability (1 connected, 0 not), from the gateway's health."""

    def __init__(self, app_ref: weakref.ref[Flask]) -> None:
        self._app_ref = app_ref

    def describe(self) -> Iterator[Any]:
        return iter(())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from services.mt5_service import gateway_health

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
