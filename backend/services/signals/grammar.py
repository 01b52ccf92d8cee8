"""The text grammar of signals, pure: ``XAUUSD BUY NOW @2350 SL 2340 TP1 2355`` to a command.

Case-insensitive; emoji, punctuation and line breaks are ignored; anything else the grammar
does not know stops it with a 422 naming the word (a misread signal trades real money, so an
unknown word is never skipped). Opens::

    <symbol> <side> [NOW | @ <price> | LIMIT <price> | STOP <price>] [SL <price>]
        [TP[n] <price> ...] [RISK <percent>% | LOT <lots>]      (clauses in any order)

Follow-ups (``#<signal id>`` anywhere addresses that signal, else the latest open one), up to
three in one text, done in order (``CLOSE HALF AND SL TO BE``)::

    SL TO BE | MOVE SL TO ENTRY | BE       SL <price>      TP[n] <price>
    CLOSE [HALF | <n>% | TP<n> | ALL [<symbol>] | <symbol>]      CANCEL [ALL]
"""

from __future__ import annotations

import re
from decimal import Decimal

from ledger.types import OrderType, Risk, Side, TakeProfit, TradeOrder
from services.signals.commands import (
    MAX_RISK_PERCENT,
    OpenSignal,
    SignalCommand,
    SignalNotUnderstood,
)
from services.signals.followups import FollowUpParser
from services.signals.tokens import (
    COMPOUND_SIDES,
    ENTRY_WORDS,
    LOT_WORDS,
    MARKET_WORDS,
    MAX_TAKE_PROFITS,
    MAX_TEXT,
    NOISE,
    ORDER_TYPES,
    SIDES,
    SL_WORDS,
    TP_WORDS,
    Reader,
    SymbolResolver,
    Token,
    tokenize,
)

__all__ = ["MAX_TAKE_PROFITS", "MAX_TEXT", "parse", "tokenize"]


def parse(text: str, resolve_symbol: SymbolResolver) -> SignalCommand:
    """The command a signal text asks for; ``SignalNotUnderstood`` (422) where it stops.

    ``resolve_symbol``: our name for a word (GOLD -> XAUUSD), or None when it is no symbol.
    """
    if len(text) > MAX_TEXT:
        raise SignalNotUnderstood(f"a signal is at most {MAX_TEXT} characters", word="", position=0)
    tokens = tokenize(text)
    refs = [t for t in tokens if t.kind == "ref"]
    if len(refs) > 1:
        raise Reader(tokens).error("name one signal (#id) at most", token=refs[1])
    words = [t for t in tokens if t.kind != "ref"]
    if not words:
        raise SignalNotUnderstood("the text is empty", word="", position=1)
    signal_id = int(refs[0].text[1:]) if refs else None
    if any(t.kind == "word" and (t.text in SIDES or _compound(t.text)) for t in words):
        if signal_id is not None:
            raise Reader(tokens).error("a new signal cannot name another one", token=refs[0])
        return _OpenParser(Reader(words), resolve_symbol).parse()
    return FollowUpParser(Reader(words), resolve_symbol, signal_id).parse()


def _compound(word: str) -> tuple[Side, OrderType] | None:
    return COMPOUND_SIDES.get(word.replace("_", "").replace("-", ""))


