"""The period a report covers, in local days, and how its local time maps to UTC.

A report covers whole local days ``first`` to ``last`` (both included) in one IANA time zone:
from ``first`` 00:00 local up to, not including, the day after ``last`` 00:00 local. SQLite has
no time zones, so a timestamp is moved to local time by adding its UTC offset; the offset can
change inside a period (daylight saving), so the period lists its spans of constant offset
(:meth:`Period.offset_spans`) and the query picks the offset by the timestamp's span.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: The longest period a report covers: a year, leap day included.
MAX_SPAN_DAYS = 366
#: The percentiles reported for durations: nearest rank, ``ceil(p * n)`` of the sorted values.
MEDIAN, P90 = 50, 90


class PeriodError(ValueError):
    """A report period that cannot be: ``field`` names the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class OffsetSpan:
    """From ``starts_at`` (UTC) on, until the next span, local time is UTC plus ``offset_min``."""

    starts_at: datetime
    offset_min: int


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``first`` to ``last`` (both included) in ``time_zone``.

    >>> p = Period(date(2026, 11, 30), date(2026, 12, 6), "Asia/Shanghai")
    >>> p.starts_at.isoformat(), p.ends_at.isoformat(), p.days
    ('2026-11-29T16:00:00+00:00', '2026-12-06T16:00:00+00:00', 7)
    >>> Period(date(2026, 12, 6), date(2026, 11, 30), "Asia/Shanghai")
    Traceback (most recent call last):
    api.reports.rules.PeriodError: last: must be on or after first (2026-12-06)
    """

    first: date
    last: date
    time_zone: str

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise PeriodError("last", f"must be on or after first ({self.first.isoformat()})")
        if self.days > MAX_SPAN_DAYS:
            raise PeriodError("last", f"a report covers at most {MAX_SPAN_DAYS} days")

    @property
    def days(self) -> int:
        """How many local days the period covers."""
        return (self.last - self.first).days + 1

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def starts_at(self) -> datetime:
        """The first instant of the period, in UTC."""
        return datetime.combine(self.first, time.min, tzinfo=self.zone).astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        """The first instant after the period, in UTC."""
        after = self.last + timedelta(days=1)
        return datetime.combine(after, time.min, tzinfo=self.zone).astimezone(UTC)

    def offset_spans(self, margin: timedelta = timedelta(days=1)) -> list[OffsetSpan]:
        """Return the spans of constant UTC offset from ``margin`` before to after the period.

        The margin covers timestamps a report reads just outside the period (a shift that
        starts the evening before). A zone without daylight saving has one span:

        >>> Period(date(2026, 3, 1), date(2026, 3, 31), "Asia/Shanghai").offset_spans()
        [OffsetSpan(starts_at=datetime.datetime(2026, 2, 27, 16, 0, tzinfo=datetime.timezone.utc), offset_min=480)]
        >>> spans = Period(date(2026, 3, 1), date(2026, 3, 31), "Europe/Berlin").offset_spans()
        >>> [(s.starts_at.isoformat(), s.offset_min) for s in spans][1:]
        [('2026-03-29T01:00:00+00:00', 120)]
        """  # noqa: E501
        zone, hour = self.zone, timedelta(hours=1)
        start, end = self.starts_at - margin, self.ends_at + margin
        spans = [OffsetSpan(start, _offset_min(start, zone))]
        at = start
        while at < end:
            after = min(at + hour, end)
            if _offset_min(after, zone) != spans[-1].offset_min:
                changed_at = _first_minute_with_new_offset(at, after, zone)
                spans.append(OffsetSpan(changed_at, _offset_min(changed_at, zone)))
            at = after
        return spans


def _offset_min(at: datetime, zone: ZoneInfo) -> int:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None, "a ZoneInfo always knows its offset"
    return int(offset.total_seconds()) // 60


def _first_minute_with_new_offset(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """Bisect, to the minute, for the first instant in ``(before, after]`` past the change."""
    old = _offset_min(before, zone)
    while after - before > timedelta(minutes=1):
        middle = before + (after - before) / 2
        middle = middle.replace(second=0, microsecond=0)
        if middle <= before:
            middle = before + timedelta(minutes=1)
        if _offset_min(middle, zone) == old:
            before = middle
        else:
            after = middle
    return after


#: Names of the pay components: a breakdown line's ``code`` is the kind of the rule that made it.
COMPONENT_NAMES = {
    "base_fee": ("base fee", "基础服务费"),
    "region_coefficient": ("region coefficient", "区域系数"),
    "difficulty": ("difficulty", "难度系数"),
    "time_of_day": ("time of day", "时段系数"),
    "calendar": ("weekend and holiday", "周末节假日"),
    "seasonal": ("seasonal subsidy", "季节补贴"),
    "surge": ("surge", "高峰加价"),
    "volume_tier": ("volume tier", "阶梯系数"),
    "urgency_bonus": ("urgency bonus", "加急奖励"),
    "distance_subsidy": ("distance subsidy", "远途补贴"),
    "distance_supplement": ("distance supplement", "远途定额补贴"),
    "crossing_subsidy": ("crossing subsidy", "过江补贴"),
    "review_bonus": ("review bonus", "好评奖励"),
    "material_deduction": ("material deduction", "材料扣款"),
}


def component_name(code: str) -> tuple[str, str]:
    """Return the English and Chinese name of a pay component; an unknown code is its own name.

    >>> component_name("surge"), component_name("tip")
    (('surge', '高峰加价'), ('tip', 'tip'))
    """
    return COMPONENT_NAMES.get(code, (code, code))


def week_of(monday: date) -> str:
    """Return the ISO week label of the week that starts on ``monday``.

    >>> week_of(date(2026, 12, 28)), week_of(date(2026, 11, 30))
    ('2026-W53', '2026-W49')
    """
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def share(part: int, whole: int) -> float | None:
    """Return ``part / whole`` rounded to four places, or ``None`` when ``whole`` is zero.

    >>> share(2, 3), share(0, 0)
    (0.6667, None)
    """
    return round(part / whole, 4) if whole else None
