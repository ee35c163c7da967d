"""Cleaning: phone and e-mail normalisation and every junk rule, each with its reason code."""

import pytest

from api.leads.rules.contact import InvalidContact, normalise_email, normalise_phone
from api.leads.rules.junk import JunkParams, clean


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13912345678", "+8613912345678"),
        ("139-1234-5678", "+8613912345678"),
        ("+86 139 1234 5678", "+8613912345678"),
        ("008613912345678", "+8613912345678"),
        ("021 6234 5678", "+862162345678"),  # Shanghai landline
        ("+1 650 253 0000", "+16502530000"),
    ],
)
def test_phones_become_e164_read_in_china_by_default(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


def test_a_national_number_is_read_in_the_given_region() -> None:
    assert normalise_phone("650 253 0000", default_region="US") == "+16502530000"


@pytest.mark.parametrize("raw", ["12", "not a phone", "1391234567", "99999999999"])
def test_invalid_phones_raise_with_a_code(raw: str) -> None:
    with pytest.raises(InvalidContact) as err:
        normalise_phone(raw)
    assert err.value.code == "invalid_phone"


def test_email_domain_is_lower_cased_and_local_part_kept() -> None:
    assert normalise_email(" Wang.Fang@QQ.COM ") == "Wang.Fang@qq.com"


@pytest.mark.parametrize("raw", ["no-at-sign", "a@", "a b@qq.com", "a@-bad-.com"])
def test_invalid_emails_raise_with_a_code(raw: str) -> None:
    with pytest.raises(InvalidContact) as err:
        normalise_email(raw)
    assert err.value.code == "invalid_email"


def test_a_real_lead_is_clean() -> None:
    cleaned = clean(name="王芳", phone="139 1234 5678", email="Wang@QQ.com")
    assert cleaned.rejection is None
    assert cleaned.contact.phone_e164 == "+8613912345678"
    assert cleaned.contact.email == "Wang@qq.com"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"name": "王芳", "phone": None, "email": None}, "no_contact"),
        ({"name": "王芳", "phone": "  ", "email": ""}, "no_contact"),
        ({"name": "王芳", "phone": "12345", "email": None}, "invalid_phone"),
        ({"name": "王芳", "phone": None, "email": "wang@"}, "invalid_email"),
        ({"name": "王芳", "phone": "13800138000", "email": None}, "test_contact"),
        ({"name": "王芳", "phone": "13333333333", "email": None}, "test_contact"),
        ({"name": "王芳", "phone": None, "email": "wang@example.com"}, "test_contact"),
        ({"name": "王芳", "phone": None, "email": "test123@qq.com"}, "test_contact"),
        ({"name": "王芳", "phone": None, "email": "x@mailinator.com"}, "disposable_email"),
        ({"name": "test", "phone": "13912345678", "email": None}, "fake_name"),
        ({"name": " ASDF ", "phone": "13912345678", "email": None}, "fake_name"),
        ({"name": "测试", "phone": "13912345678", "email": None}, "fake_name"),
        ({"name": "zzzz", "phone": "13912345678", "email": None}, "fake_name"),
        ({"name": "Casino King", "phone": "13912345678", "email": None}, "blocked_word"),
    ],
)
def test_junk_is_rejected_with_its_reason(fields: dict[str, str | None], code: str) -> None:
    rejection = clean(**fields).rejection  # type: ignore[arg-type]
    assert rejection is not None
    assert rejection.code == code
    assert rejection.reason


def test_blocked_words_are_found_in_notes_too() -> None:
    cleaned = clean(name="王芳", phone="13912345678", email=None, texts=["低息贷款, call me"])
    assert cleaned.rejection is not None and cleaned.rejection.code == "blocked_word"


def test_the_first_rule_that_fires_is_the_reason() -> None:
    cleaned = clean(name="test", phone="13800138000", email=None)
    assert cleaned.rejection is not None and cleaned.rejection.code == "test_contact"


def test_rules_are_configurable() -> None:
    params = JunkParams(blocked_words=frozenset({"refund"}), fake_names=frozenset())
    assert clean(name="test", phone="13912345678", email=None, params=params).rejection is None
    rejected = clean(name="Li", phone="13912345678", email=None, texts=["REFUND"], params=params)
    assert rejected.rejection is not None and rejected.rejection.code == "blocked_word"


def test_bad_params_are_refused() -> None:
    with pytest.raises(ValueError, match="ISO 3166"):
        JunkParams(default_region="china")
