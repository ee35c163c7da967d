from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.localtime import epoch_seconds, local_day_and_second, utc_offsets_s, zone

ZONES = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(1_700_000_000, 1_900_000_000), min_size=1, max_size=50),
    st.sampled_from(ZONES),
)
def test_offsets_match_zoneinfo(instants, name):
    expected = [
        int(datetime.fromtimestamp(t, UTC).astimezone(zone(name)).utcoffset().total_seconds())
        for t in instants
    ]
    assert utc_offsets_s(np.array(instants, dtype=np.int64), name).tolist() == expected


def test_every_second_around_berlin_transitions():
    # 2026-03-29 01:00Z and 2026-10-25 01:00Z, one second either side, inside one bucket.
    for change in (1_774_746_000, 1_792_890_000):
        instants = np.arange(change - 450, change + 450, dtype=np.int64)
        expected = [
            int(
                datetime.fromtimestamp(int(t), UTC)
                .astimezone(zone("Europe/Berlin"))
                .utcoffset()
                .total_seconds()
            )
            for t in instants
        ]
        assert utc_offsets_s(instants, "Europe/Berlin").tolist() == expected


def test_local_day_and_second_in_shanghai():
    moment = datetime(2026, 11, 18, 6, 0, 0, tzinfo=zone("Asia/Shanghai"))
    days, seconds = local_day_and_second(np.array([epoch_seconds(moment)]), "Asia/Shanghai")
    assert (int(days[0]), int(seconds[0])) == (
        (moment.date() - datetime(1970, 1, 1).date()).days,
        6 * 3600,
    )
