"""Earnings on the wire: money as decimal strings with a currency; breakdowns, statements."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.fields import RowId
from api.schemas import Strict
from settlement import CURRENCIES, Money

AmountText = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$",
        description="a decimal string with at most two decimals (never a JSON number)",
        examples=["94.68"],
    ),
]
PositiveAmountText = Annotated[
    str,
    Field(
        pattern=r"^([1-9][0-9]{0,11}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$",
        description="a positive decimal string with at most two decimals",
        examples=["200.00"],
    ),
]


def _known_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError(f"unknown currency {code!r}; supported: {', '.join(sorted(CURRENCIES))}")
    return code


class MoneyRead(BaseModel):
    """An exact amount: ``{"amount": "94.68", "currency": "CNY"}`` (a string, never a float)."""

    amount: Decimal = Field(description="decimal string, two decimals")
    currency: str = Field(description="ISO 4217 code", examples=["CNY"])

    @classmethod
    def of(cls, money: Money) -> "MoneyRead":
        """Shape a ``settlement.Money``."""
        return cls(amount=money.amount.quantize(Decimal("0.01")), currency=money.currency)

    @classmethod
    def of_fen(cls, fen: int, currency: str) -> "MoneyRead":
        """Shape an integer number of fen."""
        return cls.of(Money.from_fen(fen, currency))


class MoneyIn(Strict):
    """An amount sent by a client: the amount is a string, so that nothing is lost to floats."""

    amount: AmountText
    currency: Annotated[str, AfterValidator(_known_currency)] = Field(
        default="CNY", description="ISO 4217 code", examples=["CNY"]
    )

    def money(self) -> Money:
        """Return the value as ``settlement.Money``."""
        return Money(Decimal(self.amount), self.currency)


class LineRead(BaseModel):
    """One explained line of a payout: ``amount = round_half_up(basis * rate)`` to the fen."""

    code: str = Field(examples=["region_coefficient"])
    label_zh: str = Field(examples=["区域系数 1.2 (浦东外环外)"])
    label_en: str = Field(examples=["region coefficient 1.2 (Pudong, outside the outer ring)"])
    basis: Decimal = Field(description="running subtotal, a count or kilometres, as a string")
    rate: Decimal = Field(description="the rule's rate (coefficient - 1 for coefficient lines)")
    amount: MoneyRead
    rule_id: str
    rate_card_version: str = Field(examples=["shanghai-2026@v3"])


class OrderEarningRead(BaseModel):
    """The settlement of one ticket: every line and the total."""

    ticket_id: int
    settlement_id: int
    technician_id: str
    service_type: str
    region_id: str | None
    service_at: datetime
    service_date: date = Field(description="the service date in the rate card's time zone")
    nth_in_period: int = Field(description="rank among the technician's jobs of the volume period")
    rate_card_version: str
    total: MoneyRead
    lines: list[LineRead]
    settled_at: datetime


class EntryRead(BaseModel):
    """One ledger entry; amounts are signed (withdrawals and reversals of earnings negative)."""

    id: int
    kind: Literal["earning", "adjustment", "reversal", "withdrawal"]
    amount: MoneyRead
    ticket_id: int | None
    settlement_id: int | None
    reverses_entry_id: int | None
    created_at: datetime
    memo: str


class EarningsRead(BaseModel):
    """A technician's settled orders (with breakdowns) in a date range and their balance."""

    technician_id: str
    first: date | None
    last: date | None
    balance: MoneyRead = Field(description="sum of every ledger entry: what can be withdrawn")
    orders: list[OrderEarningRead]


class ComponentRead(BaseModel):
    """What one kind of line (line code) added up to over the period."""

    code: str
    amount: MoneyRead


class StatementRead(BaseModel):
    """A technician's statement for one period (or a date range)."""

    technician_id: str
    period: Literal["day", "week", "month", "range"]
    period_key: str = Field(examples=["2026-W47"])
    first: date
    last: date
    order_count: int
    earnings: MoneyRead
    by_component: list[ComponentRead]
    tier_reached: str | None = Field(description="volume tier of the period's last order")
    adjustments: list[EntryRead]
    payable: MoneyRead = Field(description="earnings plus the period's adjustments")
    orders: list[OrderEarningRead]


class LedgerRead(BaseModel):
    """The ledger balance and the latest entries."""

    technician_id: str
    balance: MoneyRead
    entries: list[EntryRead] = Field(description="newest first")


class PositiveMoneyIn(MoneyIn):
    """An amount sent by a client that must be more than zero (a withdrawal)."""

    amount: PositiveAmountText


class WithdrawalCreate(Strict):
    """A withdrawal of part of the available balance."""

    amount: PositiveMoneyIn
    memo: str = Field(default="", max_length=500, description="payout reference")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount": {"amount": "200.00", "currency": "CNY"}, "memo": "WX-20261122"}]
        },
    )


class AdjustmentCreate(Strict):
    """A correction by an admin.

    - ``kind="adjustment"``: a manual entry of ``amount`` (signed) with its reason;
    - ``kind="resettle"``: price ``ticket_id`` again under the card now in force for its
      service time; a changed result reverses the old earning and books the new one.
    """

    kind: Literal["adjustment", "resettle"]
    memo: str = Field(min_length=1, max_length=500, description="why (shown to the technician)")
    amount: MoneyIn | None = None
    ticket_id: RowId | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "adjustment",
                    "amount": {"amount": "-12.50", "currency": "CNY"},
                    "memo": "ticket 42: filter paid by the customer",
                },
                {"kind": "resettle", "ticket_id": 42, "memo": "rate card v4 fixes Pudong"},
            ]
        },
    )

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        if self.kind == "adjustment" and (self.amount is None or self.ticket_id is not None):
            raise ValueError("an adjustment takes amount and no ticket_id")
        if self.kind == "adjustment" and self.amount and Decimal(self.amount.amount) == 0:
            raise ValueError("amount must not be zero")
        if self.kind == "resettle" and (self.ticket_id is None or self.amount is not None):
            raise ValueError("a resettle takes ticket_id and no amount")
        return self


class LedgerChangeRead(BaseModel):
    """What a withdrawal or correction wrote (nothing when a re-settlement changes nothing)."""

    technician_id: str
    entries: list[EntryRead]
    balance: MoneyRead
