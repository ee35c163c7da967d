"""The customer's bill on the wire."""

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from api.earnings.schemas import MoneyRead
from settlement.bill import LABOUR_CODES, SERVICE_CODES, Bill, BillLine


class BillLineRead(BaseModel):
    """One line: ``amount = round_half_up(quantity x rate)`` to the fen."""

    code: str = Field(
        examples=["labour"],
        description="labour, labour_extra_units, travel, distance_supplement, urgency, "
        "after_hours, discount or part",
    )
    rule_id: str = Field(examples=["labour.repair"], description="the price-list entry applied")
    label_zh: str
    label_en: str
    basis_zh: str = Field(description="how the amount was reached")
    basis_en: str = Field(examples=["2 × 120.00 CNY"])  # noqa: RUF001 -- as bills print it
    quantity: Decimal = Field(description="a count, 1, or what a percentage applies to")
    rate: Decimal = Field(description="a unit price, or a percentage as a fraction")
    amount: MoneyRead

    @classmethod
    def of(cls, line: BillLine) -> "BillLineRead":
        return cls(
            code=line.code,
            rule_id=line.rule_id,
            label_zh=line.label_zh,
            label_en=line.label_en,
            basis_zh=line.basis_zh,
            basis_en=line.basis_en,
            quantity=line.quantity,
            rate=line.rate,
            amount=MoneyRead.of(line.amount),
        )


class BillRead(BaseModel):
    """A ticket's bill; ``total`` is the sum of the lines' amounts."""

    ticket_id: int
    price_list_version: str = Field(examples=["sh-sz-customer@v2"])
    service_at: datetime = Field(description="start of service, in the price list's time zone")
    tier: str | None = Field(description="the customer's value tier, when known")
    travel_m: int = Field(description="the trip to the job, metres")
    lines: list[BillLineRead]
    labour: MoneyRead = Field(description="the labour lines")
    services: MoneyRead = Field(description="labour, travel, supplements and surcharges")
    total: MoneyRead

    @classmethod
    def of(cls, ticket_id: int, bill: Bill) -> "BillRead":
        return cls(
            ticket_id=ticket_id,
            price_list_version=bill.price_list_version,
            service_at=bill.local_service_at,
            tier=bill.tier,
            travel_m=bill.travel_m,
            lines=[BillLineRead.of(line) for line in bill.lines],
            labour=MoneyRead.of(bill.subtotal(LABOUR_CODES)),
            services=MoneyRead.of(bill.subtotal(SERVICE_CODES)),
            total=MoneyRead.of(bill.total),
        )
