"""The earnings ledger: append-only entries per technician; a balance is the sum of entries.

Settling an order records one *earning*. Settling the same order under the same rate-card version
again adds nothing (idempotent retries). A correction never edits an entry: it appends a
*reversal* of the current earning and a new earning. Withdrawals cannot exceed the balance.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from settlement.breakdown import PayoutBreakdown
from settlement.errors import InsufficientBalance, LedgerError
from settlement.money import Money


class EntryKind(StrEnum):
    """What an entry records."""

    EARNING = "earning"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"
    WITHDRAWAL = "withdrawal"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One immutable ledger line; ``sequence`` is its 1-based position in the ledger."""

    sequence: int
    technician_id: str
    kind: EntryKind
    amount: Money
    at: datetime
    order_id: str | None = None
    rate_card_version: str | None = None
    reverses: int | None = None
    memo: str = ""


@dataclass(frozen=True, slots=True)
class Ledger:
    """An append-only sequence of entries in one currency.

    Every operation returns a new ledger that extends this one; no entry is ever changed.

    Examples
    --------
    >>> from decimal import Decimal
    >>> from datetime import UTC
    >>> at = datetime(2026, 11, 1, tzinfo=UTC)
    >>> ledger = Ledger().adjust("t1", Money(Decimal("50.00")), at, memo="sign-on bonus")
    >>> str(ledger.withdraw("t1", Money(Decimal("20.00")), at).balance("t1"))
    '30.00 CNY'
    """

    entries: tuple[LedgerEntry, ...] = ()
    currency: str = "CNY"

    def balance(self, technician_id: str) -> Money:
        """Return the sum of the technician's entries (what is available to withdraw)."""
        return sum(
            (e.amount for e in self.entries if e.technician_id == technician_id),
            Money.zero(self.currency),
        )

    def active_earning(self, order_id: str) -> LedgerEntry | None:
        """Return the order's earning that has not been reversed, if any."""
        reversed_ = {e.reverses for e in self.entries if e.kind is EntryKind.REVERSAL}
        return next(
            (
                e
                for e in reversed(self.entries)
                if e.order_id == order_id
                and e.kind is EntryKind.EARNING
                and e.sequence not in reversed_
            ),
            None,
        )

    def record(self, breakdown: PayoutBreakdown, at: datetime) -> "Ledger":
        """Record the earning of a settled order; a repeat under the same version adds nothing.

        Raises
        ------
        LedgerError
            If the order is already settled under another version: use :meth:`correct`.
        """
        if self._has_earning(breakdown.order_id, breakdown.rate_card_version):
            return self
        current = self.active_earning(breakdown.order_id)
        if current is not None:
            raise LedgerError(
                f"order {breakdown.order_id} is already settled under "
                f"{current.rate_card_version}; use a correction to re-settle it",
                order_id=breakdown.order_id,
                rate_card_version=current.rate_card_version,
            )
        return self._append(_earning(breakdown, at))

    def correct(self, breakdown: PayoutBreakdown, at: datetime, memo: str = "") -> "Ledger":
        """Replace the order's current earning: append its reversal and the new earning."""
        current = self.active_earning(breakdown.order_id)
        if current is None:
            raise LedgerError(
                f"order {breakdown.order_id} has no earning to correct",
                order_id=breakdown.order_id,
            )
        if current.rate_card_version == breakdown.rate_card_version and current.amount == (
            breakdown.total
        ):
            return self
        reversal = replace(
            current,
            kind=EntryKind.REVERSAL,
            amount=-current.amount,
            at=at,
            reverses=current.sequence,
            memo=memo or f"correction of entry {current.sequence}",
        )
        return self._append(reversal, _earning(breakdown, at, memo))

    def adjust(self, technician_id: str, amount: Money, at: datetime, memo: str) -> "Ledger":
        """Append a manual adjustment (positive or negative) with its reason."""
        if not memo.strip():
            raise LedgerError("an adjustment needs a memo saying why", field="memo")
        return self._append(
            LedgerEntry(0, technician_id, EntryKind.ADJUSTMENT, amount, at, memo=memo)
        )

    def withdraw(self, technician_id: str, amount: Money, at: datetime) -> "Ledger":
        """Append a withdrawal of ``amount`` (> 0), refused beyond the available balance."""
        if amount.amount <= 0:
            raise LedgerError("a withdrawal must be positive", field="amount")
        available = self.balance(technician_id)
        if amount.amount > available.amount:
            raise InsufficientBalance(
                f"technician {technician_id} cannot withdraw {amount}: only {available} available",
                technician_id=technician_id,
                requested=str(amount.amount),
                available=str(available.amount),
            )
        return self._append(LedgerEntry(0, technician_id, EntryKind.WITHDRAWAL, -amount, at))

    def _has_earning(self, order_id: str, version: str) -> bool:
        return any(
            e.kind is EntryKind.EARNING
            and e.order_id == order_id
            and e.rate_card_version == version
            for e in self.entries
        )

    def _append(self, *entries: LedgerEntry) -> "Ledger":
        numbered = _numbered(entries, start=len(self.entries) + 1)
        for entry in numbered:
            if entry.amount.currency != self.currency:
                raise LedgerError(
                    f"ledger is in {self.currency}, entry is in {entry.amount.currency}",
                    field="currency",
                )
        return Ledger(self.entries + numbered, self.currency)


def _earning(breakdown: PayoutBreakdown, at: datetime, memo: str = "") -> LedgerEntry:
    return LedgerEntry(
        0,
        breakdown.technician_id,
        EntryKind.EARNING,
        breakdown.total,
        at,
        order_id=breakdown.order_id,
        rate_card_version=breakdown.rate_card_version,
        memo=memo,
    )


def _numbered(entries: Iterable[LedgerEntry], start: int) -> tuple[LedgerEntry, ...]:
    return tuple(replace(e, sequence=start + i) for i, e in enumerate(entries))
