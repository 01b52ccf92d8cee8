"""The signal grammar's words: the tokenizer, the vocabulary and the reader both parsers use.

``tokenize`` turns a text into words, numbers, ``#<id>`` references and the marks @ % $ -
(upper case, NFKC, emoji and punctuation dropped); ``Reader`` is the cursor the open and
follow-up parsers (``grammar``, ``followups``) read those tokens with.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ledger.types import OrderType, Side
from services.signals.commands import SignalNotUnderstood

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


class Reader:
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


def is_level(word: str | None) -> bool:
    """SL, TP, TP1..TP9: a level a market can hit."""
    return word is not None and (word in {"SL", "TP"} or tp_label(word) is not None)


def tp_label(word: str) -> int | None:
    """TP1..TP9: the leg it names."""
    match = re.fullmatch(r"TP([1-9])", word)
    return int(match.group(1)) if match else None
