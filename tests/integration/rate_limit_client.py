"""Another server process for the shared rate-limit test: its own app, the same Redis store.

Usage: rate_limit_client.py CONFIG_JSON COUNT; prints the status of COUNT failed logins as JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "backend"), str(ROOT / "tests")]

if __name__ == "__main__":
    from app import create_app
    from factories import TEST_CONFIG

    config, count = json.loads(sys.argv[1]), int(sys.argv[2])
    client = create_app({**TEST_CONFIG, **config}).test_client()
    login = {"username": "nobody-here", "password": "not the password"}
    print(json.dumps([client.post("/api/login", json=login).status_code for _ in range(count)]))
