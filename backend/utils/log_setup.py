"""Logging: a rotating file in logs/, JSON lines when configured, a request id on every line."""

from __future__ import annotations

import json
import logging
import logging.handlers
from datetime import UTC, datetime

from flask import Flask, g, has_request_context

LOG_FILE_NAME = "trading_server.log"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(g, "request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(app: Flask) -> None:
    """Attach one rotating file handler (and stderr) to the root logger, once per log file."""
    log_dir = app.config["LOG_DIR"]
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE_NAME
    formatter: logging.Formatter = (
        JsonFormatter() if app.config["LOG_FORMAT"] == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.setLevel(app.config["LOG_LEVEL"])
    for handler in list(root.handlers):
        if getattr(handler, "_mt5_server", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handlers: list[logging.Handler] = [file_handler]
    if not app.config.get("TESTING"):
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler._mt5_server = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    app.logger.handlers.clear()
    app.logger.propagate = True
