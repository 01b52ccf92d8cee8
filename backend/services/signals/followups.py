"""Follow-up signals: ``SL TO BE``, ``CLOSE HALF``, ``TP2 HIT``, ``CANCEL ALL`` ... to actions."""

from __future__ import annotations

from decimal import Decimal

from ledger.actions import ActionKind, TradeAction
from services.signals.commands import MAX_FOLLOW_UP_ACTIONS, FollowUp, FollowUpScope
from services.signals.tokens import (
    BE_WORDS,
    CANCEL_WORDS,
    CLOSE_WORDS,
    HIT_WORDS,
    MOVE_WORDS,
    NOISE,
    PENDING_WORDS,
    SL_WORDS,
    TP_WORDS,
    Reader,
    SymbolResolver,
    is_level,
    tp_label,
)


class FollowUpParser:
    """A follow-up: one command, addressed to ``#id`` or to the latest open signal."""

    def __init__(
        self, reader: Reader, resolve_symbol: SymbolResolver, signal_id: int | None
    ) -> None:
        self.r = reader
        self.resolve_symbol = resolve_symbol
        self.signal_id = signal_id
        self.scope = FollowUpScope.SIGNAL if signal_id is not None else FollowUpScope.LATEST
        self.symbol: str | None = None
        self.commands = 0

    def parse(self) -> FollowUp:
        self._skip_commentary()
        if self.r.peek() is None:
            raise self.r.error("nothing to do", expected="SL TO BE, CLOSE, CANCEL...")
        actions: list[TradeAction] = []
        while self.r.peek() is not None:
            if len(actions) == MAX_FOLLOW_UP_ACTIONS:
                raise self.r.error(f"at most {MAX_FOLLOW_UP_ACTIONS} commands in one signal")
            actions.append(self._command())
            self._skip_commentary()
        return FollowUp(
            actions=tuple(actions), scope=self.scope, signal_id=self.signal_id, symbol=self.symbol
        )

    def _skip_commentary(self) -> None:
        """``TP1 HIT ✅`` and the like: news about the trade, not a command."""
        while True:
            word = self.r.peek_word()
            if word in NOISE:
                self.r.next()
            elif is_level(word) and self.r.peek_word(1) in HIT_WORDS:
                self.r.index += 2
            else:
                return

    def _command(self) -> TradeAction:
        action = self._one_command()
        self.commands += 1
        return action

    def _one_command(self) -> TradeAction:
        token = self.r.next()
        word = token.text if token.kind == "word" else None
        if word in MOVE_WORDS:
            token = self.r.next()
            word = token.text if token.kind == "word" else None
        if word in {"BE", "BREAKEVEN"} or (word == "BREAK" and self.r.skip("EVEN")):
            return TradeAction(kind=ActionKind.BREAKEVEN)
        if word in SL_WORDS or (word == "STOP" and self.r.skip("LOSS")):
            return self._stop_loss()
        if word is not None and (word in TP_WORDS or tp_label(word)):
            return self._take_profit(tp_label(word))
        if word in CLOSE_WORDS:
            return self._close()
        if word in CANCEL_WORDS:
            while self.r.skip(*PENDING_WORDS):
                pass
            if self.r.skip("ALL"):
                self._all()
            while self.r.skip(*PENDING_WORDS):
                pass
            return TradeAction(kind=ActionKind.CANCEL)
        raise self.r.error(
            "not a command", expected="SL TO BE, SL <price>, TP <price>, CLOSE, CANCEL", token=token
        )

    def _stop_loss(self) -> TradeAction:
        self.r.skip("TO", "AT", "@")
        if self.r.skip(*BE_WORDS) or (self.r.skip("BREAK") and self.r.skip("EVEN")):
            self.r.skip("PRICE", "POINT")
            return TradeAction(kind=ActionKind.BREAKEVEN)
        return TradeAction(kind=ActionKind.MODIFY, stop_loss=self.r.number("the new stop loss"))

    def _take_profit(self, leg: int | None) -> TradeAction:
        price = self.r.number("the new take profit")
        return TradeAction(
            kind=ActionKind.MODIFY, take_profit=price, legs=(leg,) if leg is not None else ()
        )

    def _close(self) -> TradeAction:
        self.r.skip("NOW", "FULL", "POSITION", "POSITIONS", "TRADE", "TRADES", "EVERYTHING")
        token = self.r.peek()
        word = self.r.peek_word()
        if word == "HALF":
            self.r.next()
            self.r.skip("POSITION", "NOW")
            return TradeAction(kind=ActionKind.CLOSE, percent=Decimal(50))
        if word is not None and tp_label(word):
            self.r.next()
            return TradeAction(kind=ActionKind.CLOSE, legs=(tp_label(word) or 1,))
        if word == "ALL":
            self.r.next()
            self._all()
            return TradeAction(kind=ActionKind.CLOSE)
        if token is not None and token.kind == "number":
            percent = self.r.number("the share to close")
            if not self.r.skip("%", "PERCENT"):
                raise self.r.error("give the share to close as a percent (CLOSE 25%)")
            if percent > 100:
                raise self.r.error("at most 100%", token=token)
            return TradeAction(kind=ActionKind.CLOSE, percent=percent)
        if word is not None and self.resolve_symbol(word) is not None:
            self._all()
        return TradeAction(kind=ActionKind.CLOSE)

    def _all(self) -> None:
        """ALL [symbol]: every open signal of the provider (of that symbol)."""
        said = self.r.tokens[self.r.index - 1]  # ALL (or CLOSE, before CLOSE <symbol>)
        if self.signal_id is not None:
            raise self.r.error("ALL and a #signal id cannot go together", token=said)
        if self.commands:
            raise self.r.error(
                "ALL addresses the whole text: put it in the first command", token=said
            )
        self.scope = FollowUpScope.ALL
        self.r.skip("TRADES", "POSITIONS", "ORDERS")
        word = self.r.peek_word()
        if word is not None and (symbol := self.resolve_symbol(word)) is not None:
            self.r.next()
            self.symbol = symbol
            self.r.skip("TRADES", "POSITIONS", "ORDERS")
