"""The identity rules on hand-made people: what links at once, what is only suggested."""

import pytest

from api.customers.rules import (
    Directory,
    EvidenceCode,
    IdentifierKind,
    InvalidIdentifier,
    Known,
    Person,
    name_key,
    phone_value,
)

HOME = (121.4737, 31.2304)
PHONE = "+8613800138000"


def known(customer_id: int, name: str, phone: str | None = None, **ids: str) -> Known:
    identifiers = {(IdentifierKind(kind), value) for kind, value in ids.items()}
    if phone:
        identifiers.add((IdentifierKind.PHONE, phone))
    return Known(customer_id, name_key(name), phone, *HOME, identifiers=identifiers)


def test_a_phone_spelled_otherwise_with_the_same_name_links_at_once() -> None:
    directory = Directory([known(1, "王芳", PHONE)])
    decision = directory.decide(Person(" 王 芳", phone_value("138-0013-8000", field_name="p")))
    assert decision.customer_id == 1 and decision.suggestions == ()


def test_the_same_phone_under_another_name_is_only_suggested() -> None:
    directory = Directory([known(1, "王芳", PHONE)])
    decision = directory.decide(Person("李雷", PHONE))
    assert decision.customer_id is None
    (suggestion,) = decision.suggestions
    assert [e.code for e in suggestion.evidence] == [EvidenceCode.SAME_PHONE_DIFFERENT_NAME]
    assert decision.new_identifiers == ()  # the phone stays with customer 1


def test_an_account_identifier_links_whatever_the_name() -> None:
    directory = Directory([known(1, "王芳", member_id="M-7")])
    assert directory.decide(Person("Fang Wang", member_id="M-7")).customer_id == 1


@pytest.mark.parametrize(("offset_deg", "is_suggested"), [(0.0015, True), (0.0025, False)])
def test_the_same_name_is_suggested_within_200_m(offset_deg: float, is_suggested: bool) -> None:
    # 0.0015 degrees of latitude is 167 m, 0.0025 is 278 m.
    directory = Directory([known(1, "王芳", PHONE)])
    person = Person("王芳", "+8613900139000", lon=HOME[0], lat=HOME[1] + offset_deg)
    decision = directory.decide(person)
    assert decision.customer_id is None
    assert bool(decision.suggestions) is is_suggested
    if is_suggested:
        (evidence,) = decision.suggestions[0].evidence
        assert evidence.code is EvidenceCode.SAME_NAME_NEARBY and 160 < evidence.distance_m < 175  # type: ignore[operator]


def test_later_people_of_a_batch_find_earlier_ones() -> None:
    directory = Directory()
    first = Person("王芳", PHONE)
    decision = directory.decide(first)
    directory.apply(first, decision, customer_id=-2)
    assert directory.decide(Person("王芳", PHONE)).customer_id == -2


def test_a_second_person_on_a_shared_phone_links_to_their_own_customer() -> None:
    directory = Directory([known(1, "王芳", PHONE), Known(2, name_key("李雷"), PHONE)])
    assert directory.decide(Person("李雷", PHONE)).customer_id == 2


def test_a_phone_that_does_not_parse_names_its_field() -> None:
    with pytest.raises(InvalidIdentifier) as raised:
        phone_value("12345", field_name="customer.phone")
    assert raised.value.field == "customer.phone"
