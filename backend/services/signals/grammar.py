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
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ledger.actions import ActionKind, TradeAction
from ledger.types import OrderType, Risk, Side, TakeProfit, TradeOrder
from services.signals.commands import (
    MAX_FOLLOW_UP_ACTIONS,
    MAX_RISK_PERCENT,
    FollowUp,
    FollowUpScope,
    OpenSignal,
    SignalCommand,
    SignalNotUnderstood,
)

SymbolResolver = Callable[[str], str | None]

MAX_TEXT = 2000  # characters: a signal, not an essay
MAX_TAKE_PROFITS = 10

_KEEP = set("._/+#@%$-")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_NUMBER_SLASH = re.compile(r"(?<=\d)\s*/\s*(?=\d)")  # 2350/2353, TP 2355/2360: as "-"
# Combining marks belong to the word they sit on (Thai vowels, accents), which \w does not say.
_MARKS = "".join(
    re.escape(chr(code))
    for code in range(0x300, 0x10000)
    if unicodedata.category(chr(code)).startswith("M")
)
_W = rf"[\w{_MARKS}]"
_TOKEN = re.compile(
    r"(?P<ref>\#\d{1,12})"
    r"|(?P<number>\d+(?:\.\d+)?)"
    rf"|(?P<word>[^\W\d_]{_W}*(?:[./_]{_W}+|[-+#][^\W\d_]{_W}*)*[+#!]?)"
    r"|(?P<mark>[@%$-])"
    r"|(?P<other>\S)"
)
# A label glued to its number (SL2340, TP2360, @2350): split, but TP1..TP9 stay leg labels.
_GLUED = re.compile(r"^(SL|TP|S/L|T/P|RISK|LOT|LOTS)(\d{2,}(?:\.\d+)?|\d\.\d+)$")

SIDES: dict[str, Side] = {"BUY": "buy", "LONG": "buy", "SELL": "sell", "SHORT": "sell"}
COMPOUND_SIDES: dict[str, tuple[Side, OrderType]] = {
    "BUYLIMIT": ("buy", OrderType.LIMIT),
    "SELLLIMIT": ("sell", OrderType.LIMIT),
    "BUYSTOP": ("buy", OrderType.STOP),
    "SELLSTOP": ("sell", OrderType.STOP),
}
ORDER_TYPES = {"LIMIT": OrderType.LIMIT, "STOP": OrderType.STOP}
MARKET_WORDS = {"NOW", "MARKET", "MKT", "CMP", "INSTANT"}
ENTRY_WORDS = {"ENTRY", "PRICE", "AT", "ENTER", "OPEN"}
SL_WORDS = {"SL", "S/L", "STOPLOSS"}
TP_WORDS = {"TP", "T/P", "TAKEPROFIT", "TARGET", "TARGETS"}
LOT_WORDS = {"LOT", "LOTS", "VOLUME", "VOL"}
BE_WORDS = {"BE", "BREAKEVEN", "ENTRY", "COST"}
CLOSE_WORDS = {"CLOSE", "EXIT"}
CANCEL_WORDS = {"CANCEL", "DELETE", "REMOVE"}
MOVE_WORDS = {"MOVE", "SET", "NEW", "MODIFY", "PUT", "UPDATE", "CHANGE"}
PENDING_WORDS = {"ORDER", "ORDERS", "PENDING", "LIMIT", "LIMITS"}
HIT_WORDS = {"HIT", "REACHED", "DONE", "SMASHED"}
# Words that say nothing a trade depends on.
NOISE = {"SIGNAL", "ORDER", "TRADE", "ZONE", "AREA", "PAIR", "VIP", "NOW", "PLEASE", "AND", "THEN"}


@dataclass(frozen=True)
class Token:
    kind: str  # ref | number | word | mark
    text: str  # upper case
    position: int  # 1-based, among the tokens


def tokenize(text: str) -> list[Token]:
    """Words, numbers, ``#<id>`` and the marks @ % $ -; emoji and punctuation dropped."""
    text = unicodedata.normalize("NFKC", text).upper()
    text = _THOUSANDS.sub("", text)
    text = _NUMBER_SLASH.sub(" - ", text)
    text = "".join(_kept(c) for c in text)
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        if kind == "other":
            continue
        value = match.group()
        glued = _GLUED.match(value) if kind == "word" else None
        if glued:
            tokens.append(Token("word", glued.group(1), len(tokens) + 1))
            tokens.append(Token("number", glued.group(2), len(tokens) + 1))
            continue
        if kind == "word":
            value = value.rstrip("!")
        tokens.append(Token(kind, value, len(tokens) + 1))
    return tokens


