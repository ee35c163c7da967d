from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from settlement.money import Money
from settlement.slots import Arithmetic, divide_half_up, line_amount, line_fen


@given(st.integers(-(10**15), 10**15), st.sampled_from([1, 10, 1000, 10_000]))
def test_integer_rounding_matches_decimal_half_up(numerator, divisor):
    expected = (Decimal(numerator) / Decimal(divisor)).quantize(Decimal(1), ROUND_HALF_UP)
    assert divide_half_up(np.array([numerator]), divisor)[0] == int(expected)


@given(
    st.sampled_from(list(Arithmetic)),
    st.integers(-(10**6), 10**6),
    st.integers(0, 10**5),
    st.integers(0, 10**9),
)
def test_columnar_line_equals_decimal_line(arithmetic, rate_scaled, quantity, subtotal_fen):
    rate = Decimal(rate_scaled).scaleb(-4 if arithmetic is Arithmetic.COEFFICIENT else -2)
    basis, amount = line_amount(arithmetic, rate, quantity, Money.from_fen(subtotal_fen))
    fen = line_fen(
        arithmetic, np.array([rate_scaled]), np.array([quantity]), np.array([subtotal_fen])
    )
    assert amount.to_fen() == int(fen[0])
    assert amount.amount == (basis * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
