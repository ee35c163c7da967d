"""Who is who: the pure rules that link a submitted person to a customer, or suggest a merge.

A customer is one person within one source. Each channel brings its own identifiers, and an
identifier belongs to at most one customer of a source:

- **Exact links, at once.** A member id, a marketplace buyer id, a WeChat open id or an e-mail
  address (compared case-insensitively) names one account, so a match links whatever the name.
  A phone number (compared in E.164) is shared by households and recycled by carriers, so it
  links only when the names agree (after :func:`name_key`) or the submission has no name.
- **Probable matches, offered with their evidence, never merged silently**: the same phone
  under another name, and the same name within ``NEARBY_M`` (200 m) of a known address.

:class:`Directory` holds the customers a submission could match (the repository loads them
by identifier, phone and name key) and decides one submission after another, so the later
people of a batch find the earlier ones.
"""

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from api.leads.rules.contact import InvalidContact, normalise_email, normalise_phone
from geo.distance import haversine_m

NEARBY_M = 200.0  # the same name this close to a known address is probably the same person
NEW = -1  # the customer a decision would create, in its suggestions until it has an id


class IdentifierKind(StrEnum):
    """A channel's identifier of a person; the order is the order of precedence of a link."""

    MEMBER_ID = "member_id"
    MARKETPLACE_BUYER_ID = "marketplace_buyer_id"
    WECHAT_OPEN_ID = "wechat_open_id"
    EMAIL = "email"
    PHONE = "phone"


ACCOUNT_KINDS = (
    IdentifierKind.MEMBER_ID,
    IdentifierKind.MARKETPLACE_BUYER_ID,
    IdentifierKind.WECHAT_OPEN_ID,
    IdentifierKind.EMAIL,
)
Identifier = tuple[IdentifierKind, str]


class EvidenceCode(StrEnum):
    """Why two customers are probably one person."""

    SAME_PHONE_DIFFERENT_NAME = "same_phone_different_name"
    SAME_NAME_NEARBY = "same_name_nearby"
    SHARED_IDENTIFIER = "shared_identifier"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason for a merge suggestion, with what was compared."""

    code: EvidenceCode
    detail: str
    distance_m: float | None = None

    def as_dict(self) -> dict[str, object]:
        """Return the evidence as stored and shown."""
        return {"code": self.code.value, "detail": self.detail, "distance_m": self.distance_m}


def name_key(name: str | None) -> str | None:
    """Return ``name`` folded for comparison: NFKC, case-folded, without spaces or punctuation.

    >>> name_key(" Wang  Fang ") == name_key("wang-fang") == "wangfang"
    True
    >>> name_key("王 芳"), name_key("  ")
    ('王芳', None)
    """
    if name is None:
        return None
    folded = unicodedata.normalize("NFKC", name).casefold()
    kept = "".join(ch for ch in folded if unicodedata.category(ch)[0] in {"L", "N"})
    return kept or None


def phone_value(raw: str, *, field_name: str) -> str:
    """Return ``raw`` in E.164, or raise :class:`InvalidIdentifier` naming ``field_name``.

    >>> phone_value("138-0013-8000", field_name="customer.phone")
    '+8613800138000'
    """
    try:
        return normalise_phone(raw)
    except InvalidContact as err:
        raise InvalidIdentifier(field_name, str(err)) from err


def email_value(raw: str, *, field_name: str) -> str:
    """Return the canonical address, or raise :class:`InvalidIdentifier` naming ``field_name``."""
    try:
        return normalise_email(raw)
    except InvalidContact as err:
        raise InvalidIdentifier(field_name, str(err)) from err


class InvalidIdentifier(ValueError):
    """An identifier that cannot be one; ``field`` names where it was sent."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Person:
    """A person as one submission describes them: contact already normalised, WGS84 point."""

    name: str | None
    phone: str | None = None  # E.164
    email: str | None = None  # canonical (``normalise_email``)
    member_id: str | None = None
    marketplace_buyer_id: str | None = None
    wechat_open_id: str | None = None
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    known_id: int | None = None  # the customer a converted lead already belongs to

    def identifiers(self) -> list[Identifier]:
        """Return the identifiers this person brings, in order of precedence.

        >>> [(k.value, v) for k, v in Person("Li", "+8613912345678", "Li@qq.com").identifiers()]
        [('email', 'li@qq.com'), ('phone', '+8613912345678')]
        """
        values = {
            IdentifierKind.MEMBER_ID: self.member_id,
            IdentifierKind.MARKETPLACE_BUYER_ID: self.marketplace_buyer_id,
            IdentifierKind.WECHAT_OPEN_ID: self.wechat_open_id,
            IdentifierKind.EMAIL: self.email.casefold() if self.email else None,
            IdentifierKind.PHONE: self.phone,
        }
        return [(kind, value) for kind, value in values.items() if value]


