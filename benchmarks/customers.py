"""``geodispatch bench customers``: precision and recall of customer matching, known duplicates.

It generates seeded people in Shanghai, each submitting one to four times through channels
that spell them differently (phone formats, e-mail case, a member id on a marketplace order
from a second phone, a name written otherwise, a new phone at the same address), plus the
people that fool rules: households sharing a phone under other names, and namesakes living
within 200 m of each other. Every submission goes, in order, through the identity rules the
service applies (:class:`api.customers.rules.Directory`, which the repository feeds with the
customers that share an identifier, phone or name key: here it holds them all).

Exact links: precision is the share of links that join the same person; recall the share of
repeat submissions linked at once to a customer of that person. Suggestions: precision is the
share of suggested pairs that are one person; recall the share of a person's extra customers
(the duplicates the exact rules left) offered for merge with one of theirs.
"""

import itertools
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

from api.cli.settle_files import write_json
from api.config import PROJECT_ROOT
from api.customers.rules import Directory, Person

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
M_PER_DEG = 111_195.0


@dataclass(frozen=True, slots=True)
class Submission:
    person: int
    who: Person


def _people(n: int, rng: np.random.Generator) -> list[Person]:
    """``n`` distinct people: households share a phone, namesakes live close together."""
    people: list[Person] = []
    for i in range(n):
        name = rng.choice(list(SURNAMES)) + "".join(rng.choice(list(GIVEN), rng.integers(1, 3)))
        lon, lat = 121.3 + rng.random() * 0.3, 31.1 + rng.random() * 0.2
        phone = f"+861{rng.integers(30, 90)}{rng.integers(10_000_000, 100_000_000)}"
        if i and rng.random() < 0.05:  # a household: another name on the previous phone
            last = people[-1]
            phone, lon, lat = str(last.phone), float(last.lon or 0), float(last.lat or 0)
        if i and rng.random() < 0.03:  # a namesake living within 200 m
            name = str(people[-1].name)
            lon, lat = float(people[-1].lon or 0) + 0.0008, float(people[-1].lat or 0)
        email = f"user{i}@example.cn" if rng.random() < 0.4 else None
        member = f"M{i:07d}" if rng.random() < 0.3 else None
        people.append(Person(name, phone, email, member, address=f"{i} 号", lon=lon, lat=lat))
    return people


def _variants(person: Person, rng: np.random.Generator) -> list[Person]:
    """Return the later submissions of a person, each channel spelling them its own way."""
    result = []
    for _ in range(int(rng.integers(0, 4))):
        jitter = rng.normal(0, 30 / M_PER_DEG, 2)
        lon, lat = float(person.lon or 0) + jitter[0], float(person.lat or 0) + jitter[1]
        kind = rng.random()
        if kind < 0.35:  # a call: the phone as said, the name with a space
            name = " ".join(str(person.name))
            result.append(Person(name, person.phone, lon=lon, lat=lat))
        elif kind < 0.55 and person.email:  # a web form: the e-mail in capitals, no phone
            result.append(Person(person.name, email=person.email.upper(), lon=lon, lat=lat))
        elif kind < 0.7 and person.member_id:  # a marketplace order from a second phone
            other = f"+861{rng.integers(30, 90)}{rng.integers(10_000_000, 100_000_000)}"
            result.append(Person(person.name, other, member_id=person.member_id, lon=lon, lat=lat))
        elif kind < 0.85:  # a new phone at the same address
            other = f"+861{rng.integers(30, 90)}{rng.integers(10_000_000, 100_000_000)}"
            result.append(Person(person.name, other, lon=lon, lat=lat))
        else:  # the name written otherwise (a title for the given name), same phone
            result.append(Person(f"{str(person.name)[0]}女士", person.phone, lon=lon, lat=lat))
    return result


def measure(n_people: int, seed: int) -> dict[str, object]:
    """Run the rules over a generated set and count right and wrong links and suggestions."""
    rng = np.random.default_rng(seed)
    people = _people(n_people, rng)
    firsts = [Submission(i, p) for i, p in enumerate(people)]
    later = [Submission(i, v) for i, p in enumerate(people) for v in _variants(p, rng)]
    order = rng.permutation(len(later))
    # Each person's first submission, in order, then their others shuffled among everyone's.
    submissions = firsts + [later[i] for i in order]
    directory = Directory()
    owner: dict[int, int] = {}  # customer id -> the person who created it
    links = correct_links = repeats = repeats_linked = 0
    suggested: set[tuple[int, int]] = set()
    seen: set[int] = set()
    started = time.perf_counter()
    for sub in submissions:
        decision = directory.decide(sub.who)
        is_repeat = sub.person in seen
        seen.add(sub.person)
        repeats += is_repeat
        if decision.customer_id is None:
            customer_id = len(owner) + 1
            owner[customer_id] = sub.person
        else:
            customer_id = decision.customer_id
            links += 1
            correct_links += owner[customer_id] == sub.person
            repeats_linked += is_repeat and owner[customer_id] == sub.person
        for s in directory.apply(sub.who, decision, customer_id=customer_id):
            suggested.add((s.first, s.second))
    elapsed_s = time.perf_counter() - started
    correct_suggestions = sum(owner[a] == owner[b] for a, b in suggested)
    by_person: dict[int, list[int]] = {}
    for customer_id, person in owner.items():
        by_person.setdefault(person, []).append(customer_id)
    extra = [(cs[0], c) for cs in by_person.values() for c in cs[1:]]
    covered = sum(
        any((min(a, b), max(a, b)) in suggested for a, b in itertools.product(cs, [c]) if a != b)
        for cs in by_person.values()
        for c in cs[1:]
    )
    return {
        "people": n_people, "submissions": len(submissions), "seed": seed,
        "exact_links": links, "exact_link_precision": _ratio(correct_links, links),
        "exact_link_recall": _ratio(repeats_linked, repeats),
        "suggestions": len(suggested),
        "suggestion_precision": _ratio(correct_suggestions, len(suggested)),
        "suggestion_recall": _ratio(covered, len(extra)),
        "duplicate_customers_left": len(extra),
        "decide_us_per_submission": round(elapsed_s / len(submissions) * 1e6, 1),
        "python": platform.python_version(),
    }  # fmt: skip


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def bench_customers(
    people: Annotated[int, typer.Option(min=10, help="distinct people generated")] = 5_000,
    seed: Annotated[int, typer.Option(help="generator seed")] = 14,
    out: Annotated[Path, typer.Option(help="JSON results file")] = (
        PROJECT_ROOT / "benchmarks" / "results" / "customers.json"
    ),
) -> None:
    """Precision and recall of exact links and merge suggestions on known duplicates."""
    result = measure(people, seed)
    console = Console()
    for key, value in result.items():
        console.print(f"{key:>28}  {value}")
    write_json(out, result)
    console.print(f"written to {out}")
