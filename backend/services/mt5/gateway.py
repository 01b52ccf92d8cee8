"""MT5Gateway: one adapter over the MetaTrader5 API for every terminal source; our types out."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from errors import AppError, MT5Error, OrderOutcomeUnknown, ValidationFailed
from services.mt5 import convert, symbols
from services.mt5.dto import (
    AccountRef,
    AccountSnapshot,
    Deal,
    OrderFate,
    OrderRequest,
    OrderResult,
    PendingChange,
    PendingOrder,
    PendingRemoval,
    Position,
    StopsChange,
    SymbolSpec,
    TaggedOrder,
    TerminalStatus,
    Tick,
    TradeRequest,
)
from services.mt5.retcodes import FILLED_CODES
from services.mt5.sessions import RpycSettings, TerminalURL
from services.mt5.slots import Slot
from services.mt5.sources import NativeFactory, SimSettings, Sources
from services.mt5.spec_cache import Key, SpecCache

# MT5 history is stamped in the broker's server time (often UTC+2/+3): widen the window by a day
# each side when looking for a tag; the magic + comment pair is what identifies the order.
HISTORY_PAD_S = 86_400
HEALTH_LOCK_WAIT_S = 0.2
MARKET_EXECUTION_MODES = frozenset({2, 3})  # SYMBOL_TRADE_EXECUTION_MARKET, _EXCHANGE

logger = logging.getLogger("mt5.gateway")


class MT5Gateway:
    """Every MT5 call of the product. Thread-safe: one lock per terminal session (per account on
    ``sim://``), so calls on one terminal queue and different terminals run in parallel."""

    def __init__(
        self,
        *,
        sim: SimSettings,
        rpyc: RpycSettings | None = None,
        native_modules: NativeFactory | None = None,
        sim_connections: int = 0,
    ) -> None:
        self.sources = Sources(
            sim, rpyc or RpycSettings(timeout_s=75), native_modules,
            sim_connections=sim_connections,
        )  # fmt: skip
        self._slots: dict[str, Slot] = {}
        self._slots_lock = threading.Lock()
        self.specs = SpecCache()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **kwargs: Any) -> MT5Gateway:
        sim = SimSettings(
            db_path=str(config["MT5_SIM_DB"]), latency_ms=int(config.get("MT5_SIM_LATENCY_MS", 0)),
            seed=config.get("MT5_SIM_SEED"),
            commission_per_lot=Decimal(str(config.get("MT5_SIM_COMMISSION_PER_LOT") or 0)),
            ticks_path=str(config.get("MT5_SIM_TICKS") or ""),
            in_process=not config.get("MT5_SIM_PROCESS", False),
        )  # fmt: skip
        rpyc = RpycSettings(
            timeout_s=float(config.get("MT5_CALL_TIMEOUT_S", 75)),
            keyfile=config.get("MT5_RPYC_KEYFILE", ""),
            certfile=config.get("MT5_RPYC_CERTFILE", ""),
            ca_certs=config.get("MT5_RPYC_CA_CERTS", ""),
        )  # fmt: skip
        # As many links to a simulator process as orders can be at its terminals at once.
        kwargs.setdefault("sim_connections", int(config.get("EXECUTOR_THREADS", 0)))
        return cls(sim=sim, rpyc=rpyc, **kwargs)

    # -- sessions ---------------------------------------------------------------------------

    def _slot(self, key: str, terminal: str) -> Slot:
        # Found without the lock (a dict read is atomic): every call of every order thread
        # passes here, several times per order, and a shared lock made them queue and switch.
        slot = self._slots.get(key)
        if slot is not None:
            return slot
        with self._slots_lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = Slot(key, terminal, self.sources)
            return slot

    @contextmanager
    def _attached(self, account: AccountRef, *, relogin: bool = False) -> Iterator[Slot]:
        slot = self._slot(Sources.session_key(account), account.terminal)
        with slot.lock:
            slot.attach(account, relogin=relogin)
            yield slot

    # -- account ----------------------------------------------------------------------------

    def connect(self, account: AccountRef) -> tuple[AccountSnapshot, TerminalStatus, float]:
        """initialize + login (re-checks the credentials); latency_ms = one terminal round trip."""
        with self._attached(account, relogin=True) as slot:
            snapshot = self._snapshot(slot, account)
            started = time.perf_counter()
            raw_terminal = slot.expect("terminal_info")
            latency_ms = (time.perf_counter() - started) * 1000
            status = convert.terminal_status(
                raw_terminal, url=account.terminal, simulated=slot.session.simulated
            )
        return snapshot, status, round(latency_ms, 3)

    def heartbeat(
        self, account: AccountRef, *, relogin: bool = False
    ) -> tuple[AccountSnapshot, bool, float]:
        """The session keeper's look: attach (``relogin`` re-checks the credentials), then
        account_info and terminal_info on the same cached session the ledger sends through.
        Returns the snapshot, whether the terminal is connected to its trade server, and the
        account_info round trip in ms."""
        with self._attached(account, relogin=relogin) as slot:
            started = time.perf_counter()
            snapshot = self._snapshot(slot, account)
            latency_ms = (time.perf_counter() - started) * 1000
            terminal, _ = slot.call("terminal_info")
        connected = terminal is None or bool(dict(terminal).get("connected", True))
        return snapshot, connected, round(latency_ms, 3)

    def account_snapshot(self, account: AccountRef) -> AccountSnapshot:
        with self._attached(account) as slot:
            return self._snapshot(slot, account)

    def _snapshot(self, slot: Slot, account: AccountRef) -> AccountSnapshot:
        snapshot = convert.account_snapshot(slot.expect("account_info"))
        slot.session.currencies[account.login] = snapshot.currency
        slot.session.margin_modes[account.login] = snapshot.margin_mode
        return snapshot

    def known_margin_mode(self, account: AccountRef) -> str | None:
        """ "hedging", "netting" or "exchange" as the account's open session last read it; None
        when no session has read it yet. No terminal call."""
        slot = self._slot(Sources.session_key(account), account.terminal)
        with slot.lock:
            return slot.session.margin_modes.get(account.login) if slot.is_open else None

    # -- symbols ----------------------------------------------------------------------------

    def resolve_symbol(self, account: AccountRef, symbol: str) -> str:
        with self._attached(account) as slot:
            return self._resolve(slot, account, symbol)

    def _resolve(self, slot: Slot, account: AccountRef, symbol: str) -> str:
        session = slot.session
        currency = session.currencies.get(account.login)
        if currency is None:
            currency = self._snapshot(slot, account).currency
        cent = symbols.is_cent_currency(currency)
        key = (account.server, symbol, tuple(sorted(account.symbol_map.items())), cent)
        if key not in session.resolved:
            names = session.names.get(account.server)
            if names is None:
                found, last_error = session.symbol_names()
                if found is None:
                    raise MT5Error("The terminal did not list its symbols.", last_error=last_error)
                names = session.names[account.server] = found
            session.resolved[key] = symbols.resolve(
                symbol, names, symbol_map=account.symbol_map, cent=cent
            )
        return session.resolved[key]

    def symbol_spec(
        self, account: AccountRef, symbol: str, *, max_age_s: float | None = None
    ) -> SymbolSpec:
        """The symbol's contract; ``max_age_s`` accepts one read that recently on this server
        (volume rules and contract sizes do not move; tick values follow quotes)."""
        with self._attached(account) as slot:
            name = self._resolve(slot, account, symbol)
            key = _spec_key(account, name)
            cached = self.specs.get(key, max_age_s) if max_age_s is not None else None
            if cached is not None:
                return cached
            spec = convert.symbol_spec(self._symbol_info(slot, name))
            slot.session.executions[(account.server, name)] = (
                spec.filling_mode,
                spec.trade_exemode,
            )
            self.specs.put(key, spec)
            return spec

    def _symbol_info(self, slot: Slot, name: str) -> dict[str, Any]:
        raw, _ = slot.call("symbol_info", name)
        if raw is None or not raw.get("select", True):
            # Not in Market Watch: the terminal keeps no quotes for it until selected.
            slot.expect("symbol_select", name, True)
            raw = slot.expect("symbol_info", name)
        return dict(raw)

    def tick(self, account: AccountRef, symbol: str) -> Tick:
        with self._attached(account) as slot:
            name = self._resolve(slot, account, symbol)
            return convert.tick(name, self._tick(slot, name))

    def _tick(self, slot: Slot, name: str) -> dict[str, Any]:
        raw, _ = slot.call("symbol_info_tick", name)
        if raw is None:
            slot.expect("symbol_select", name, True)
            raw = slot.expect("symbol_info_tick", name)
        return dict(raw)

    # -- orders -----------------------------------------------------------------------------

    def send_order(self, account: AccountRef, request: TradeRequest) -> OrderResult:
        """order_send as asked; any retcode comes back as is (the executor classifies it).

        None, a timeout or a lost link during order_send raise OrderOutcomeUnknown: the order may
        have landed, so the caller must look for its tag (``find_tagged``) before resending.
        A fill's ``position`` is the position it opened or changed (see ``_position_of_fill``).
        """
        with self._attached(account) as slot:
            wire_request = self._wire_request(slot, account, request)
            try:
                raw, last_error = slot.call("order_send", request=wire_request)
            except AppError as exc:
                raise OrderOutcomeUnknown(
                    details={"terminal": account.terminal, "reason": exc.code}
                ) from exc
            except Exception as exc:  # anything after the request left: outcome unknown
                raise OrderOutcomeUnknown(
                    details={"terminal": account.terminal, "reason": type(exc).__name__}
                ) from exc
            if raw is None:
                raise OrderOutcomeUnknown(
                    last_error=last_error, details={"terminal": account.terminal}
                )
            position = getattr(request, "position", None) or 0
            result = convert.order_result(raw, position=position)
            if result.deal and not result.position and result.retcode in FILLED_CODES:
                position = self._position_of_fill(slot, account, request.symbol, result)
                result = replace(result, position=position)
        return result

    def _position_of_fill(
        self, slot: Slot, account: AccountRef, symbol: str, result: OrderResult
    ) -> int:
        """The id of the position a fill opened or changed; 0 when the terminal cannot say.

        MT5's trade result names the order and the deal, not the position. On a hedging account
        a fill without ``position`` always opens a new position, whose id (POSITION_IDENTIFIER)
        is the opening order's ticket: no terminal call. On a netting (or exchange) account the
        fill may add to, reduce or reverse an older position, so the deal says which
        (DEAL_POSITION_ID): one ``history_deals_get(ticket=deal)``, read from the terminal's
        local history; if that has not caught up with the fill yet, the symbol's one position.
        Never raises: the order has filled, a failed look-up only costs the id.
        """
        mode = slot.session.margin_modes.get(account.login)
        if mode == "hedging":
            return result.order
        found = self._looked_up(slot, result, "history_deals_get", ticket=result.deal)
        if found is None and mode == "netting":  # at most one position per symbol
            found = self._looked_up(slot, result, "positions_get", symbol=symbol)
        return found or 0

    @staticmethod
    def _looked_up(slot: Slot, result: OrderResult, call: str, **query: Any) -> int | None:
        try:
            for record in slot.records(call, **query):
                if call == "positions_get":
                    return int(record.get("identifier") or record["ticket"])
                if int(record["ticket"]) == result.deal:
                    return int(record["position_id"])
        except Exception as exc:  # a broken link or an odd record: the fill stands without it
            logger.warning(
                "order %s: %s for its position failed (%s)", result.order, call, type(exc).__name__
            )
        return None

    def _wire_request(self, slot: Slot, account: AccountRef, order: TradeRequest) -> dict[str, Any]:
        if isinstance(order, StopsChange):
            return convert.build_stops_change(order)
        if isinstance(order, PendingChange):
            return convert.build_pending_change(order)
        if isinstance(order, PendingRemoval):
            return convert.build_pending_removal(order)
        if order.order_type == "market":
            mask, exemode = self._execution(slot, account, order.symbol)
            price = order.price
            if price is None:
                # Market execution fills at the market and needs no price (MqlTradeRequest docs);
                # instant and request execution need the current Ask/Bid.
                needs_price = exemode not in MARKET_EXECUTION_MODES
                price = self._market_price(slot, order) if needs_price else Decimal(0)
            return convert.build_request(
                order, price=price, filling=convert.filling_for(mask, "market")
            )
        if order.price is None:
            raise ValidationFailed("A pending order needs a price.", details={"field": "price"})
        filling = convert.filling_for(0, order.order_type)
        return convert.build_request(order, price=order.price, filling=filling)

    def _execution(self, slot: Slot, account: AccountRef, name: str) -> tuple[int, int]:
        """(filling mask, execution mode) of a symbol, read once per session and server."""
        known = slot.session.executions.get((account.server, name))
        if known is None:
            raw = self._symbol_info(slot, name)
            known = (int(raw.get("filling_mode", 0)), int(raw.get("trade_exemode", 1)))
            slot.session.executions[(account.server, name)] = known
        return known

    def _market_price(self, slot: Slot, order: OrderRequest) -> Decimal:
        quote = convert.tick(order.symbol, self._tick(slot, order.symbol))
        return quote.ask if order.side == "buy" else quote.bid

    def find_tagged(
        self, account: AccountRef, *, magic: int, comment: str, since: datetime
    ) -> TaggedOrder | None:
        """The order an earlier send made, found by magic + comment, or None if it never landed."""
        date_from = int(since.timestamp()) - HISTORY_PAD_S
        date_to = int(time.time()) + HISTORY_PAD_S

        def tagged(raw: dict[str, Any]) -> bool:
            return int(raw["magic"]) == magic and convert.same_tag(str(raw["comment"]), comment)

        with self._attached(account) as slot:
            for deal in slot.records("history_deals_get", date_from, date_to):
                if int(deal["type"]) in (0, 1) and tagged(deal):
                    return convert.tagged_from_deal(deal)
            for position in slot.records("positions_get"):
                if tagged(position):
                    return convert.tagged_from_position(position)
            for order in slot.records("orders_get"):
                if tagged(order):
                    return convert.tagged_from_order(order)
            for order in slot.records("history_orders_get", date_from, date_to):
                if tagged(order):
                    return convert.tagged_from_order(order)
        return None

    def positions(self, account: AccountRef, symbol: str | None = None) -> list[Position]:
        with self._attached(account) as slot:
            if symbol is None:
                raw = slot.records("positions_get")
            else:
                raw = slot.records("positions_get", symbol=self._resolve(slot, account, symbol))
        return [convert.position(p) for p in raw]

    def position(self, account: AccountRef, ticket: int) -> Position | None:
        """One open position by ticket, or None when it is closed (or never was)."""
        with self._attached(account) as slot:
            raw = slot.records("positions_get", ticket=int(ticket))
        return convert.position(raw[0]) if raw else None

    def orders(self, account: AccountRef, symbol: str | None = None) -> list[PendingOrder]:
        """The account's pending orders (all, or one symbol's)."""
        with self._attached(account) as slot:
            if symbol is None:
                raw = slot.records("orders_get")
            else:
                raw = slot.records("orders_get", symbol=self._resolve(slot, account, symbol))
        return [convert.pending_order(o) for o in raw]

    def pending_order(self, account: AccountRef, ticket: int) -> PendingOrder | None:
        """One pending order by ticket, or None when it has left the book."""
        with self._attached(account) as slot:
            raw = slot.records("orders_get", ticket=int(ticket))
        return convert.pending_order(raw[0]) if raw else None

    def order_fate(self, account: AccountRef, ticket: int) -> OrderFate | None:
        """What became of an order that left the book (filled into which position, cancelled);
        None when the history does not know it."""
        with self._attached(account) as slot:
            raw = slot.records("history_orders_get", ticket=int(ticket))
        return convert.order_fate(raw[0]) if raw else None

    def deals(self, account: AccountRef, date_from: datetime, date_to: datetime) -> list[Deal]:
        # MT5 takes whole seconds: widen to whole seconds so the edges stay inside the window.
        span = (math.floor(date_from.timestamp()), math.ceil(date_to.timestamp()))
        with self._attached(account) as slot:
            raw = slot.records("history_deals_get", *span)
        return [convert.deal(d) for d in raw]

    def position_deals(self, account: AccountRef, position_id: int) -> list[Deal]:
        """Every deal of one position (``history_deals_get(position=...)``), in ticket order."""
        with self._attached(account) as slot:
            raw = slot.records("history_deals_get", position=int(position_id))
        return sorted((convert.deal(d) for d in raw), key=lambda d: d.ticket)

    # -- health and shutdown ----------------------------------------------------------------

    def health(self, terminal_url: str) -> dict[str, Any]:
        """Is this terminal reachable? Cheap, never raises, never waits behind a busy terminal."""
        report: dict[str, Any] = {"ok": False, "terminal": terminal_url, "simulated": False,
                                  "connected": False}  # fmt: skip
        try:
            where = TerminalURL.parse(terminal_url)
            if where.scheme == "sim":
                report.update(self.sources.sim_health(where.target))
            else:
                report.update(self._probe(terminal_url))
        except AppError as exc:
            report.update(error={"code": exc.code, "message": exc.message})
        except Exception as exc:  # health must answer whatever happened
            report.update(error={"code": "mt5_error", "message": type(exc).__name__})
        return report

    def _probe(self, terminal_url: str) -> dict[str, Any]:
        slot = self._slot(terminal_url, terminal_url)
        if not slot.lock.acquire(timeout=HEALTH_LOCK_WAIT_S):
            return {"ok": True, "connected": True, "busy": True}  # in use, so alive
        try:
            session = slot.session
            report = {"ok": True, "simulated": session.simulated, "connected": True}
            if session.initialized:
                info = slot.expect("terminal_info")
                report.update(connected=bool(info.get("connected")), build=info.get("build"))
            return report
        finally:
            slot.lock.release()

    def close(self) -> None:
        """Shut every session down and close the simulated brokers' files."""
        with self._slots_lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            with slot.lock:
                slot.drop()
        self.sources.close()


def _spec_key(account: AccountRef, name: str) -> Key:
    return (account.terminal, account.server, name)
