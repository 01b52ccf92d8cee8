"""Shared schema fields: exact decimals that refuse booleans, NaN, Infinity and absurd sizes."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from apiflask import fields
from marshmallow import ValidationError

MAX_ABS = Decimal("1e15")
# Decimal() also reads "1_000", fullwidth digits and "NaN": a wire decimal is ASCII only.
DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


class DecimalString(fields.Field):
    """A JSON number or decimal string in; a decimal string out.

    Rejects booleans (JSON ``true`` is not 1), non-finite values and anything outside
    +/-1e15 or with more than 12 decimal places. Nothing passes through float.
    """

    def __init__(
        self,
        *,
        positive: bool = False,
        non_negative: bool = False,
        max_places: int = 12,
        **kwargs: Any,
    ) -> None:
        metadata = kwargs.pop("metadata", {})
        metadata.setdefault("type", "string")
        metadata.setdefault("format", "decimal")
        metadata.setdefault("pattern", r"^-?\d+(\.\d+)?$")
        metadata.setdefault("example", "0.10")
        super().__init__(metadata=metadata, **kwargs)
        self.positive = positive
        self.non_negative = non_negative
        self.max_places = max_places

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        return format(number, "f")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise ValidationError("Must be a number or a decimal string.")
        if isinstance(value, str) and (
            len(value) > 40 or not DECIMAL_TEXT.fullmatch(value.strip())
        ):
            raise ValidationError("Not a valid decimal.")
        try:
            number = Decimal(value.strip() if isinstance(value, str) else value)
        except (InvalidOperation, ValueError) as exc:
            raise ValidationError("Not a valid decimal.") from exc
        if not number.is_finite() or abs(number) > MAX_ABS:
            raise ValidationError("Must be a finite number within +/-1e15.")
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > self.max_places:
            raise ValidationError(f"At most {self.max_places} decimal places.")
        if self.positive and number <= 0:
            raise ValidationError("Must be greater than 0.")
        if self.non_negative and number < 0:
            raise ValidationError("Must not be negative.")
        return number


class StrictInteger(fields.Integer):
    """An integer that refuses booleans and numbers with a fractional part."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Must be an integer.")
        if isinstance(value, Decimal):
            if value != value.to_integral_value() or not value.is_finite():
                raise ValidationError("Must be an integer.")
            value = int(value)
        result: int = super()._deserialize(value, attr, data, **kwargs)
        if abs(result) > 2**63 - 1:
            raise ValidationError("Integer out of range.")
        return result


class OneOfField(fields.Field):
    """A field that takes more than one JSON type; subclasses name them in ``ONE_OF`` (and may
    give a ``DESCRIPTION``) for the OpenAPI document."""

    ONE_OF: tuple[dict[str, Any], ...] = ()
    DESCRIPTION: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        metadata = kwargs.pop("metadata", {})
        metadata.setdefault("oneOf", list(self.ONE_OF))
        if self.DESCRIPTION is not None:
            metadata.setdefault("description", self.DESCRIPTION)
        super().__init__(metadata=metadata, **kwargs)
