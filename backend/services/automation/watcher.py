"""The price watcher: reads one quote per (trade server, symbol) with live rules every
AUTOMATION_TICK_MS and turns each rule that fires into a trade-management action.

An action is created through the ledger like any follow-up (exactly once, tagged, reconciled,
audited, an action of the parent dispatch), with its firing recorded in the same transaction:
the firing's unique key is what makes a rule fire once per leg, level or trade server, across
restarts and across several watchers (scale-out runs one in each Celery worker).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import Flask

from errors import AppError, Conflict
from extensions import db
from ledger import intake
from ledger.actions import ActionTarget
from models import AutomationFiring, Dispatch, MT5Account, User
from services.automation.decide import Fire, FiredKey, decide
from services.automation.targets import Group, fired_keys, live_groups
from services.mt5.dto import AccountRef
from services.mt5_service import account_ref
from utils.background import BackgroundLoop

logger = logging.getLogger("automation")

REFRESH_S = 1.0  # how often the watched legs are read again from the ledger
SPEC_MAX_AGE_S = 3600.0  # the point size does not move


class AutomationWatcher(BackgroundLoop):
    """One thread: ledger reads every REFRESH_S, quotes every tick."""

    thread_name = "automation"

    def __init__(
        self,
        app: Flask,
        *,
        tick_s: float,
        max_age: timedelta,
        submit: Callable[[int], None],
    ) -> None:
        super().__init__()
        self.app = app
        self.tick_s = tick_s
        self.max_age = max_age
        self._submit = submit
        self._gateway = app.extensions["mt5_gateway"]
        self._box = app.extensions["secret_box"]
        self._groups: list[Group] = []
        self._fired: set[FiredKey] = set()
        self._best: dict[tuple[int, str], Decimal] = {}
        self._refs: dict[int, AccountRef] = {}
        self.fired_count = 0

    # --- the loop (start, stop and running: BackgroundLoop) ---------------------------------

    def _run(self) -> None:
        next_refresh = 0.0
        with self.app.app_context():
            while not self._stopping.is_set():
                try:
                    if time.monotonic() >= next_refresh:
                        self._refresh()
                        next_refresh = time.monotonic() + REFRESH_S
                    self.check_quotes()
                except Exception:  # a bad tick must not end the watcher
                    logger.exception("automation: a pass failed")
                    db.session.rollback()
                finally:
                    db.session.remove()
                self._stopping.wait(self.tick_s)

    def poll_once(self) -> int:
        """Read the watched legs and their quotes once, fire what they decide (tests, a CLI)."""
        self._refresh()
        return self.check_quotes()

    def _refresh(self) -> None:
        groups = live_groups(db.session, max_age=self.max_age)
        dispatches = {w.dispatch_id for g in groups for w in g.watched}
        self._fired = fired_keys(db.session, dispatches)
        self._refs = {k: v for k, v in self._refs.items() if k in _quote_accounts(groups)}
        db.session.rollback()
        self._groups = groups

    def check_quotes(self) -> int:
        """One pass over the watched groups: read their quotes, fire what they decide."""
        fired = 0
        for group in self._groups:
            for fire in self._decide(group):
                fired += self._fire(fire)
        return fired

    def _decide(self, group: Group) -> list[Fire]:
        try:
            ref = self._quote_ref(group.quote_account_id)
            tick = self._gateway.tick(ref, group.symbol)
            spec = self._gateway.symbol_spec(ref, group.symbol, max_age_s=SPEC_MAX_AGE_S)
        except AppError as exc:  # that server is away: its rules wait for its next quote
            logger.info(
                "automation: no quote for %s on %s (%s)", group.symbol, group.server, exc.code
            )
            return []
        return decide(group, tick.bid, tick.ask, spec.point, self._best, self._fired)

    def _quote_ref(self, account_id: int) -> AccountRef:
        ref = self._refs.get(account_id)
        if ref is None:
            account = db.session.get(MT5Account, account_id)
            assert account is not None  # the watched rows join their account
            ref = self._refs[account_id] = account_ref(account, self._box)
            db.session.rollback()
        return ref

    def _fire(self, fire: Fire) -> int:
        """Create the rule's action (and its firing) in one transaction; hand it to the executor."""
        session = db.session
        parent = session.get(Dispatch, fire.dispatch_id)
        creator = session.get(User, fire.creator_id)
        if (
            parent is None
            or creator is None
            or (parent.automation is None and fire.rule != "virtual_tp")
        ):
            self._fired.add(fire.key)  # the rules were removed meanwhile
            session.rollback()
            return 0
        try:
            action = intake.create_action(
                session=session,
                creator=creator,
                action=fire.action,
                targets=[_target(leg) for leg in fire.legs],
                parent=parent,
                idempotency_key=None,
                body_hash=_firing_hash(fire),
                expires_in_s=None,
                ip=None,
                firing=AutomationFiring(
                    dispatch_id=fire.dispatch_id, rule=fire.rule, scope=fire.scope, level=fire.level
                ),
            )
        except Conflict:  # another watcher fired it first
            self._fired.add(fire.key)
            return 0
        self._fired.add(fire.key)
        logger.info(
            "automation: %s of dispatch %s fired on %s (%s): action %s, %s leg(s)",
            fire.rule, fire.dispatch_id, fire.scope, fire.level or "-", action.id, len(fire.legs),
        )  # fmt: skip
        self._submit(action.id)
        self.fired_count += 1
        return 1


def _target(leg: Any) -> ActionTarget:
    return ActionTarget(leg.account_id, leg.user_id, leg.terminal, leg.leg, leg.ticket, leg.row_id)


def _firing_hash(fire: Fire) -> str:
    text = "|".join(str(part) for part in fire.key)
    return hashlib.sha256(text.encode()).hexdigest()


def _quote_accounts(groups: list[Group]) -> set[int]:
    return {g.quote_account_id for g in groups}
