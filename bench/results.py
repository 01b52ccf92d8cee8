"""Results of a broadcast to N targets: GET /api/broadcasts/{id}/results cold, cached, and
after every position closed, against the broadcast's status view (the baseline: no terminal).

Run from the repository root: ``python bench/results.py [--n 100 1000] [--latency-ms 0]``.
"Cold" reads every target at its terminal (RESULTS_MAX_READS = N for the measure, so one
request does it all); "default cap" is the first request with the shipped RESULTS_MAX_READS;
"cached" is the next request while the open figures are fresh; "closed" the first request
after a close-all (every target read once more, then final) and "final" the one after it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from broadcast_fanout import build_app, close_all, fan_out, make_targets, warm_up


def timed_get(client: Any, url: str, headers: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.get_json()
    return elapsed, dict(response.get_json())


def run(n: int, latency_ms: int) -> None:
    from flask_jwt_extended import create_access_token

    with tempfile.TemporaryDirectory() as tmp:
        app = build_app(Path(tmp), latency_ms, "threads", 256, None)
        with app.app_context():
            admin, accounts = make_targets(app, n)
            warm_up(app, accounts)
            broadcast = fan_out(app, admin.id, n, measured=False)["id"]
            client = app.test_client()
            token = create_access_token(identity=str(admin.id), additional_claims={"sid": "b"})
            headers = {"Authorization": f"Bearer {token}"}
            page = f"per_page={n}"
            status_url = f"/api/broadcast_status?broadcast_id={broadcast}&{page}"
            results_url = f"/api/broadcasts/{broadcast}/results?{page}"
            baseline, _ = timed_get(client, status_url, headers)
            app.config["RESULTS_MAX_READS"] = 200
            capped, first = timed_get(client, results_url, headers)
            app.config["RESULTS_MAX_READS"] = n
            cold, _ = timed_get(client, results_url, headers)  # the rest, as a cold page
            app.config["RESULTS_REFRESH_S"] = 0  # every open target due: the true cold cost
            cold_all, _ = timed_get(client, results_url, headers)
            app.config["RESULTS_REFRESH_S"] = 30
            cached, _ = timed_get(client, results_url, headers)
            close_all(app, admin.id, broadcast, n)
            closed, _ = timed_get(client, results_url, headers)
            final, view = timed_get(client, results_url, headers)
            assert view["totals"]["by_status"] == {"closed": n}, view["totals"]
            app.extensions["executor_stop"]()
        app.extensions["mt5_gateway"].close()
    print(f"N={n} targets, simulator latency {latency_ms} ms per call")
    rows = [
        ("baseline: broadcast_status (no terminal)", baseline),
        (f"results, default cap (read {first['refresh']['read_now']})", capped),
        ("results cold (every target read)", cold_all),
        ("results cached (open, fresh)", cached),
        ("results after close-all (read once more)", closed),
        ("results final (closed, cached)", final),
    ]
    for label, ms in rows:
        print(f"  {label:<44} {ms:9.1f} ms   x{ms / baseline:6.2f} baseline")
    del cold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    for n in args.n:
        run(n, args.latency_ms)


if __name__ == "__main__":
    main()
