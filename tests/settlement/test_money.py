from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.errors import InvalidMoney
from settlement.money import Money, check_currency


@pytest.mark.parametrize(
    ("amount", "rate", "expected"),
    [
        ("2.675", "1", "2.68"),
        ("0.005", "1", "0.01"),
        ("-0.005", "1", "-0.01"),
        ("80.05", "0.1", "8.01"),
    ],
)
def test_times_rounds_half_up_once(amount, rate, expected):
    assert Money(Decimal(amount)).times(Decimal(rate)).amount == Decimal(expected)


@given(st.integers(-(10**12), 10**12))
def test_fen_round_trip(fen):
    assert Money.from_fen(fen).to_fen() == fen


def test_fraction_of_a_fen_is_not_silently_stored():
    with pytest.raises(InvalidMoney, match="not a whole number of fen"):
        Money(Decimal("1.005")).to_fen()


def test_currencies_do_not_mix():
    with pytest.raises(InvalidMoney, match="cannot combine CNY with USD"):
        Money(Decimal(1)) + Money(Decimal(1), "USD")


def test_only_decimal_amounts_and_known_currencies():
    with pytest.raises(InvalidMoney, match="finite Decimal"):
        Money(1.1)  # type: ignore[arg-type]
    with pytest.raises(InvalidMoney, match="finite Decimal"):
        Money(Decimal("NaN"))
    with pytest.raises(InvalidMoney, match="unknown currency 'RMB'"):
        check_currency("RMB")


def test_str_and_negation():
    assert str(-Money(Decimal("12.5"))) == "-12.50 CNY"
