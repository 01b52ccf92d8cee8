"""SQLite persistence of the broker's records, written through on every change.

Durability choice: one connection, WAL journal with ``synchronous=NORMAL``. Every broker
operation is committed before the call returns, so state survives a crash of the process (WAL
NORMAL only risks the last transactions on a power loss or OS crash, which a simulator can
afford). The commit is a *group commit*: ``write`` queues records in the broker lock's order,
and leaving the broker lock (``DurableLock``) commits everything queued so far in one
transaction, unless another thread's commit already took this thread's records. A thousand
fills arriving together were a thousand transactions, each run under the broker lock (with the
GIL let go and taken back around every statement), a fifth of a fan-out's CPU; now the lock is
held for the in-memory step only and the fills of one moment share a commit.

The ``admin_requests`` table is a mailbox from admin commands to the process that owns the file
(see ``admin_commands``): commands insert, the owner applies and writes the outcome back.
"""

from __future__ import annotations

import json
import operator
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from mt5sim.state import Account, Deal, Order, Position

Record = TypeVar("Record", Account, Order, Position, Deal)

_TABLES: dict[type, str] = {
    Account: "accounts",
    Order: "orders",
    Position: "positions",
    Deal: "deals",
}
_SQL_TYPES = {"Decimal": "TEXT", "str": "TEXT", "int": "INTEGER", "bool": "INTEGER"}
_ADMIN_REQUESTS_SQL = (
    "CREATE TABLE IF NOT EXISTS admin_requests (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "kind TEXT NOT NULL, payload TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, "
    "result TEXT, error TEXT, applied_by INTEGER)"
)


@dataclass(frozen=True)
class RequestOutcome:
    """What the owner of the file made of an admin request."""

    done: bool
    result: str | None
    error: str | None
    applied_by: int | None  # the pid of the process that applied it


def _create_sql(record_type: type) -> str:
    columns = ", ".join(f'"{f.name}" {_SQL_TYPES[str(f.type)]}' for f in fields(record_type))
    key = "login" if record_type is Account else "ticket"
    return f"CREATE TABLE IF NOT EXISTS {_TABLES[record_type]} ({columns}, PRIMARY KEY ({key}))"


def _upsert_sql(record_type: type) -> str:
    names = [f.name for f in fields(record_type)]
    columns = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    table = _TABLES[record_type]
    return f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608


_GETTERS = {
    record_type: operator.attrgetter(*(f.name for f in fields(record_type)))
    for record_type in _TABLES
}


def _to_row(record: Any) -> tuple[Any, ...]:
    """The record's fields in column order, Decimals as text. Every fill writes four records:
    dataclasses.astuple would deep-copy each field on the way (a third of a fill's cost), and
    a getattr per field was most of what was left."""
    return tuple([str(v) if type(v) is Decimal else v for v in _GETTERS[type(record)](record)])


def _from_row(record_type: type[Record], row: sqlite3.Row) -> Record:
    values: dict[str, Any] = {}
    for f in fields(record_type):
        raw = row[f.name]
        kind = str(f.type)
        values[f.name] = Decimal(raw) if kind == "Decimal" else bool(raw) if kind == "bool" else raw
    return record_type(**values)


