"""The worker command the product documents loads the Celery app (not the Flask one).

``celery -A wsgi`` finds ``wsgi.app`` first, the Flask app, and every worker started that way
died at once ("'APIFlask' object has no attribute 'user_options'"). The systemd unit, the
Makefile's ``worker`` target and the bench all name ``wsgi:celery``; this runs Celery's own
command line on each of them (``celery report`` loads the app and exits)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "deploy/trading-worker.service": ROOT / "deploy" / "trading-worker.service",
    "Makefile worker": ROOT / "Makefile",
    "bench/broadcast_http.py": ROOT / "bench" / "broadcast_http.py",
}


def app_targets(text: str) -> set[str]:
    return set(re.findall(r"""-A["', ]+([\w:.]+)""", text))


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_documented_worker_command_loads_the_celery_app(source, tmp_path):
    targets = app_targets(SOURCES[source].read_text())
    assert targets == {"wsgi:celery"}, targets
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
           "LOG_DIR": str(tmp_path / "logs"), "FLASK_ENV": "development"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "wsgi:celery", "report"],
        cwd=ROOT / "backend", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "software -> celery" in done.stdout


def test_the_bare_module_name_would_load_the_flask_app(tmp_path):
    """Why the ``:celery`` matters: Celery takes ``wsgi.app`` for ``-A wsgi``."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
           "LOG_DIR": str(tmp_path / "logs"), "FLASK_ENV": "development"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "wsgi", "report"],
        cwd=ROOT / "backend", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "APIFlask" in done.stderr
