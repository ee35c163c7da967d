"""Typed errors of the ``settlement`` package; the API turns ``code`` and ``details`` into a 422."""

from typing import ClassVar


class SettlementError(Exception):
    """Base class of every ``settlement`` error.

    Parameters
    ----------
    message
        Human-readable explanation naming the offending rule, field or order.
    **details
        Machine-readable context (JSON-serialisable values), e.g. ``rule_id="volume"``.
    """

    code: ClassVar[str] = "settlement_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


class InvalidMoney(SettlementError):
    """An amount is not a Decimal, has an unknown currency, or mixes currencies."""

    code: ClassVar[str] = "invalid_money"


class InvalidRateCard(SettlementError):
    """A rate card is malformed: a missing or unknown field, a float rate, a negative rate."""

    code: ClassVar[str] = "invalid_rate_card"


class TiersNotContiguous(InvalidRateCard):
    """Tiers (volume, surge) or time windows overlap or leave a gap."""

    code: ClassVar[str] = "tiers_not_contiguous"


class UnknownRegionInCard(InvalidRateCard):
    """A rule names a region id that the given regions do not contain."""

    code: ClassVar[str] = "unknown_region_in_card"


class RateCardVersionUsed(InvalidRateCard):
    """A rate-card version that has already priced orders was edited."""

    code: ClassVar[str] = "rate_card_version_used"


class InvalidOrder(SettlementError):
    """A completed order cannot be priced: unknown service type, naive time, bad field."""

    code: ClassVar[str] = "invalid_order"


class OrderOutsideRegions(InvalidOrder):
    """An order lies outside every region and the card refuses such orders."""

    code: ClassVar[str] = "order_outside_regions"


class CardNotInForce(InvalidOrder):
    """The order's service time is outside the rate card's effective period."""

    code: ClassVar[str] = "card_not_in_force"


class LedgerError(SettlementError):
    """A ledger operation is refused (double settlement under another version, bad reversal)."""

    code: ClassVar[str] = "ledger_error"


class InsufficientBalance(LedgerError):
    """A withdrawal exceeds the technician's available balance."""

    code: ClassVar[str] = "insufficient_balance"
