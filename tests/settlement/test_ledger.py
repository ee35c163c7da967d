from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.breakdown import LineItem, PayoutBreakdown
from settlement.errors import InsufficientBalance, LedgerError
from settlement.ledger import EntryKind, Ledger
from settlement.money import Money

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


def breakdown(order_id="o1", total="100.00", version="card@v1", technician_id="t1"):
    line = LineItem(
        "base_fee",
        "基础费",
        "base fee",
        Decimal(1),
        Decimal(total),
        Money(Decimal(total)),
        "base",
        version,
    )
    return PayoutBreakdown(
        order_id, technician_id, "repair", None, AT.date(), 1, version, "CNY", (line,)
    )


def test_settling_twice_under_same_version_adds_nothing():
    once = Ledger().record(breakdown(), AT)
    twice = once.record(breakdown(), AT)
    assert twice == once
    assert len(twice.entries) == 1
    assert twice.balance("t1") == Money(Decimal("100.00"))


def test_settling_under_another_version_needs_a_correction():
    ledger = Ledger().record(breakdown(), AT)
    with pytest.raises(LedgerError, match="already settled under card@v1"):
        ledger.record(breakdown(total="120.00", version="card@v2"), AT)


def test_correction_is_reversal_plus_new_entry():
    original = Ledger().record(breakdown(), AT)
    corrected = original.correct(breakdown(total="120.00", version="card@v2"), AT, memo="re-rate")
    assert corrected.entries[: len(original.entries)] == original.entries  # append-only
    kinds = [e.kind for e in corrected.entries]
    assert kinds == [EntryKind.EARNING, EntryKind.REVERSAL, EntryKind.EARNING]
    assert corrected.entries[1].reverses == 1
    assert corrected.entries[1].amount == Money(Decimal("-100.00"))
    assert corrected.balance("t1") == Money(Decimal("120.00"))
    assert corrected.active_earning("o1") == corrected.entries[2]
    # Retrying the original settlement, or the same correction, changes nothing.
    assert corrected.record(breakdown(), AT) == corrected
    assert corrected.correct(breakdown(total="120.00", version="card@v2"), AT) == corrected


def test_correcting_an_unsettled_order_is_refused():
    with pytest.raises(LedgerError, match="no earning"):
        Ledger().correct(breakdown(), AT)


def test_withdrawal_cannot_exceed_balance():
    ledger = Ledger().record(breakdown(), AT)
    ledger = ledger.withdraw("t1", Money(Decimal("100.00")), AT)
    assert ledger.balance("t1") == Money.zero()
    with pytest.raises(InsufficientBalance, match=r"only 0\.00 CNY available"):
        ledger.withdraw("t1", Money(Decimal("0.01")), AT)


def test_withdrawal_must_be_positive_and_adjustment_needs_memo():
    with pytest.raises(LedgerError, match="positive"):
        Ledger().withdraw("t1", Money(Decimal("0")), AT)
    with pytest.raises(LedgerError, match="memo"):
        Ledger().adjust("t1", Money(Decimal("5")), AT, memo=" ")


def test_other_currency_refused():
    with pytest.raises(LedgerError, match="in CNY"):
        Ledger().adjust("t1", Money(Decimal("5"), "USD"), AT, memo="fx")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["o1", "o2", "o3"]),
            st.integers(0, 50_000),
            st.sampled_from(["card@v1", "card@v2"]),
        ),
        max_size=20,
    )
)
def test_balance_is_sum_of_entries_and_resettling_changes_nothing(operations):
    ledger = Ledger()
    for order_id, fen, version in operations:
        b = breakdown(order_id, str(Money.from_fen(fen).amount), version)
        ledger = ledger.correct(b, AT) if ledger.active_earning(order_id) else ledger.record(b, AT)
        assert ledger.record(b, AT) == ledger
    total = sum((e.amount for e in ledger.entries), Money.zero())
    assert ledger.balance("t1") == total
    active = [ledger.active_earning(o) for o in ("o1", "o2", "o3")]
    assert total == sum((e.amount for e in active if e is not None), Money.zero())
