"""Exact money: a Decimal amount with an ISO 4217 currency, rounded half-up once per line.

Every supported currency has two minor-unit digits, so "the fen" is 0.01 of the major unit for
all of them and integer fen (cents) is the storage and columnar representation.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from .errors import InvalidMoney

FEN: Final = Decimal("0.01")
FEN_PER_UNIT: Final = 100

#: The ISO 4217 codes we settle in: all have exactly two minor-unit digits.
CURRENCIES: Final = frozenset({"CNY", "HKD", "MOP", "TWD", "SGD", "USD", "EUR", "GBP", "AUD"})


def check_currency(currency: str) -> str:
    """Return ``currency`` if it is a supported ISO 4217 code, else raise :class:`InvalidMoney`.

    Examples
    --------
    >>> check_currency("CNY")
    'CNY'
    >>> check_currency("RMB")
    Traceback (most recent call last):
    ...
    settlement.errors.InvalidMoney: unknown currency 'RMB'; supported: AUD, CNY, EUR, GBP, ...
    """
    if currency not in CURRENCIES:
        supported = ", ".join(sorted(CURRENCIES))
        raise InvalidMoney(
            f"unknown currency {currency!r}; supported: {supported}",
            currency=currency,
            supported=sorted(CURRENCIES),
        )
    return currency


def round_half_up_fen(value: Decimal) -> Decimal:
    """Round to the fen, halves away from zero (the one rounding rule of the project)."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An exact amount of one currency.

    Examples
    --------
    >>> Money(Decimal("2.675")).times(Decimal(1))
    Money(amount=Decimal('2.68'), currency='CNY')
    >>> Money.from_fen(9468) + Money(Decimal("0.32"))
    Money(amount=Decimal('95.00'), currency='CNY')
    """

    amount: Decimal
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise InvalidMoney(f"amount must be a finite Decimal, got {self.amount!r}")
        check_currency(self.currency)

    @classmethod
    def from_fen(cls, fen: int, currency: str = "CNY") -> "Money":
        """Build from an integer number of fen (cents)."""
        return cls(Decimal(int(fen)).scaleb(-2), currency)

    @classmethod
    def zero(cls, currency: str = "CNY") -> "Money":
        """Return 0.00 of ``currency``."""
        return cls(Decimal("0.00"), currency)

    def to_fen(self) -> int:
        """Return the amount in integer fen; refuses an amount with a fraction of a fen."""
        fen = self.amount.scaleb(2)
        if fen != fen.to_integral_value():
            raise InvalidMoney(f"{self.amount} {self.currency} is not a whole number of fen")
        return int(fen)

    def times(self, rate: Decimal) -> "Money":
        """Apply a rate and round once, half-up to the fen."""
        return Money(round_half_up_fen(self.amount * rate), self.currency)

    def __add__(self, other: "Money") -> "Money":
        self._check_same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._check_same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.amount, self.currency)

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency}"

    def _check_same_currency(self, other: "Money") -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            theirs = other.currency if isinstance(other, Money) else type(other).__name__
            raise InvalidMoney(
                f"cannot combine {self.currency} with {theirs}",
                currencies=[self.currency, theirs],
            )
