"""Vectorised UTC -> local wall-clock time for IANA zones, exact across DST transitions."""

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

SECONDS_PER_DAY: Final = 86_400
# Offsets are looked up once per 15-minute bucket: zones change offset at most once in that span.
_BUCKET_S: Final = 900

IntArray = NDArray[np.int64]


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_seconds(moment: datetime) -> int:
    """Return whole seconds since the Unix epoch, floored, computed exactly (no float).

    Examples
    --------
    >>> epoch_seconds(datetime(1970, 1, 1, 8, 0, 59, 999999, tzinfo=zone("Asia/Shanghai")))
    59
    """
    return (moment - _EPOCH) // timedelta(seconds=1)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """Return the (cached) ``ZoneInfo`` for an IANA zone name."""
    return ZoneInfo(name)


def utc_offset_s(epoch_s: int, zone_name: str) -> int:
    """Return the UTC offset of ``zone_name`` at the instant ``epoch_s``, in seconds."""
    offset = datetime.fromtimestamp(epoch_s, UTC).astimezone(zone(zone_name)).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return int(offset.total_seconds())


def utc_offsets_s(epoch_s: IntArray, zone_name: str) -> IntArray:
    """Return the UTC offset per instant, exact even inside a bucket holding a DST transition.

    Examples
    --------
    >>> int(utc_offsets_s(np.array([1_774_746_000]), "Europe/Berlin")[0])  # 2026-03-29 01:00Z
    7200
    """
    buckets, inverse = np.unique(epoch_s // _BUCKET_S, return_inverse=True)
    starts = [utc_offset_s(int(b) * _BUCKET_S, zone_name) for b in buckets]
    ends = [utc_offset_s(int(b) * _BUCKET_S + _BUCKET_S - 1, zone_name) for b in buckets]
    offsets = np.asarray(starts, dtype=np.int64)[inverse]
    has_transition = (np.asarray(starts) != np.asarray(ends))[inverse]
    for i in np.flatnonzero(has_transition):
        offsets[i] = utc_offset_s(int(epoch_s[i]), zone_name)
    return offsets


def local_day_and_second(epoch_s: IntArray, zone_name: str) -> tuple[IntArray, IntArray]:
    """Return (local date as days since 1970-01-01, local second of the day) per instant.

    Examples
    --------
    >>> days, seconds = local_day_and_second(np.array([0]), "Asia/Shanghai")
    >>> int(days[0]), int(seconds[0])  # 1970-01-01 08:00 in Shanghai
    (0, 28800)
    """
    local_s = epoch_s + utc_offsets_s(epoch_s, zone_name)
    return local_s // SECONDS_PER_DAY, local_s % SECONDS_PER_DAY