def _kept(char: str) -> str:
    if char.isalnum() or char in _KEEP or unicodedata.category(char).startswith("M"):
        return char
    return " "


class _Reader:
    """A cursor over the tokens, raising ``SignalNotUnderstood`` at the word it stops at."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self, ahead: int = 0) -> Token | None:
        at = self.index + ahead
        return self.tokens[at] if at < len(self.tokens) else None

    def peek_word(self, ahead: int = 0) -> str | None:
        token = self.peek(ahead)
        return token.text if token is not None and token.kind == "word" else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.error("the text ends too early")
        self.index += 1
        return token

    def peek_text(self, ahead: int = 0) -> str | None:
        token = self.peek(ahead)
        return token.text if token is not None else None

    def at_number(self) -> bool:
        token = self.peek()
        return token is not None and token.kind == "number"

    def skip(self, *words: str) -> bool:
        if self.peek_text() in words:
            self.index += 1
            return True
        return False

    def error(self, reason: str, expected: str = "", token: Token | None = None) -> Exception:
        token = token or self.peek()
        if token is None:
            return SignalNotUnderstood(
                reason, word="", position=len(self.tokens) + 1, expected=expected
            )
        return SignalNotUnderstood(
            reason, word=token.text, position=token.position, expected=expected
        )

    def number(self, what: str) -> Decimal:
        self.skip("@", "TO", "AT")
        token = self.peek()
        if token is None or token.kind != "number":
            raise self.error(f"expected {what}", expected="a number")
        self.index += 1
        value = Decimal(token.text)
        if value <= 0:
            raise self.error(f"{what} must be above zero", token=token)
        return value


def parse(text: str, resolve_symbol: SymbolResolver) -> SignalCommand:
    """The command a signal text asks for; ``SignalNotUnderstood`` (422) where it stops.

    ``resolve_symbol``: our name for a word (GOLD -> XAUUSD), or None when it is no symbol.
    """
    if len(text) > MAX_TEXT:
        raise SignalNotUnderstood(f"a signal is at most {MAX_TEXT} characters", word="", position=0)
    tokens = tokenize(text)
    refs = [t for t in tokens if t.kind == "ref"]
    if len(refs) > 1:
        raise _Reader(tokens).error("name one signal (#id) at most", token=refs[1])
    words = [t for t in tokens if t.kind != "ref"]
    if not words:
        raise SignalNotUnderstood("the text is empty", word="", position=1)
    signal_id = int(refs[0].text[1:]) if refs else None
    if any(t.kind == "word" and (t.text in SIDES or _compound(t.text)) for t in words):
        if signal_id is not None:
            raise _Reader(tokens).error("a new signal cannot name another one", token=refs[0])
        return _OpenParser(_Reader(words), resolve_symbol).parse()
    return _FollowUpParser(_Reader(words), resolve_symbol, signal_id).parse()


def _compound(word: str) -> tuple[Side, OrderType] | None:
    return COMPOUND_SIDES.get(word.replace("_", "").replace("-", ""))


class _OpenParser:
    """An open: a symbol, a side and clauses in any order."""

    def __init__(self, reader: _Reader, resolve_symbol: SymbolResolver) -> None:
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


class _FollowUpParser:
    """A follow-up: one command, addressed to ``#id`` or to the latest open signal."""

    def __init__(
        self, reader: _Reader, resolve_symbol: SymbolResolver, signal_id: int | None
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
            elif _is_level(word) and self.r.peek_word(1) in HIT_WORDS:
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
        if word is not None and (word in TP_WORDS or _tp_label(word)):
            return self._take_profit(_tp_label(word))
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
        if word is not None and _tp_label(word):
            self.r.next()
            return TradeAction(kind=ActionKind.CLOSE, legs=(_tp_label(word) or 1,))
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


def _is_level(word: str | None) -> bool:
    """SL, TP, TP1..TP9: a level a market can hit."""
    return word is not None and (word in {"SL", "TP"} or _tp_label(word) is not None)


def _tp_label(word: str) -> int | None:
    """TP1..TP9: the leg it names."""
    match = re.fullmatch(r"TP([1-9])", word)
    return int(match.group(1)) if match else None