class _OpenParser:
    """An open: a symbol, a side and clauses in any order."""

    def __init__(self, reader: Reader, resolve_symbol: SymbolResolver) -> None:
        self.r = reader
        self.resolve_symbol = resolve_symbol
        self.symbol: str | None = None
        self.side: Side | None = None
        self.order_type: OrderType | None = None
        self.order_type_token: Token | None = None
        self.market = False
        self.entry: Decimal | None = None
        self.stop_loss: Decimal | None = None
        self.numbered_tps: dict[int, Decimal] = {}
        self.tps: list[Decimal] = []
        self.risk: Decimal | None = None
        self.volume: Decimal | None = None

    def parse(self) -> OpenSignal:
        while self.r.peek() is not None:
            self._clause()
        if self.symbol is None:
            raise self.r.error("no symbol (XAUUSD, GOLD, EURUSD...)", expected="a symbol")
        assert self.side is not None  # parse() only comes here with a side word
        return self._build()

    def _clause(self) -> None:
        token = self.r.next()
        word = token.text if token.kind == "word" else None
        if token.kind == "number":
            self._number(token)
        elif token.kind == "mark":
            self._mark(token)
        elif word in SIDES or (word and _compound(word)):
            self._side(token)
        elif word in ORDER_TYPES and self.r.peek_word() != "LOSS":
            self._order_type(token, ORDER_TYPES[word])
        elif word in MARKET_WORDS:
            self._market(token)
        elif word in ENTRY_WORDS:
            self._entry(token)
        elif word in SL_WORDS or (word == "STOP" and self.r.skip("LOSS")):
            self._stop_loss(token)
        elif word == "TAKE" and self.r.skip("PROFIT"):
            self._take_profits(token, None)
        elif word in TP_WORDS or (word and re.fullmatch(r"TP[1-9]", word)):
            self._take_profits(
                token, int(word[2]) if len(word) == 3 and word[2].isdigit() else None
            )
        elif word == "RISK":
            self._risk(token)
        elif word in LOT_WORDS:
            self.r.skip("SIZE")
            self._volume(token, self.r.number("the lots"))
        elif word in NOISE or (word is not None and self._symbol(token)):
            return
        else:
            raise self.r.error("not part of a signal", expected="SL, TP, RISK, LOT...", token=token)

    def _side(self, token: Token) -> None:
        if self.side is not None:
            raise self.r.error("the side is given twice", token=token)
        compound = _compound(token.text)
        if compound is not None:
            self.side = compound[0]
            self._order_type(token, compound[1])
            return
        self.side = SIDES[token.text]
        following = self.r.peek_word()
        if following in ORDER_TYPES and self.r.peek_word(1) != "LOSS":
            self._order_type(self.r.next(), ORDER_TYPES[following])

    def _order_type(self, token: Token, order_type: OrderType) -> None:
        if self.order_type is not None or self.market:
            raise self.r.error("the order type is given twice", token=token)
        self.order_type = order_type
        self.order_type_token = token
        if self.r.at_number() or self.r.peek_text() == "@":
            self._set_entry(token, self.r.number("the entry price"))

    def _market(self, token: Token) -> None:
        if self.order_type is not None and self.order_type is not OrderType.MARKET:
            raise self.r.error("a limit or stop order is not a market order", token=token)
        self.market = True
        self.order_type = OrderType.MARKET

    def _entry(self, token: Token) -> None:
        self.r.skip("PRICE", "ZONE")
        self._set_entry(token, self.r.number("the entry price"))

    def _mark(self, token: Token) -> None:
        if token.text == "@":
            self._set_entry(token, self.r.number("the entry price"))
            return
        raise self.r.error("not part of a signal", token=token)

    def _number(self, token: Token) -> None:
        value = Decimal(token.text)
        if self.r.peek_word() in LOT_WORDS:
            self.r.next()
            self._volume(token, value)
            return
        if self.entry is None and self.side is not None and not self.tps and not self.stop_loss:
            if value <= 0:
                raise self.r.error("the entry price must be above zero", token=token)
            self._set_entry(token, value)
            return
        raise self.r.error("a number without a label (SL, TP...)", token=token)

    def _set_entry(self, token: Token, value: Decimal) -> None:
        if self.entry is not None:
            raise self.r.error("the entry price is given twice", token=token)
        self.entry = value
        if self.r.peek_text() == "-":
            # An entry zone (2350 - 2353): the first price is the entry; the other bound is
            # where the provider would still take it, which a market or pending order cannot say.
            self.r.next()
            self.r.number("the other end of the entry zone")

    def _stop_loss(self, token: Token) -> None:
        if self.stop_loss is not None:
            raise self.r.error("the stop loss is given twice", token=token)
        self.stop_loss = self.r.number("the stop loss price")

    def _take_profits(self, token: Token, number: int | None) -> None:
        if number is not None:
            if number in self.numbered_tps:
                raise self.r.error(f"TP{number} is given twice", token=token)
            self.numbered_tps[number] = self.r.number(f"the TP{number} price")
            return
        self.tps.append(self.r.number("the take profit price"))
        while True:  # TP 2355 2360 2370, TP 2355/2360, TP 2355 - 2360
            if self.r.peek_text() == "-" and self._number_at(1):
                self.r.next()
            if not self.r.at_number() or self.r.peek_word(1) in LOT_WORDS:
                return
            self.tps.append(self.r.number("the take profit price"))

    def _number_at(self, ahead: int) -> bool:
        token = self.r.peek(ahead)
        return token is not None and token.kind == "number"

    def _risk(self, token: Token) -> None:
        if self.risk is not None or self.volume is not None:
            raise self.r.error("give RISK or LOT once", token=token)
        value = self.r.number("the risk percent")
        if self.r.peek_text() == "$":
            raise self.r.error("give the risk as a percent of the balance (RISK 1%)")
        self.r.skip("%", "PERCENT")
        if value > MAX_RISK_PERCENT:
            raise self.r.error(f"a risk above {MAX_RISK_PERCENT}% per trade", token=token)
        self.risk = value

    def _volume(self, token: Token, value: Decimal) -> None:
        if self.risk is not None or self.volume is not None:
            raise self.r.error("give RISK or LOT once", token=token)
        if value <= 0:
            raise self.r.error("the lots must be above zero", token=token)
        self.volume = value

    def _symbol(self, token: Token) -> bool:
        symbol = self.resolve_symbol(token.text)
        if symbol is None:
            return False
        if self.symbol is not None:
            raise self.r.error("a second symbol", token=token)
        self.symbol = symbol
        return True

    def _build(self) -> OpenSignal:
        take_profits = [self.numbered_tps[n] for n in sorted(self.numbered_tps)] + self.tps
        if len(take_profits) > MAX_TAKE_PROFITS:
            raise self.r.error(f"at most {MAX_TAKE_PROFITS} take profits")
        order_type = self.order_type or OrderType.MARKET
        pending = order_type is not OrderType.MARKET
        if pending and self.entry is None:
            raise self.r.error(
                "a limit or stop order needs its price",
                expected="a price after it",
                token=self.order_type_token,
            )
        assert self.symbol is not None and self.side is not None
        order = TradeOrder(
            symbol=self.symbol,
            side=self.side,
            order_type=order_type,
            price=self.entry if pending else None,
            stop_loss=self.stop_loss,
            take_profits=tuple(TakeProfit(price) for price in take_profits),
            volume=self.volume,
            risk=Risk(percent=self.risk) if self.risk is not None else None,
        )
        return OpenSignal(order=order, entry_reference=None if pending else self.entry)