class Store:
    """The broker's SQLite file. ``write`` is called under the broker lock (which orders the
    records); every method may be called from any thread (``_io`` guards the connection)."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        for record_type in _TABLES:
            self._conn.execute(_create_sql(record_type))
            self._add_new_columns(record_type)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS quotes (name TEXT PRIMARY KEY, bid TEXT, ask TEXT)"
        )
        self._conn.execute(_ADMIN_REQUESTS_SQL)
        self._conn.commit()
        self._upserts = {t: _upsert_sql(t) for t in _TABLES}
        self._io = threading.Lock()  # the connection, and committing what is queued
        self._queue_lock = threading.Lock()
        self._queued: list[tuple[tuple[Any, ...], tuple[int, ...]]] = []
        self._queued_seq = 0  # how many writes were queued, ever
        self._durable_seq = 0  # how many of them are committed
        self._mine = threading.local()  # the last write this thread queued

    def _add_new_columns(self, record_type: type) -> None:
        """A file written by an older simulator lacks fields added since: add them, with the
        field's default (every field added after the first release has one)."""
        table = _TABLES[record_type]
        have = {row["name"] for row in self._conn.execute(f"PRAGMA table_info({table})")}
        for f in fields(record_type):
            if f.name not in have:
                default = f.default if isinstance(f.default, int | str) else 0
                self._conn.execute(
                    f'ALTER TABLE {table} ADD COLUMN "{f.name}" '
                    f"{_SQL_TYPES[str(f.type)]} DEFAULT {default!r}"
                )

    def load(self, record_type: type[Record]) -> list[Record]:
        with self._committed():
            rows = self._conn.execute(f"SELECT * FROM {_TABLES[record_type]}").fetchall()  # noqa: S608
        return [_from_row(record_type, row) for row in rows]

    def write(self, *records: Any, delete_positions: tuple[int, ...] = ()) -> None:
        """Queue ``records`` to save and closed positions to drop; committed (together with
        whatever else is queued) by ``sync_mine`` when the broker lock is left."""
        with self._queue_lock:
            self._queued.append((records, delete_positions))
            self._queued_seq += 1
            self._mine.seq = self._queued_seq

    def sync_mine(self) -> None:
        """Return once every record this thread queued is committed."""
        seq = getattr(self._mine, "seq", 0)
        if seq <= self._durable_seq:
            return
        with self._io:
            if seq > self._durable_seq:  # nobody's commit took them meanwhile
                self._commit_queued()

    @contextmanager
    def _committed(self) -> Iterator[None]:
        """Hold the connection with everything queued committed first, so what follows (a read,
        or a write of its own) comes after the broker's earlier writes."""
        with self._io:
            self._commit_queued()
            yield

    def _commit_queued(self) -> None:
        """Everything queued, in queue order, in one transaction; the caller holds ``_io``."""
        with self._queue_lock:
            batch, self._queued = self._queued, []
            last = self._queued_seq
        if not batch:
            return
        upserts: dict[str, list[tuple[Any, ...]]] = {}
        deletes: list[tuple[int]] = []
        for records, closed in batch:
            for record in records:
                upserts.setdefault(self._upserts[type(record)], []).append(_to_row(record))
            deletes += [(ticket,) for ticket in closed]
        # Per table in queue order (the last write of a record wins), then the deletes: a
        # closed position is never written again, so dropping it last is what each write did.
        with self._conn:
            for sql, rows in upserts.items():
                self._conn.executemany(sql, rows)
            if deletes:
                self._conn.executemany("DELETE FROM positions WHERE ticket = ?", deletes)
        self._durable_seq = last

    def delete_login(self, login: int) -> None:
        """Drop an account and every record of it (``sim-account --reset``), in one transaction."""
        with self._committed(), self._conn:
            for table in _TABLES.values():
                self._conn.execute(f"DELETE FROM {table} WHERE login = ?", (login,))  # noqa: S608

    def max_ticket(self, table: str) -> int:
        with self._committed():
            row = self._conn.execute(f"SELECT MAX(ticket) FROM {table}").fetchone()  # noqa: S608
        return int(row[0] or 0)

    def save_quotes(self, quotes: dict[str, tuple[Decimal, Decimal]]) -> None:
        with self._committed(), self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO quotes (name, bid, ask) VALUES (?, ?, ?)",
                [(name, str(bid), str(ask)) for name, (bid, ask) in quotes.items()],
            )

    def load_quotes(self) -> dict[str, tuple[Decimal, Decimal]]:
        with self._io:
            rows = self._conn.execute("SELECT name, bid, ask FROM quotes").fetchall()
        return {r["name"]: (Decimal(r["bid"]), Decimal(r["ask"])) for r in rows}

    # -- admin requests (see ``admin_commands``) -------------------------------------------

    def data_version(self) -> int:
        """Changes committed by *other* connections move it (SQLite's PRAGMA data_version)."""
        with self._io:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def queued_requests(self) -> list[tuple[int, str, dict[str, Any]]]:
        with self._io:
            rows = self._conn.execute(
                "SELECT id, kind, payload FROM admin_requests WHERE done = 0 ORDER BY id"
            ).fetchall()
        return [(int(r["id"]), str(r["kind"]), json.loads(r["payload"])) for r in rows]

    def finish_request(
        self, request_id: int, *, result: str | None, error: str | None, applied_by: int
    ) -> None:
        """The request is done, after what applying it wrote (a poller that sees it done
        finds the broker's records of it on disk)."""
        with self._committed(), self._conn:
            self._conn.execute(
                "UPDATE admin_requests SET done = 1, result = ?, error = ?, applied_by = ? "
                "WHERE id = ?",
                (result, error, applied_by, request_id),
            )

    def submit_request(self, kind: str, payload: dict[str, Any]) -> int:
        with self._io, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO admin_requests (kind, payload) VALUES (?, ?)",
                (kind, json.dumps(payload)),
            )
        return int(cursor.lastrowid or 0)

    def request_outcome(self, request_id: int) -> RequestOutcome | None:
        with self._io:
            row = self._conn.execute(
                "SELECT done, result, error, applied_by FROM admin_requests WHERE id = ?",
                (request_id,),
            ).fetchone()
        if row is None:
            return None
        return RequestOutcome(bool(row["done"]), row["result"], row["error"], row["applied_by"])

    def forget_request(self, request_id: int) -> None:
        with self._io, self._conn:
            self._conn.execute("DELETE FROM admin_requests WHERE id = ?", (request_id,))

    def close(self) -> None:
        with self._committed():
            self._conn.close()


class DurableLock:
    """The broker's lock (re-entrant): leaving its outermost hold commits what this thread
    wrote meanwhile (``Store.sync_mine``), after letting go of the lock, so a broker call
    returns only once its changes are on disk while other calls go on in memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = threading.local()
        self.store: Store | None = None  # set once the books are loaded

    def __enter__(self) -> DurableLock:
        self._lock.acquire()
        self._depth.n = getattr(self._depth, "n", 0) + 1
        return self

    def __exit__(self, *_exc: object) -> None:
        self._depth.n -= 1
        outermost = self._depth.n == 0
        self._lock.release()
        if outermost and self.store is not None:
            self.store.sync_mine()
