"""De-duplication keys and merges; nurture schedules by band and available contact."""

from datetime import UTC, datetime, timedelta

import pytest

from api.leads.rules.contact import Contact
from api.leads.rules.dedupe import DedupeParams, dedupe_keys, merge_missing
from api.leads.rules.nurture import nurture_schedule

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_keys_cover_phone_and_case_insensitive_email() -> None:
    assert dedupe_keys(Contact("+8613912345678", None)) == ("phone:+8613912345678",)
    assert dedupe_keys(Contact(None, "Li@QQ.com")) == ("email:li@qq.com",)
    assert dedupe_keys(Contact(None, None)) == ()


def test_window_is_positive_and_gives_the_oldest_mergeable_touch() -> None:
    assert DedupeParams(timedelta(days=7)).oldest_touch(START) == START - timedelta(days=7)
    with pytest.raises(ValueError, match="positive"):
        DedupeParams(timedelta(0))


def test_merge_fills_blanks_and_never_overwrites() -> None:
    existing = {"name": "王芳", "email": None, "phone_e164": "+8613912345678", "lon": None}
    incoming = {"name": "Wang", "email": "w@qq.com", "phone_e164": "+8613900000000", "lon": None}
    assert merge_missing(existing, incoming) == {"email": "w@qq.com"}


def test_hot_schedule_is_the_classic_week() -> None:
    steps = nurture_schedule(band="hot", starts_at=START, has_phone=True, has_email=True)
    assert [(s.day, s.kind) for s in steps] == [(0, "call"), (1, "sms"), (3, "email"), (7, "call")]
    assert [s.seq for s in steps] == [1, 2, 3, 4]
    assert steps[3].due_at == START + timedelta(days=7)


def test_steps_needing_a_missing_channel_are_dropped() -> None:
    email_only = nurture_schedule(band="cold", starts_at=START, has_phone=False, has_email=True)
    assert {s.kind for s in email_only} == {"email"}
    assert [s.seq for s in email_only] == [1, 2]


@pytest.mark.parametrize("band", ["hot", "warm", "cold"])
def test_every_band_has_a_schedule_in_time_order(band: str) -> None:
    steps = nurture_schedule(band=band, starts_at=START, has_phone=True, has_email=True)
    assert steps and [s.due_at for s in steps] == sorted(s.due_at for s in steps)
    assert steps[0].due_at == START
