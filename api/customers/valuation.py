"""Customer value tiers in the service: the policy in force, recomputing every score, lookups.

Scores are recomputed on demand (``geodispatch customers tiers``, or ``POST
/v1/customers/value-tiers/recompute``) and daily by whatever runs the service's scheduled jobs
(cron, a systemd timer: docs/customers.md). Monetary value is what the customer was billed:
the customer bill of each done ticket in the window (``api.bills.service.bill_totals``).
"""

import tomllib
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from api.bills.service import bill_totals
from api.customers import value_store as store
from api.customers.value_tiers import (
    CustomerActivity,
    InvalidTierPolicy,
    TierPolicy,
    parse_tier_policy,
    score,
)
from geo.regions import RegionIndex


def policy_of(path: Path) -> TierPolicy:
    """Return the policy in ``path``, re-read when the file changes."""
    stat = path.stat()
    return _policy(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _policy(path: Path, _mtime_ns: int, _size: int) -> TierPolicy:
    try:
        with path.open("rb") as handle:
            return parse_tier_policy(tomllib.load(handle))
    except tomllib.TOMLDecodeError as err:
        raise InvalidTierPolicy(f"{path}: {err}", field="file") from err
    except InvalidTierPolicy as err:
        raise InvalidTierPolicy(f"{path}: {err}", field=err.field) from err


def recompute(
    session: Session, *, policy: TierPolicy, as_of: datetime, regions: RegionIndex
) -> Counter[str]:
    """Score every customer as of ``as_of``, replace the stored scores; return counts by tier.

    One transaction: readers see the old scores or the new ones, never a mix.
    """
    window_start = as_of - timedelta(days=policy.lookback_days)
    last_service: dict[int, datetime] = {}
    in_window: dict[int, list[int]] = defaultdict(list)
    for customer_id, ticket_id, done_at in store.completed_services(session):
        if done_at > as_of:
            continue  # scored as of a past date: later work does not count yet
        if customer_id not in last_service or done_at > last_service[customer_id]:
            last_service[customer_id] = done_at
        if done_at >= window_start:
            in_window[customer_id].append(ticket_id)
    totals = bill_totals(session, [t for ids in in_window.values() for t in ids], regions=regions)
    scores = []
    for customer_id in store.customer_ids(session):
        tickets = in_window.get(customer_id, [])
        billed = sum(totals[t].to_fen() for t in tickets if t in totals)
        activity = CustomerActivity(last_service.get(customer_id), len(tickets), billed)
        scored = score(activity, policy, as_of=as_of)
        scores.append((customer_id, scored, len(tickets), billed, last_service.get(customer_id)))
    store.replace_scores(session, scores, policy=policy, at=as_of)
    session.commit()
    return Counter(s[1].tier for s in scores)
