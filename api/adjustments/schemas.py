"""Adjustment requests on the wire: a large manual adjustment and a second admin's decision."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.earnings.schemas import MoneyRead
from api.schemas import Strict

AdjustmentStatus = Literal["pending", "approved", "rejected"]

_EXAMPLE: dict[str, JsonValue] = {
    "id": 7,
    "technician_id": "T-017",
    "amount": {"amount": "2400.00", "currency": "CNY"},
    "memo": "November: 12 installations paid at the old rate",
    "status": "approved",
    "requested_by_key_id": "3f1c9a0e5b7d4c2a9e8f1b6d0c4a7e21",
    "requested_at": "2026-12-03T09:12:00+08:00",
    "decided_by_key_id": "8d2e4f6a1c3b5d7e9f0a2b4c6d8e0f13",
    "decided_at": "2026-12-03T10:40:00+08:00",
    "decision_memo": None,
    "ledger_entry_id": 5120,
}


class AdjustmentRequestRead(BaseModel):
    """A manual adjustment above the approval amount, and its decision (four eyes).

    ``pending``: nothing is in the ledger yet. ``approved``: a second admin approved it and the
    adjustment is the ledger entry ``ledger_entry_id``. ``rejected``: refused (or withdrawn by
    its requester); nothing was booked. Both keys and both times are kept.
    """

    id: int
    technician_id: str
    amount: MoneyRead = Field(description="signed, as the ledger entry it books")
    memo: str = Field(description="why: the reason the technician reads once it is booked")
    status: AdjustmentStatus
    requested_by_key_id: str = Field(description="the API key of the admin who asked")
    requested_at: datetime
    decided_by_key_id: str | None = Field(description="the API key of the admin who decided")
    decided_at: datetime | None
    decision_memo: str | None = Field(description="the decider's note (a rejection's reason)")
    ledger_entry_id: int | None = Field(description="the entry an approval appended")

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})


class AdjustmentRequestList(BaseModel):
    """Adjustment requests, newest first."""

    items: list[AdjustmentRequestRead]


class AdjustmentRejection(Strict):
    """A refusal, with its reason (the requester may withdraw their own request this way)."""

    memo: str = Field(min_length=1, max_length=500, description="why it is refused")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"memo": "already paid in cash on 28 November"}]},
    )
