"""The ledger audit after the money benchmark: every cent accounted for, no balance below zero.

Read straight from the tables, for the benchmark's technicians:

- the balance the API reports is the sum of the technician's entries;
- that sum is the standing earnings plus the adjustments minus the withdrawals (a reversal
  cancels exactly the earning it names, and no earning is reversed twice);
- every settled ticket has exactly one standing earning, which is its latest settlement's total;
- the withdrawals, adjustments and re-settlement entries in the ledger are exactly those the
  answers named (nothing refused was written, nothing acknowledged is missing);
- replaying each ledger in the order it was written, the balance is never below zero after any
  operation (a reversal is taken together with the earning that replaces it).
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import BindParameter, bindparam, text

from api.db.spatial import make_engine

if TYPE_CHECKING:
    from benchmarks.reliability.money import Outcomes


@dataclass(frozen=True)
class Entry:
    id: int
    technician_id: str
    kind: str
    fen: int
    ticket_id: int | None
    settlement_id: int | None
    reverses: int | None


def audit_ledgers(
    url: str, technicians: list[str], outcomes: "Outcomes", api_balances: dict[str, Any]
) -> dict[str, Any]:
    """Return the audit's figures and its ``violations`` (a list of sentences; empty is good)."""
    entries, settlements = _load(url, technicians)
    violations: list[str] = []
    by_id = {e.id: e for e in entries}
    reversed_ids = [e.reverses for e in entries if e.kind == "reversal"]
    if len(reversed_ids) != len(set(reversed_ids)):
        violations.append("an earning is reversed twice")
    for e in entries:
        if e.kind != "reversal":
            continue
        target = by_id.get(e.reverses or -1)
        if target is None or target.kind != "earning" or target.ticket_id != e.ticket_id:
            violations.append(f"reversal {e.id} does not reverse an earning of its ticket")
        elif target.fen != -e.fen:
            violations.append(f"reversal {e.id} is {e.fen} fen for an earning of {target.fen}")
    standing = [e for e in entries if e.kind == "earning" and e.id not in set(reversed_ids)]
    violations += _tickets(standing, settlements, outcomes.settled)
    lowest: dict[str, int] = {}
    for tech in technicians:
        mine = [e for e in entries if e.technician_id == tech]
        total = sum(e.fen for e in mine)
        parts = sum(e.fen for e in standing if e.technician_id == tech) + sum(
            e.fen for e in mine if e.kind in {"adjustment", "withdrawal"}
        )
        api = int(Decimal(api_balances[tech]["amount"]) * 100)
        if api != total:
            violations.append(f"{tech}: the API says {api} fen, the entries add up to {total}")
        if parts != total:
            violations.append(f"{tech}: earnings + adjustments - withdrawals = {parts} != {total}")
        lowest[tech] = _lowest_balance(mine)
        if lowest[tech] < 0:
            violations.append(f"{tech}: the balance went to {lowest[tech]} fen")
    violations += _acknowledged(entries, outcomes.entries)
    kinds: dict[str, int] = {}
    for e in entries:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    per_ticket: dict[int, int] = {}
    for _, ticket_id, _, _ in settlements:
        per_ticket[ticket_id] = per_ticket.get(ticket_id, 0) + 1
    return {
        "ledger_entries": kinds,
        "tickets_settled": len(per_ticket),
        "settlements_per_ticket": _histogram(per_ticket.values()),
        "balances_fen": {
            tech: sum(e.fen for e in entries if e.technician_id == tech) for tech in technicians
        },
        "lowest_balance_fen": min(lowest.values()) if lowest else 0,
        "violations": violations,
    }


def _load(url: str, technicians: list[str]) -> tuple[list[Entry], list[tuple[int, int, int, str]]]:
    engine = make_engine(url)
    techs: BindParameter[Any] = bindparam("techs", expanding=True)
    try:
        with engine.connect() as conn:
            entries = [
                Entry(
                    int(r.id),
                    str(r.technician_id),
                    str(r.kind),
                    int(r.amount_fen),
                    r.ticket_id,
                    r.settlement_id,
                    r.reverses_entry_id,
                )
                for r in conn.execute(
                    text(
                        "SELECT id, technician_id, kind, amount_fen, ticket_id, settlement_id, "
                        "reverses_entry_id FROM ledger_entry WHERE technician_id IN :techs "
                        "ORDER BY id"
                    ).bindparams(techs),
                    {"techs": technicians},
                )
            ]
            settlements = [
                (int(r.id), int(r.ticket_id), int(r.total_fen), str(r.rate_card_version))
                for r in conn.execute(
                    text(
                        "SELECT id, ticket_id, total_fen, rate_card_version FROM settlement "
                        "WHERE technician_id IN :techs ORDER BY id"
                    ).bindparams(techs),
                    {"techs": technicians},
                )
            ]
    finally:
        engine.dispose()
    return entries, settlements


def _tickets(
    standing: list[Entry], settlements: list[tuple[int, int, int, str]], answered: set[int]
) -> list[str]:
    """Exactly one standing earning per settled ticket: its latest settlement's total."""
    latest = {ticket_id: (sid, fen) for sid, ticket_id, fen, _ in settlements}  # ordered by id
    earning_of: dict[int, list[Entry]] = {}
    for e in standing:
        earning_of.setdefault(e.ticket_id or 0, []).append(e)
    broken = []
    for ticket_id in sorted(set(latest) | answered | set(earning_of)):
        mine = earning_of.get(ticket_id, [])
        if len(mine) != 1:
            broken.append(f"ticket {ticket_id} has {len(mine)} standing earnings")
        elif ticket_id not in latest or (mine[0].settlement_id, mine[0].fen) != latest[ticket_id]:
            broken.append(f"ticket {ticket_id}: its earning is not its latest settlement's")
    return broken


def _acknowledged(entries: list[Entry], answered: dict[int, tuple[str, int]]) -> list[str]:
    """Check that the withdrawals, adjustments and re-settlement entries are those answered."""
    written = {
        e.id: (e.kind, e.fen) for e in entries if e.kind in {"withdrawal", "adjustment", "reversal"}
    }
    named = {i: v for i, v in answered.items() if v[0] in {"withdrawal", "adjustment", "reversal"}}
    broken = []
    if missing := sorted(set(named) - set(written)):
        broken.append(f"acknowledged but not in the ledger: entries {missing[:10]}")
    if unanswered := sorted(set(written) - set(named)):
        broken.append(f"in the ledger but never acknowledged: entries {unanswered[:10]}")
    if differ := [i for i in set(named) & set(written) if named[i] != written[i]]:
        broken.append(f"entries answered with other amounts: {sorted(differ)[:10]}")
    for i, (kind, fen) in answered.items():
        stored = next((e for e in entries if e.id == i), None)
        if kind == "earning" and (stored is None or stored.fen != fen):
            broken.append(f"re-settlement earning {i} answered but not stored as answered")
    return broken


def _lowest_balance(entries: list[Entry]) -> int:
    """Return the lowest balance after any operation, replaying the entries as written."""
    balance = lowest = 0
    for i, e in enumerate(entries):
        balance += e.fen
        replaced = (
            e.kind == "reversal" and i + 1 < len(entries) and entries[i + 1].kind == "earning"
        )
        if not replaced:
            lowest = min(lowest, balance)
    return lowest


def _histogram(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return dict(sorted(counts.items()))
