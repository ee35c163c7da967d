"""Line slots: the unit every rule is made of, with its one arithmetic in Decimal and in int64.

A rule expands into one or more *slots*; a slot yields at most one line per order. For each order
a slot *chooses* an option (or nothing) and a whole-number quantity; the line's arithmetic then
turns (option rate, quantity, running subtotal) into an amount. Every line satisfies
``amount = round_half_up(basis * rate)`` so it can be re-checked by hand:

- ``COEFFICIENT``: basis = the running subtotal, rate = coefficient - 1 (at most 4 decimals);
- ``PER_UNIT``: basis = the quantity, rate = an amount per unit (whole fen; exact);
- ``PER_KM``: basis = the quantity in metres / 1000, rate = an amount per km (whole fen);
- ``FLAT``: basis = 1 (one order), rate = a fixed amount (whole fen); the quantity is only the
  fact the label states (e.g. the trip's metres), as for coefficient lines.

The columnar path does the same in integer fen and scaled integer rates, so both paths agree
to the fen by construction; ``tests/settlement/test_batch.py`` checks that they do.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from .money import Money, round_half_up_fen

if TYPE_CHECKING:
    from .columns import ColumnContext, OrderColumns
    from .order import CompletedOrder, OrderContext

IntArray = NDArray[np.int64]
#: Region id -> (name_zh, name_en), for labels that name a region.
RegionNames = Mapping[str, tuple[str, str]]


class Arithmetic(Enum):
    """How a line turns its rate and basis into an amount."""

    COEFFICIENT = "coefficient"
    PER_UNIT = "per_unit"
    PER_KM = "per_km"
    FLAT = "flat"

    @property
    def rate_scale(self) -> int:
        """Factor that makes every valid rate of this kind an integer."""
        return 10_000 if self is Arithmetic.COEFFICIENT else 100

    @property
    def divisor(self) -> int:
        """Integer divisor of ``basis_int * rate_int`` in the columnar path."""
        return _DIVISORS[self]


_DIVISORS: Final = {
    Arithmetic.COEFFICIENT: 10_000,
    Arithmetic.PER_UNIT: 1,
    Arithmetic.PER_KM: 1_000,
    Arithmetic.FLAT: 1,
}


@dataclass(frozen=True, slots=True)
class Option:
    """One priced alternative of a slot: its rate and the words that explain it."""

    rate: Decimal
    label_zh: str
    label_en: str

    def scaled_rate(self, arithmetic: Arithmetic) -> int:
        """Return the rate as the integer the columnar path multiplies by."""
        return int(self.rate * arithmetic.rate_scale)


@dataclass(frozen=True, slots=True)
class Choice:
    """The option a slot picked for one order and the quantity it applies to."""

    option: int
    quantity: int = 1


@dataclass(frozen=True)
class Slot(ABC):
    """A place in the card's application order that yields at most one line per order."""

    rule_id: str
    code: str
    arithmetic: Arithmetic
    options: tuple[Option, ...]

    @abstractmethod
    def choose(self, order: "CompletedOrder", context: "OrderContext") -> Choice | None:
        """Pick the option for one order, or None when the slot does not apply."""

    @abstractmethod
    def choose_columns(
        self, columns: "OrderColumns", context: "ColumnContext"
    ) -> tuple[IntArray, IntArray]:
        """Return (option index or -1, quantity) per order; must agree with :meth:`choose`."""

    def label(self, choice: Choice, names: RegionNames) -> tuple[str, str]:
        """Return the (Chinese, English) label of a line; slots with dynamic text override."""
        option = self.options[choice.option]
        return option.label_zh, option.label_en

    def scaled_rates(self) -> IntArray:
        """Return the integer rate of every option, with a trailing 0 for index -1."""
        rates = [option.scaled_rate(self.arithmetic) for option in self.options]
        return np.asarray([*rates, 0], dtype=np.int64)


def line_basis(arithmetic: Arithmetic, quantity: int, subtotal: Decimal) -> Decimal:
    """Return the basis a line's rate multiplies: the subtotal, a count, kilometres, or 1."""
    if arithmetic is Arithmetic.COEFFICIENT:
        return subtotal
    if arithmetic is Arithmetic.PER_UNIT:
        return Decimal(quantity)
    if arithmetic is Arithmetic.FLAT:
        return Decimal(1)
    return Decimal(quantity).scaleb(-3)


def line_amount(
    arithmetic: Arithmetic, rate: Decimal, quantity: int, subtotal: Money
) -> tuple[Decimal, Money]:
    """Return (basis, amount) of one line in exact Decimal arithmetic.

    Examples
    --------
    >>> line_amount(Arithmetic.PER_KM, Decimal("0.80"), 6500, Money(Decimal("96.00")))
    (Decimal('6.500'), Money(amount=Decimal('5.20'), currency='CNY'))
    """
    basis = line_basis(arithmetic, quantity, subtotal.amount)
    return basis, Money(round_half_up_fen(basis * rate), subtotal.currency)


def line_fen(
    arithmetic: Arithmetic, rate_scaled: IntArray, quantity: IntArray, subtotal_fen: IntArray
) -> IntArray:
    """Return the line amounts in integer fen, rounding exactly as :func:`line_amount` does."""
    if arithmetic is Arithmetic.COEFFICIENT:
        return divide_half_up(subtotal_fen * rate_scaled, arithmetic.divisor)
    if arithmetic is Arithmetic.PER_UNIT:
        return quantity * rate_scaled
    if arithmetic is Arithmetic.FLAT:
        return np.broadcast_to(rate_scaled, quantity.shape).astype(np.int64)
    return divide_half_up(quantity * rate_scaled, arithmetic.divisor)


def divide_half_up(numerator: IntArray, divisor: int) -> IntArray:
    """Integer ``numerator / divisor`` rounded half away from zero, like ``ROUND_HALF_UP``.

    Examples
    --------
    >>> divide_half_up(np.array([5, -5, 4, -4, 15]), 10).tolist()
    [1, -1, 0, 0, 2]
    """
    magnitude = (np.abs(numerator) * 2 + divisor) // (2 * divisor)
    return np.where(numerator < 0, -magnitude, magnitude)
