"""The keeper's SQL: which accounts are due, the lease that makes one keeper their owner, and
what a heartbeat recorded (on the account's session row, its status and its equity history)."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, or_, select, update

from extensions import DbSession
from ledger import leases
from models import AccountEquity, AccountSession, MT5Account
from models.columns import utcnow
from services.session_keeper.states import AUTH_FAILED, CONNECTED, Look, margin_level, next_check
from utils.database import dialect_insert, insert_for


@dataclass(frozen=True)
class Claimed:
    """An account this keeper holds the lease of, with what a heartbeat needs of it."""

    account_id: int
    terminal: str
    login: str
    server: str
    password_encrypted: str
    symbol_map: dict[str, Any] | None
    status: str  # the account row's connection_status before this look
    last_error: str | None  # and its last_error
    failures: int

    @property
    def id(self) -> int:  # what services.mt5_service.account_ref reads
        return self.account_id

    @property
    def credentials(self) -> tuple[str, str, str, str]:
        return (self.terminal, self.login, self.server, self.password_encrypted)


def _tradable() -> Any:
    a = MT5Account
    return and_(a.is_active.is_(True), a.deleted_at.is_(None), a.password_encrypted != "")


def claim_due(
    session: DbSession,
    *,
    owner: str,
    now: datetime,
    lease_s: float,
    limit: int,
    busy: set[int] | frozenset[int] = frozenset(),
) -> list[Claimed]:
    """Take the lease of up to ``limit`` accounts due for a look, oldest first, and commit.

    Due: no session row yet (new, or its credentials changed), or a next look that has come;
    never an ``auth_failed`` one. Free: no owner, ours, expired, or an owner process that is gone
    from this host (a restarted server takes its accounts back at once, not a lease later).
    """
    a, s = MT5Account, AccountSession
    rows = session.execute(
        _due(owner, now)
        .order_by(s.next_check_at.is_not(None), s.next_check_at, a.id)
        # Room for rows a live keeper on this host holds (dropped below, not claimable).
        .limit(4 * (limit + len(busy)))
    ).all()
    free = [r for r in _claimable(rows, owner, now) if r.id not in busy][:limit]
    fresh = [r.id for r in free if r.account_id is None]
    by_owner: dict[str | None, list[int]] = defaultdict(list)
    for r in free:
        if r.account_id is not None:
            by_owner[r.lease_owner].append(r.id)
    until = now + timedelta(seconds=lease_s)
    taken = _insert_fresh(session, fresh, owner=owner, now=now, until=until)
    for seen_owner, ids in by_owner.items():
        # Fenced by the owner we saw: two keepers racing for one account, one of them wins.
        fence = s.lease_owner.is_(None) if seen_owner is None else s.lease_owner == seen_owner
        taken += session.scalars(
            update(s).where(s.account_id.in_(ids), fence)
            .values(lease_owner=owner, lease_until=until).returning(s.account_id)
        ).all()  # fmt: skip
    session.commit()
    return _load(session, sorted(taken), owner)


def _due(owner: str, now: datetime) -> Any:
    """Accounts due for a look whose lease ``owner`` may take (or whose holder may be dead)."""
    a, s = MT5Account, AccountSession
    return (
        select(a.id, s.account_id, s.lease_owner, s.lease_until)
        .outerjoin(s, s.account_id == a.id)
        .where(
            _tradable(),
            or_(
                s.account_id.is_(None),
                and_(s.connection_status != AUTH_FAILED, s.next_check_at <= now),
            ),
            or_(
                s.lease_owner.is_(None),
                s.lease_owner == owner,
                s.lease_until <= now,
                s.lease_owner.startswith(f"{leases.HOST}:"),  # maybe dead: checked by _free
            ),
        )
    )


def _claimable(rows: Any, owner: str, now: datetime) -> list[Any]:
    return [
        r for r in rows
        if r.account_id is None or _free(r.lease_owner, r.lease_until, owner, now)
    ]  # fmt: skip


def due_now(session: DbSession, *, owner: str, now: datetime) -> set[int]:
    """Every account this keeper would look at now (after ``adopt_orphans``: all it will keep)."""
    rows = session.execute(_due(owner, now)).all()
    session.commit()
    return {r.id for r in _claimable(rows, owner, now)}


def adopt_orphans(session: DbSession, *, owner: str, now: datetime) -> int:
    """A keeper starting holds no session: the accounts no live keeper holds (a restart left
    them, or their keeper stopped) are due for it now, not a heartbeat after their last look.
    Returns how many; commits."""
    s = AccountSession
    rows = session.execute(
        select(s.account_id, s.lease_owner, s.lease_until).where(
            s.connection_status != AUTH_FAILED, s.next_check_at > now
        )
    ).all()
    orphans = [r.account_id for r in rows if _free(r.lease_owner, r.lease_until, owner, now)]
    for start in range(0, len(orphans), 500):
        session.execute(
            update(s).where(s.account_id.in_(orphans[start : start + 500]))
            .values(next_check_at=now)
        )  # fmt: skip
    session.commit()
    return len(orphans)


def _free(lease_owner: str | None, lease_until: datetime | None, owner: str, now: datetime) -> bool:
    if lease_owner is None or lease_owner == owner:
        return True
    if lease_until is None or lease_until <= now:
        return True
    return leases.owner_is_dead(lease_owner)


def _insert_fresh(
    session: DbSession, ids: list[int], *, owner: str, now: datetime, until: datetime
) -> list[int]:
    """Session rows for accounts that have none, leased to us; one another keeper inserted
    meanwhile stays theirs."""
    if not ids:
        return []
    s = AccountSession
    rows = [
        {"account_id": account_id, "connection_status": "never", "failures": 0,
         "next_check_at": now, "lease_owner": owner, "lease_until": until}
        for account_id in ids
    ]  # fmt: skip
    inserted = dialect_insert(session, s).on_conflict_do_nothing(index_elements=["account_id"])
    session.execute(inserted, rows)
    return list(
        session.scalars(select(s.account_id).where(s.account_id.in_(ids), s.lease_owner == owner))
    )


def _load(session: DbSession, ids: list[int], owner: str) -> list[Claimed]:
    if not ids:
        return []
    a, s = MT5Account, AccountSession
    rows = session.execute(
        select(a.id, a.terminal, a.login, a.server, a.password_encrypted, a.symbol_map,
               a.connection_status, a.last_error, s.failures)
        .join(s, s.account_id == a.id)
        .where(a.id.in_(ids), s.lease_owner == owner)
        .order_by(a.id)
    ).all()  # fmt: skip
    session.commit()
    return [Claimed(*row) for row in rows]


def record_looks(
    session: DbSession, looks: list[tuple[Claimed, Look]], *, owner: str, heartbeat_s: float,
    lease_s: float,
) -> int:  # fmt: skip
    """Record each look in one transaction; a look whose account changed meanwhile (credentials,
    deleted, deactivated) or whose lease another keeper took is dropped. Returns how many.

    The usual batch (every look still ours) is one executemany per statement, built once: a
    thousand accounts' heartbeats had cost a statement build and a cache-key walk each, a third
    of the server's CPU during a fan-out. A batch where some look is no longer ours is redone
    look by look (the updates set the same values again) to find which.
    """
    dialect = session.get_bind().dialect.name
    params = [_session_params(c, lk, owner, heartbeat_s, lease_s) for c, lk in looks]
    recorded: list[tuple[Claimed, Look]] = []
    for seen in (True, False):
        batch = [(pair, p) for pair, p in zip(looks, params, strict=True) if _full(pair[1]) == seen]
        if not batch:
            continue
        statement = _session_update(seen)
        done = session.connection().execute(statement, [p for _, p in batch]).rowcount
        if done == len(batch):
            recorded += [pair for pair, _ in batch]
            continue
        for pair, p in batch:
            if session.connection().execute(statement, [p]).rowcount:
                recorded.append(pair)
            else:
                # Another keeper's now, or the account changed since the claim (this look was
                # of the old credentials, or of an account no longer tradable): if ours, look
                # again afresh.
                s = AccountSession
                session.execute(delete(s).where(s.account_id == p["b_account"],
                                                s.lease_owner == owner))  # fmt: skip
    _account_states(session, recorded)
    points = [_equity_params(c.account_id, lk) for c, lk in recorded if _full(lk)]
    if points:
        session.connection().execute(_equity_upsert(dialect), points)
    session.commit()
    return len(recorded)


def _full(look: Look) -> bool:
    """The look saw the account and read its figures."""
    return look.seen and look.snapshot is not None


SNAPSHOT_COLUMNS = ("last_seen_at", "latency_ms", "currency", "balance", "equity", "margin",
                    "margin_free", "margin_level")  # fmt: skip


def _session_params(
    claimed: Claimed, look: Look, owner: str, heartbeat_s: float, lease_s: float
) -> dict[str, Any]:
    failures = 0 if look.seen else claimed.failures + 1
    terminal, login, server, password = claimed.credentials
    values: dict[str, Any] = {
        "connection_status": look.status, "checked_at": look.checked_at,
        "last_error": look.error, "failures": failures,
        "next_check_at": next_check(look, failures=failures, heartbeat_s=heartbeat_s),
        "lease_until": look.checked_at + timedelta(seconds=lease_s),
    }  # fmt: skip
    if _full(look):
        snap = look.snapshot
        assert snap is not None
        values.update(
            last_seen_at=look.checked_at, latency_ms=look.latency_ms, currency=snap.currency,
            balance=snap.balance, equity=snap.equity, margin=snap.margin,
            margin_free=snap.margin_free, margin_level=margin_level(snap),
        )  # fmt: skip
    return {
        "b_account": claimed.account_id, "b_owner": owner, "b_terminal": terminal,
        "b_login": login, "b_server": server, "b_password": password,
        **{f"v_{name}": value for name, value in values.items()},
    }  # fmt: skip


@functools.cache
def _session_update(full: bool) -> Any:
    """The session row of a look: ours (lease), of the credentials it looked with, of an account
    still tradable; ``full`` also writes the figures it read."""
    a, s = MT5Account, AccountSession
    unchanged = (
        select(a.id)
        .where(a.id == bindparam("b_account"), a.terminal == bindparam("b_terminal"),
               a.login == bindparam("b_login"), a.server == bindparam("b_server"),
               a.password_encrypted == bindparam("b_password"), _tradable())
        .exists()
    )  # fmt: skip
    columns = ["connection_status", "checked_at", "last_error", "failures", "next_check_at",
               "lease_until"] + (list(SNAPSHOT_COLUMNS) if full else [])  # fmt: skip
    table = s.__table__
    return (
        update(table)
        .where(table.c.account_id == bindparam("b_account"),
               table.c.lease_owner == bindparam("b_owner"), unchanged)
        .values({c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns})
    )  # fmt: skip


def _account_states(session: DbSession, recorded: list[tuple[Claimed, Look]]) -> None:
    """Each account's own connection_status and last_error, written only where they changed:
    one executemany per statement shape (a thousand sessions attaching at start were a thousand
    ORM updates, each built and compiled, in the transaction every fan-out's writes queue for).
    """
    batches: dict[bool, list[dict[str, Any]]] = defaultdict(list)
    for claimed, look in recorded:
        just_connected = look.seen and claimed.status != CONNECTED
        unchanged = (claimed.status, claimed.last_error) == (look.status, look.error)
        if unchanged and not just_connected:
            continue
        params = {"b_account": claimed.account_id, "v_connection_status": look.status,
                  "v_last_error": look.error}  # fmt: skip
        if just_connected:
            params["v_last_connected_at"] = look.checked_at
        batches[just_connected].append(params)
    for just_connected, batch in batches.items():
        session.connection().execute(_account_state_update(just_connected), batch)


@functools.cache
def _account_state_update(just_connected: bool) -> Any:
    """The account's status and error (and, when it has just connected, since when), bound as
    ``_session_update`` binds its values. A heartbeat is not an edit of the account: updated_at
    (it has an onupdate) keeps its value."""
    table = MT5Account.__table__
    since = ("last_connected_at",) if just_connected else ()
    columns = ["connection_status", "last_error", *since]
    values: dict[str, Any] = {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}
    return (
        update(table)
        .where(table.c.id == bindparam("b_account"))
        .values({**values, "updated_at": table.c.updated_at})
    )


EQUITY_FIGURES = ("recorded_at", "balance", "equity", "margin", "margin_free")


def _equity_params(account_id: int, look: Look) -> dict[str, Any]:
    """The minute's point is the newest look of that minute (only the account's owner writes)."""
    snap = look.snapshot
    assert snap is not None
    return {
        "account_id": account_id, "minute": int(look.checked_at.timestamp() // 60),
        "recorded_at": look.checked_at, "balance": snap.balance, "equity": snap.equity,
        "margin": snap.margin, "margin_free": snap.margin_free,
    }  # fmt: skip


@functools.cache
def _equity_upsert(dialect: str) -> Any:
    table = AccountEquity.__table__
    insert = insert_for(dialect, table)
    return insert.on_conflict_do_update(
        index_elements=["account_id", "minute"],
        set_={name: insert.excluded[name] for name in EQUITY_FIGURES},
    )


def release(session: DbSession, *, owner: str) -> None:
    """Give back every lease this keeper holds (it is stopping): another keeper may take its
    accounts at once, not a lease later."""
    s = AccountSession
    session.execute(
        update(s).where(s.lease_owner == owner).values(lease_owner=None, lease_until=None)
    )
    session.commit()


def forget(session: DbSession, account_id: int) -> None:
    """The account's credentials changed: drop what was seen (auth_failed too); the keeper
    looks again at once. In the caller's transaction."""
    session.execute(delete(AccountSession).where(AccountSession.account_id == account_id))


def look_now(session: DbSession, account_id: int) -> None:
    """Someone just connected the account by hand: the keeper looks again at once, without
    the backoff it was in (an ``auth_failed`` account is tried again). In the caller's
    transaction."""
    s = AccountSession
    session.execute(
        update(s).where(s.account_id == account_id)
        .values(next_check_at=utcnow(), failures=0,
                connection_status=case((s.connection_status == AUTH_FAILED, "never"),
                                       else_=s.connection_status))
    )  # fmt: skip
