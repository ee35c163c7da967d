"""SQL for local days, ISO weeks, durations and JSON arrays, on PostgreSQL and SQLite alike.

PostgreSQL converts with ``timezone(zone, ts)``; SQLite has no time zones, so a timestamp is
shifted by the UTC offset of its span (:meth:`api.reports.rules.Period.offset_spans`). Both
give a ``DATE``; an ISO week is named by its Monday.
"""

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Date, Float, case, cast, func, type_coerce
from sqlalchemy.sql.selectable import TableValuedAlias

from api.reports.rules import Period


class LocalTime:
    """Expressions that bucket timestamps into the local days and weeks of ``period``."""

    def __init__(self, dialect: str, period: Period) -> None:
        self.is_postgres = dialect == "postgresql"
        self.period = period
        self._spans = [] if self.is_postgres else period.offset_spans()

    def day(self, at: Any) -> ColumnElement[Any]:
        """Return the local date of the timestamp ``at``."""
        if self.is_postgres:
            return cast(func.timezone(self.period.time_zone, at), Date)
        return type_coerce(self._sqlite_shifted(at), Date)

    def week(self, at: Any) -> ColumnElement[Any]:
        """Return the Monday of the local ISO week of the timestamp ``at``."""
        if self.is_postgres:
            local = func.timezone(self.period.time_zone, at)
            return cast(func.date_trunc("week", local), Date)
        return type_coerce(self._sqlite_shifted(at, "-6 days", "weekday 1"), Date)

    def week_of_date(self, day: Any) -> ColumnElement[Any]:
        """Return the Monday of the ISO week of the date column ``day``."""
        if self.is_postgres:
            return cast(func.date_trunc("week", day), Date)
        return type_coerce(func.date(day, "-6 days", "weekday 1"), Date)

    def seconds(self, later: Any, earlier: Any) -> ColumnElement[float]:
        """Return the seconds from ``earlier`` to ``later`` (both timestamps)."""
        if self.is_postgres:
            return cast(func.extract("epoch", later - earlier), Float)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    def _sqlite_shifted(self, at: Any, *modifiers: str) -> ColumnElement[Any]:
        def shifted(offset_min: int) -> ColumnElement[Any]:
            return func.date(at, f"{offset_min:+d} minutes", *modifiers)

        *earlier, last = self._spans
        if not earlier:
            return shifted(last.offset_min)
        whens = [
            (at < following.starts_at, shifted(span.offset_min))
            for span, following in zip(earlier, self._spans[1:], strict=True)
        ]
        return case(*whens, else_=shifted(last.offset_min))


def json_elements(dialect: str, array: Any, name: str) -> TableValuedAlias:
    """Return the elements of the JSON array ``array`` as a table with a ``value`` column."""
    function = func.json_array_elements if dialect == "postgresql" else func.json_each
    return function(array).table_valued("value", name=name)


def json_text(dialect: str, element: Any, key: str) -> ColumnElement[str]:
    """Return the member ``key`` of the JSON object ``element``, as text."""
    if dialect == "postgresql":
        member: ColumnElement[str] = element.op("->>")(key)
        return member
    return func.json_extract(element, f"$.{key}")


def json_integer(dialect: str, element: Any, key: str) -> ColumnElement[int]:
    """Return the member ``key`` of the JSON object ``element``, as an integer."""
    return cast(json_text(dialect, element, key), BigInteger)
