"""RATELIMIT_STORAGE_URI=redis://: one login limit shared by two server processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import TEST_CONFIG, require_service

CLIENT = Path(__file__).with_name("rate_limit_client.py")
REDIS_URL = f"redis://127.0.0.1:6379/{int(os.environ.get('TEST_REDIS_DB', '7')) + 1}"
LOGIN = {"username": "nobody-here", "password": "not the password"}


@pytest.fixture
def shared_config(app_config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    prefix = f"rl-test-{uuid.uuid4().hex[:8]}"
    yield {
        **app_config,
        "RATELIMIT_ENABLED": True,
        "LOGIN_RATE_LIMIT": "3 per minute",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
    }
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)
    client.close()


def other_process(config: dict[str, Any], count: int) -> list[int]:
    portable = {k: str(v) if isinstance(v, Path) else v for k, v in config.items()}
    portable = {k: v for k, v in portable.items() if k not in TEST_CONFIG or v != TEST_CONFIG[k]}
    done = subprocess.run(
        [sys.executable, str(CLIENT), json.dumps(portable), str(count)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_login_limit_is_shared_by_two_server_processes_through_redis(shared_config):
    import redis
    from app import create_app

    here = create_app(shared_config).test_client()
    mine = [here.post("/api/login", json=LOGIN).status_code for _ in range(2)]

    theirs = other_process(shared_config, 2)

    assert mine == [401, 401]
    assert theirs == [401, 429]  # the third attempt of the minute, counted across processes
    assert here.post("/api/login", json=LOGIN).status_code == 429
    client = redis.Redis.from_url(REDIS_URL)
    assert any(client.scan_iter(f"*{shared_config['RATELIMIT_KEY_PREFIX']}*"))
    client.close()