@dataclass(slots=True)
class Known:
    """A customer a submission may match: what the directory compares."""

    id: int
    name_key: str | None
    phone: str | None
    lon: float | None = None
    lat: float | None = None
    identifiers: set[Identifier] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Two customers that are probably one person (``first`` < ``second`` when both stored)."""

    first: int
    second: int
    evidence: tuple[Evidence, ...]

    @classmethod
    def of(cls, one: int, other: int, evidence: tuple[Evidence, ...]) -> "Suggestion":
        """Return the suggestion of a pair, in id order."""
        return cls(min(one, other), max(one, other), evidence)


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a person goes, what is offered for merge, what the customer gains.

    ``customer_id`` is the customer to link to (None: a new one); ``new_identifiers`` are the
    person's identifiers no customer holds yet.
    """

    customer_id: int | None
    evidence: tuple[Evidence, ...]
    suggestions: tuple[Suggestion, ...]
    new_identifiers: tuple[Identifier, ...]


class Directory:
    """The customers of one source that submissions are matched against (see the module)."""

    def __init__(self, known: Iterable[Known] = ()) -> None:
        self._by_id: dict[int, Known] = {}
        self._owner: dict[Identifier, int] = {}
        self._by_phone: dict[str, set[int]] = {}
        self._by_name: dict[str, set[int]] = {}
        for customer in known:
            self.add(customer)

    def __iter__(self) -> Iterator[Known]:
        return iter(self._by_id.values())

    def get(self, customer_id: int) -> Known | None:
        """Return the customer with ``customer_id``, if the directory holds it."""
        return self._by_id.get(customer_id)

    def add(self, customer: Known) -> None:
        """Hold ``customer``; identifiers another customer holds already stay with that one."""
        self._by_id[customer.id] = customer
        customer.identifiers = {i for i in customer.identifiers if self._claim(i, customer.id)}
        if customer.phone:
            self._by_phone.setdefault(customer.phone, set()).add(customer.id)
        if customer.name_key:
            self._by_name.setdefault(customer.name_key, set()).add(customer.id)

    def _claim(self, identifier: Identifier, customer_id: int) -> bool:
        owner = self._owner.setdefault(identifier, customer_id)
        return owner == customer_id

    def decide(self, person: Person) -> Decision:
        """Decide where ``person`` goes, without changing the directory (see :meth:`apply`)."""
        key = name_key(person.name)
        target, evidence = self._exact(person, key)
        suggestions = tuple(self._probable(person, key, target))
        free = tuple(i for i in person.identifiers() if i not in self._owner)
        return Decision(target, evidence, suggestions, free)

    def _exact(self, person: Person, key: str | None) -> tuple[int | None, tuple[Evidence, ...]]:
        if person.known_id is not None and person.known_id in self._by_id:
            return person.known_id, ()
        for kind, value in person.identifiers():
            owner = self._owner.get((kind, value))
            if owner is None:
                continue
            if kind is not IdentifierKind.PHONE:
                return owner, (Evidence(EvidenceCode.SHARED_IDENTIFIER, f"same {kind}"),)
            if key is None or self._by_id[owner].name_key == key:
                return owner, (Evidence(EvidenceCode.SHARED_IDENTIFIER, "same phone and name"),)
        # A second person on a shared phone: their own customer holds the phone on its row only.
        for other in self._by_phone.get(person.phone or "", ()):
            if key is not None and self._by_id[other].name_key == key:
                return other, (Evidence(EvidenceCode.SHARED_IDENTIFIER, "same phone and name"),)
        return None, ()

    def _probable(
        self, person: Person, key: str | None, target: int | None
    ) -> Iterator[Suggestion]:
        """Yield suggestions pairing the person (``target``, or ``NEW``) with another customer."""
        me = NEW if target is None else target
        found: dict[int, list[Evidence]] = {}
        for kind, value in person.identifiers():
            owner = self._owner.get((kind, value))
            if owner is not None and owner != me:
                detail = f"the {kind} {value} belongs to customer {owner}"
                is_other_name = self._by_id[owner].name_key != key
                code = (
                    EvidenceCode.SAME_PHONE_DIFFERENT_NAME
                    if kind is IdentifierKind.PHONE and is_other_name
                    else EvidenceCode.SHARED_IDENTIFIER
                )
                found.setdefault(owner, []).append(Evidence(code, detail))
        for other in self._by_phone.get(person.phone or "", ()):
            if other != me and other not in found and self._by_id[other].name_key != key:
                detail = f"same phone {person.phone} under another name"
                found[other] = [Evidence(EvidenceCode.SAME_PHONE_DIFFERENT_NAME, detail)]
        if key is not None and person.lon is not None and person.lat is not None:
            for other in self._by_name.get(key, ()):
                near = self._distance_m(other, person.lon, person.lat)
                if other != me and near is not None and near <= NEARBY_M:
                    detail = f"same name, addresses {near:.0f} m apart"
                    nearby = Evidence(EvidenceCode.SAME_NAME_NEARBY, detail, round(near, 1))
                    found.setdefault(other, []).append(nearby)
        for other, evidence in found.items():
            yield Suggestion.of(me, other, tuple(evidence))

    def _distance_m(self, customer_id: int, lon: float, lat: float) -> float | None:
        other = self._by_id[customer_id]
        if other.lon is None or other.lat is None:
            return None
        return float(haversine_m(lon, lat, other.lon, other.lat))

    def apply(self, person: Person, decision: Decision, *, customer_id: int) -> list[Suggestion]:
        """Record that ``person`` went to ``customer_id`` (new when ``decision`` made none).

        Returns the decision's suggestions with ``customer_id`` in place of ``NEW``.
        """
        if decision.customer_id is None:
            self.add(
                Known(
                    customer_id,
                    name_key(person.name),
                    person.phone,
                    person.lon,
                    person.lat,
                    set(decision.new_identifiers),
                )
            )
        else:
            customer = self._by_id[customer_id]
            customer.identifiers |= {
                i for i in decision.new_identifiers if self._claim(i, customer_id)
            }
            if customer.lon is None and person.lon is not None:
                customer.lon, customer.lat = person.lon, person.lat
        return [
            Suggestion.of(
                customer_id if s.first == NEW else s.first,
                customer_id if s.second == NEW else s.second,
                s.evidence,
            )
            for s in decision.suggestions
        ]


def merge_refusal(
    first_source: str, second_source: str, first_id: int, second_id: int
) -> str | None:
    """Return why two customers cannot be merged, or None when they can.

    >>> merge_refusal("shop-a", "shop-a", 3, 3)
    'a customer cannot be merged with itself'
    >>> merge_refusal("shop-a", "shop-b", 3, 4)
    'customers of different sources cannot be merged'
    """
    if first_id == second_id:
        return "a customer cannot be merged with itself"
    if first_source != second_source:
        return "customers of different sources cannot be merged"
    return None
