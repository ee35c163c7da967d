"""Readers for rate-card fields: every error names the rule and the field.

Rates and amounts must be *quoted* decimals (``"1.20"``, ``"80.00"``): TOML and JSON floats are
binary and cannot hold 1.1 exactly, so a float is refused rather than silently rounded.
"""

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final

from .errors import InvalidRateCard

Table = Mapping[str, object]
#: Coefficients and percentages carry at most this many decimals (basis points of a unit).
COEFFICIENT_PLACES: Final = 4
#: Amounts carry whole fen.
AMOUNT_PLACES: Final = 2


def check_keys(table: Table, where: str, *, required: set[str], optional: set[str]) -> None:
    """Refuse a missing required key or an unknown key (a typo must not be ignored)."""
    missing = sorted(required - table.keys())
    if missing:
        raise InvalidRateCard(
            f"{where}: missing field {missing[0]!r}", rule=where, field=missing[0]
        )
    unknown = sorted(table.keys() - required - optional)
    if unknown:
        raise InvalidRateCard(
            f"{where}: unknown field {unknown[0]!r}; allowed: {sorted(required | optional)}",
            rule=where,
            field=unknown[0],
        )


def table_of(value: object, where: str) -> Table:
    """Return ``value`` as a string-keyed table, or refuse it."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidRateCard(f"{where}: expected a table", rule=where)
    return value


def list_of(value: object, where: str) -> list[object]:
    """Return ``value`` as a list, or refuse it."""
    if not isinstance(value, list):
        raise InvalidRateCard(f"{where}: expected a list", rule=where)
    return value


def text(table: Table, key: str, where: str, default: str | None = None) -> str:
    """Return a non-empty string field."""
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRateCard(f"{where}: {key} must be a non-empty string", rule=where, field=key)
    return value


def whole(table: Table, key: str, where: str, *, minimum: int = 0) -> int:
    """Return an integer field that is at least ``minimum``."""
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRateCard(
            f"{where}: {key} must be an integer >= {minimum}, got {value!r}", rule=where, field=key
        )
    return value


def decimal(value: object, where: str, field: str, *, places: int, minimum: Decimal) -> Decimal:
    """Parse a quoted decimal with at most ``places`` decimals and at least ``minimum``.

    Examples
    --------
    >>> decimal("1.20", "region", "coefficient", places=4, minimum=Decimal(0))
    Decimal('1.20')
    >>> decimal(1.2, "region", "coefficient", places=4, minimum=Decimal(0))
    Traceback (most recent call last):
    ...
    settlement.errors.InvalidRateCard: region: coefficient must be a quoted decimal ...
    """
    if isinstance(value, float):
        raise InvalidRateCard(
            f'{where}: {field} must be a quoted decimal such as "{value}", not the float {value} '
            "(floats are binary and inexact)",
            rule=where,
            field=field,
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRateCard(f"{where}: {field} must be a quoted decimal", rule=where, field=field)
    try:
        number = Decimal(value)
    except InvalidOperation as err:
        raise InvalidRateCard(
            f"{where}: {field} is not a decimal: {value!r}", rule=where, field=field
        ) from err
    exponent = number.as_tuple().exponent
    if not number.is_finite() or (isinstance(exponent, int) and exponent < -places):
        raise InvalidRateCard(
            f"{where}: {field} must be finite with at most {places} decimals: {value!r}",
            rule=where,
            field=field,
        )
    if number < minimum:
        raise InvalidRateCard(
            f"{where}: {field} must be >= {minimum} (negative rates are refused): {value!r}",
            rule=where,
            field=field,
        )
    return number


def coefficient(value: object, where: str, field: str = "coefficient") -> Decimal:
    """Parse a non-negative multiplier with at most four decimals, e.g. ``"1.3"``."""
    return decimal(value, where, field, places=COEFFICIENT_PLACES, minimum=Decimal(0))


def amount(value: object, where: str, field: str = "amount") -> Decimal:
    """Parse a non-negative amount of money in whole fen, e.g. ``"80.00"``."""
    return decimal(value, where, field, places=AMOUNT_PLACES, minimum=Decimal(0))


def calendar_date(value: object, where: str, field: str) -> date:
    """Parse a date given as a TOML date or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidRateCard(f"{where}: {field} must be a date YYYY-MM-DD", rule=where, field=field)


def labels(table: Table, where: str) -> tuple[str, str]:
    """Return the ``label_zh`` and ``label_en`` of an entry."""
    return text(table, "label_zh", where), text(table, "label_en", where)


def fmt_coefficient(value: Decimal) -> str:
    """Format a coefficient without trailing zeros: ``Decimal("1.30")`` -> ``"1.3"``."""
    return format(value.normalize(), "f") if value != value.to_integral() else f"{value:.1f}"


def fmt_number(value: Decimal) -> str:
    """Format a number without trailing zeros or exponent: ``Decimal("5.00")`` -> ``"5"``."""
    return format(value.normalize(), "f")
