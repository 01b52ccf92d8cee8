"""The embedded executor starts a large claim a chunk at a time, and a chunk it cannot load
leaves no row in flight behind it."""

from __future__ import annotations

import time

from ledger_helpers import new_dispatch, rows_of, running_ledger, seed_accounts, wait_final
from sqlalchemy.exc import OperationalError

from workers import embedded


def test_a_chunk_that_cannot_be_loaded_gives_its_rows_back_and_they_run_later(
    tmp_path, migrated_sqlite, monkeypatch
):
    monkeypatch.setattr(embedded, "START_CHUNK", 2)
    real_load = embedded.load_jobs_or_fail
    loads: list[list[int]] = []

    def second_chunk_fails(session, row_ids, *args):
        loads.append(list(row_ids))
        if len(loads) == 2:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real_load(session, row_ids, *args)

    monkeypatch.setattr(embedded, "load_jobs_or_fail", second_chunk_fails)
    with running_ledger(tmp_path, migrated_sqlite) as app:
        admin, accounts = seed_accounts(app, 5)
        dispatch_id = new_dispatch(app, admin, accounts)
        app.extensions["executor"].submit_dispatch(dispatch_id)
        deadline = time.monotonic() + 20
        while len(loads) < 2:
            assert time.monotonic() < deadline, "the executor never loaded a second chunk"
            time.sleep(0.01)
        rows = wait_final(dispatch_id, timeout=30)

    ids = sorted(r.id for r in rows)
    assert loads[:2] == [ids[:2], ids[2:4]]  # chunks of the claim, in row order
    assert {r.status for r in rows} == {"executed"}
    # Given back untouched, then claimed again: one attempt each, whatever the failed load.
    assert [r.attempts for r in sorted(rows, key=lambda r: r.id)] == [1, 1, 1, 1, 1]


def test_rows_of_a_large_claim_all_start(tmp_path, migrated_sqlite, monkeypatch):
    monkeypatch.setattr(embedded, "START_CHUNK", 3)
    with running_ledger(tmp_path, migrated_sqlite) as app:
        admin, accounts = seed_accounts(app, 7)
        dispatch_id = new_dispatch(app, admin, accounts)
        app.extensions["executor"].submit_dispatch(dispatch_id)
        rows = wait_final(dispatch_id, timeout=30)
        assert not [r for r in rows_of(dispatch_id) if r.status == "in_flight"]

    assert [r.status for r in rows] == ["executed"] * 7
