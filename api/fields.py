r"""Field types of the request contract that refuse what a lax coercion would have to guess.

Pydantic's lax mode turns ``true`` into 1, ``"12.5"`` into 12.5 and the number ``0`` (or the
string ``"0"``) into 1970-01-01: an integrator's mistake quietly stored as something else. The
types here are strict where the value arrives as JSON (no booleans or strings for numbers, no
fractions for counts; only ``true``/``false`` for flags) and accept only ISO 8601 text for dates
and times, in JSON bodies and in query strings alike. Strictness is per type, not per model: a
model-wide ``strict=True`` would also refuse ISO strings for datetimes, since FastAPI validates
bodies in Python mode.

Dates and times are bounded to 1970-2199: a working day outside them is a mistake, and the
extremes a datetime can hold (year 1, year 9999) overflow when moved to another time zone.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(Timestamp).validate_python("2026-12-03T09:00:00+08:00").isoformat()
'2026-12-03T09:00:00+08:00'
>>> TypeAdapter(Timestamp).validate_python(0)
Traceback (most recent call last):
pydantic_core._pydantic_core.ValidationError: 1 validation error for ...
  must be an ISO 8601 date-time string, e.g. 2026-12-03T09:00:00+08:00 ...
"""

import base64
import binascii
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Strict
from pydantic_core import PydanticCustomError
from starlette.convertors import Convertor, register_url_convertor

# The largest id: the largest integer a JSON number carries exactly (JavaScript's
# Number.MAX_SAFE_INTEGER), far inside a BIGINT column; a float-exact bound, so the OpenAPI
# document states it exactly too.
MAX_ROW_ID = 2**53 - 1
MAX_VERSION = 2**31 - 1  # a rate card's version is an INTEGER column
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2199, 12, 31)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}")
_YEARS = {"pattern": r"^(19[7-9][0-9]|2[01][0-9]{2})-"}  # the bound, as the OpenAPI states it


def _iso_text(value: Any, shape: re.Pattern[str], kind: str, example: str) -> Any:
    """Let through a value of the type itself or ISO 8601 text; refuse numbers and booleans."""
    if isinstance(value, date) or (isinstance(value, str) and shape.match(value)):
        return value
    raise PydanticCustomError(
        "iso_8601",
        "must be an ISO 8601 {kind} string, e.g. {example}",
        {"kind": kind, "example": example},
    )


def _iso_datetime(value: Any) -> Any:
    return _iso_text(value, _ISO_DATETIME, "date-time", "2026-12-03T09:00:00+08:00")


def _iso_date(value: Any) -> Any:
    if isinstance(value, datetime):  # a datetime is a date too, but not a day
        raise PydanticCustomError("iso_8601", "must be a date, e.g. 2026-12-03")
    return _iso_text(value, _ISO_DATE, "date", "2026-12-03")


def _in_years(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError("date_range", "must be within the years 1970-2199")
    return value


def _day_in_years(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise PydanticCustomError("date_range", "must be within the years 1970-2199")
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_datetime),
    AfterValidator(_in_years),
    Field(json_schema_extra=_YEARS),
]
"""A date and time with its UTC offset, as ISO 8601 text, within 1970-2199."""

Day = Annotated[
    date, BeforeValidator(_iso_date), AfterValidator(_day_in_years), Field(json_schema_extra=_YEARS)
]
"""A calendar day as ISO 8601 text (``YYYY-MM-DD``), within 1970-2199."""


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "must be a whole number (not text, not true/false)")
    return value


JSON_NUMBER = BeforeValidator(_json_number)
"""Refuse booleans and text for an integer; put it after the bounds: ``Annotated[int, Field(ge=1),
JSON_NUMBER]`` (bounds after a validator would reach the OpenAPI as ``ge``, not ``minimum``)."""

Count = Annotated[int, JSON_NUMBER]
"""A whole number sent as a JSON number: ``true``, ``"3"`` and ``3.5`` are refused (``3.0`` is 3,
as JSON Schema counts it an integer)."""

Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A finite JSON number (an integer is fine); booleans and strings are refused."""

Flag = Annotated[bool, Strict()]
"""``true`` or ``false`` only: ``0``, ``1``, ``"yes"`` are refused."""

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID), JSON_NUMBER]
"""A stored row's id in a JSON body: a positive integer up to 2**53 - 1."""

RowIdParam = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
"""A stored row's id in a path or query string (digits, parsed): positive, up to 2**53 - 1."""

VersionParam = Annotated[int, Field(ge=1, le=MAX_VERSION)]
"""A rate-card version number in a path: positive, within 32 bits."""

Longitude = Annotated[
    float, Strict(), Field(ge=-180, le=180, allow_inf_nan=False, examples=[121.4737])
]
"""A longitude in a JSON body: a number in -180..180 (booleans and strings are refused)."""

Latitude = Annotated[float, Strict(), Field(ge=-90, le=90, allow_inf_nan=False, examples=[31.2304])]
"""A latitude in a JSON body: a number in -90..90 (booleans and strings are refused)."""

LongitudeParam = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, examples=[121.4737])]
"""A longitude in a query string (text parsed as a number)."""

LatitudeParam = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, examples=[31.2304])]
"""A latitude in a query string (text parsed as a number)."""


def unstorable_text(value: Any) -> str | None:
    r"""Return why ``value`` holds text no database stores, with where; ``None`` if it is fine.

    PostgreSQL refuses the NUL character in text, and neither database can encode a lone UTF-16
    surrogate (``"\ud800"`` in JSON decodes to one). Lists, tuples and dicts are searched,
    keys included; a nested model is checked by its own validator.

    >>> unstorable_text({"notes": ["ok", "a\x00b"]})
    "['notes'][1]: must not contain the NUL character (U+0000)"
    >>> unstorable_text("fine, 好的 👍") is None
    True
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain the NUL character (U+0000)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (a lone surrogate, U+D800-U+DFFF, is not)"
        return None
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = [(f"[{k!r}]", k) for k in value] + [(f"[{k!r}]", v) for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    for where, item in items:
        if (why := unstorable_text(item)) is not None:
            return where + (why if why.startswith("[") else f": {why}")
    return None


class IdSegment(Convertor[str]):
    """The path segment of a row id, ``{ticket_id:id}``: any segment but an action's name.

    ``/v1/tickets/batch`` and ``/v1/leads/import`` name actions (POST only) beside the ids of
    their collection, so a GET of them is 405 with ``Allow: POST``, not a read of the ticket
    ``batch``. Any other segment reaches the route, whose ``RowIdParam`` answers 422 naming
    the parameter for what is not an id (``abc``, or a number above 2**53 - 1).
    """

    regex = r"(?!(?:batch|import)(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("id", IdSegment())


def base64_within(max_bytes: int) -> AfterValidator:
    """Validate strict base64 text (no stray characters) of at most ``max_bytes`` decoded."""

    def check(value: str) -> str:
        if len(value) > max_bytes * 4 // 3 + 4:
            raise ValueError(f"exceeds {max_bytes} bytes once decoded")
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as err:
            raise ValueError(f"not base64: {err}") from err
        return value

    return AfterValidator(check)
