"""The authorisation matrix: every route against every caller, and A against B's objects.

``POLICY`` declares, for each (method, path) of the app's OpenAPI schema, which roles may call
it, whether a technician's or integrator's access is limited to its own objects, and how another
one's object is refused (404 where the code hides that it exists, 403 where it does not). It
was read off the routes (``require_roles``, ``visible_ticket``, ``visible_technician``,
``earnings_owner``, ``lead_for_reader``, ``subscription_for``) and README's API table. The tests
prove that:

- the table names every route, so a new route fails here until its policy is declared;
- an anonymous caller gets 401 everywhere except the public routes;
- a role the policy leaves out gets 403 with an error body that carries none of the data;
- an allowed role gets through: 2xx on real objects, except the dispatch routes, whose
  placeholder calls only have to pass authorisation (a real run would start the solver);
- technician A and integrator A get 403/404 for B's objects, without B's data, and 2xx for
  their own; their listings hold only their own objects, filters do not widen them, and what
  integrator A creates belongs to its source.

Callers: anonymous, admin, dispatcher, technician (technician A, ``T-A``) and integrator
(source A, ``shop-a``); B's are ``T-B`` and ``shop-b`` (keys of ``tests/api/conftest.py``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from shapely.geometry import Point

from api.adjustments import repository as adjustment_repo
from api.auth import Role
from api.config import PROJECT_ROOT, Settings
from api.db.spatial import to_wkb
from api.db.tables import ChecklistTickRow, TechnicianRow
from api.main import create_app
from api.regions.cache import RegionCache
from api.tickets import repository as ticket_repo
from api.tickets.rules import Actor, NewTicket, TicketStatus
from settlement import Money

Headers = dict[str, dict[str, str]]
Side = Literal["A", "B"]
RouteKey = tuple[str, str]
T = TypeVar("T")

ANONYMOUS = "anonymous"
CALLERS = [ANONYMOUS, *(role.value for role in Role)]
STAFF = frozenset({Role.ADMIN, Role.DISPATCHER})
SHIPPED_PROCEDURES = PROJECT_ROOT / "data" / "procedures"
PNG_PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(16)
MAP_LAYERS = ("regions", "technicians", "tickets", "unassigned", "routes", "kpis")
BOUND_ROLES = frozenset({Role.TECHNICIAN, Role.INTEGRATOR})  # keys bound to one object owner
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
REFUSAL_CODES = {"unauthorized", "forbidden", "not_found"}
# Every object the world makes carries this in a field its readers echo back; a refusal that
# contains it has leaked the object.
MARK = "MARKER"
# Monday 2026-11-16 10:00 in Shanghai: inside the rate card's period, and a past date.
ON_SITE_AT = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
SERVICE_DAY = "2026-11-16"
CARD: dict[str, Any] = {
    "id": "authz-card",
    "version": 1,
    "currency": "CNY",
    "effective_from": "2026-01-01",
    "time_zone": "Asia/Shanghai",
    "rules": [
        {
            "kind": "base_fee",
            "id": "base",
            "fees": {"repair": {"fee": "80.00", "label_zh": "维修", "label_en": "repair"}},
        }
    ],
}
LEAD_PHONES = {"A": "13912345678", "B": "13987654321"}
CUSTOMER_PHONES = {"A": "13700001111", "B": "13700002222"}
PRICE_LIST: dict[str, Any] = {
    "id": "authz-prices",
    "version": 1,
    "currency": "CNY",
    "effective_from": "2026-01-01",
    "labour": {"repair": {"unit_price": "150.00", "label_zh": "维修", "label_en": "repair"}},
    "travel": {"bands": [{"from_m": 0, "price": "0.00"}]},
}


def ticket_body(external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "maintenance",
        "location": [121.4737, 31.2304],
        "address": "南京东路 100 号",
        "duration_min": 30,
        "time_windows": [["2026-11-23T09:00:00+08:00", "2026-11-23T11:00:00+08:00"]],
    }


def device_body(
    customer_id: int, address: str = "南京东路 100 号", external_id: str = "SN-A"
) -> Any:
    return {"external_id": external_id, "customer_id": customer_id, "model": "AC-3000",
            "location": [121.4737, 31.2304], "address": address}  # fmt: skip


def owner_source(side: Side) -> str:
    return f"shop-{side.lower()}"


class World:
    """The objects of side A and side B, each made on first use so a test pays for what it uses.

    Side X: technician ``T-X``; a ``completed`` ticket of ``shop-x`` assigned to ``T-X``; a
    settled ticket of ``T-X`` (priced by ``CARD``, so ``T-X`` has a balance); a lead and a
    webhook subscription of ``shop-x``.
    """

    def __init__(self, client: TestClient, headers: Headers, session: Session) -> None:
        self.client = client
        self.session = session
        self._keys = headers
        self._made: dict[tuple[str, str], Any] = {}

    def headers(self, caller: str, side: Side = "A") -> dict[str, str]:
        """Return the ``Authorization`` header of ``caller``; bound roles are side ``side``'s."""
        if caller == ANONYMOUS:
            return {}
        if Role(caller) in STAFF:
            return self._keys[caller]
        kind = "tech" if caller == Role.TECHNICIAN else "shop"
        return self._keys[f"{kind}_{side.lower()}"]

    def _once(self, kind: str, side: str, make: Callable[[], T]) -> T:
        if (kind, side) not in self._made:
            self._made[kind, side] = make()
        result: T = self._made[kind, side]
        return result

    def technician(self, side: Side) -> str:
        def make() -> str:
            technician_id = f"T-{side}"
            self.session.add(
                TechnicianRow(
                    id=technician_id,
                    name=f"{MARK} technician {side}",
                    phone=f"{MARK}-{side}",
                    home_base=to_wkb(Point(121.45, 31.22)),
                    skills={},
                    is_active=True,
                    created_at=ON_SITE_AT - timedelta(days=30),
                    updated_at=ON_SITE_AT - timedelta(days=30),
                )
            )
            self.session.flush()
            return technician_id

        return self._once("technician", side, make)

    def _finished_job(self, side: Side, external_id: str, last: TicketStatus) -> int:
        """Store a ticket of ``shop-x`` done by ``T-x``, walked by staff up to ``last``."""
        technician_id = self.technician(side)
        (row,) = ticket_repo.create_tickets(
            self.session,
            tickets=[
                NewTicket(
                    source=owner_source(side),
                    external_id=external_id,
                    type="repair",
                    lon=121.4737,
                    lat=31.2304,
                    region_id=None,
                    address=f"{MARK} address of {external_id}",
                    duration_min=60,
                    skills={},
                    windows=[],
                    priority="normal",
                )
            ],
            actor_key_id=None,
            now=ON_SITE_AT - timedelta(days=1),
        )
        ticket = ticket_repo.get_ticket(self.session, ticket_id=row.id)
        assert ticket is not None
        steps = [TicketStatus.SCHEDULED, TicketStatus.DISPATCHED, TicketStatus.EN_ROUTE]
        steps += [TicketStatus.ON_SITE, TicketStatus.COMPLETED, TicketStatus.CONFIRMED]
        for offset, status in enumerate(steps[: steps.index(last) + 1], start=-3):
            ticket_repo.transition(
                self.session,
                ticket=ticket,
                target=status,
                actor=Actor.STAFF,
                actor_key_id=None,
                at=ON_SITE_AT + timedelta(minutes=20 * offset),
                technician_id=technician_id if status is TicketStatus.SCHEDULED else None,
            )
        self.session.flush()
        return row.id

    def ticket(self, side: Side) -> int:
        """A ``completed`` ticket: every allowed caller may record the customer's confirmation."""
        return self._once(
            "ticket", side, lambda: self._finished_job(side, f"job-{side}", TicketStatus.COMPLETED)
        )

    def working_ticket(self, side: Side) -> int:
        """An ``on_site`` repair of ``T-X`` with its procedure's photo step already ticked."""

        def make() -> int:
            ticket_id = self._finished_job(side, f"work-{side}", TicketStatus.ON_SITE)
            self.session.add(ChecklistTickRow(
                ticket_id=ticket_id, procedure_key="general-repair@1", item_id="repair",
                photo=PNG_PHOTO, photo_media_type="image/png", ticked_at=ON_SITE_AT,
            ))  # fmt: skip
            self.session.flush()
            return ticket_id

        return self._once("working_ticket", side, make)

    def rate_card(self) -> tuple[str, int]:
        def make() -> tuple[str, int]:
            response = self.client.post("/v1/rate-cards", json=CARD, headers=self._keys["admin"])
            assert response.status_code == 201, response.text
            return CARD["id"], CARD["version"]

        return self._once("rate_card", "", make)

    def price_list(self) -> tuple[str, int]:
        def make() -> tuple[str, int]:
            headers = self._keys["admin"]
            response = self.client.post("/v1/price-lists", json=PRICE_LIST, headers=headers)
            assert response.status_code == 201, response.text
            return PRICE_LIST["id"], PRICE_LIST["version"]

        return self._once("price_list", "", make)

    def settled_ticket(self, side: Side) -> int:
        def make() -> int:
            self.rate_card()
            ticket_id = self._finished_job(side, f"settled-{side}", TicketStatus.CONFIRMED)
            url = f"/v1/tickets/{ticket_id}/settle"
            response = self.client.post(url, headers=self._keys["admin"])
            assert response.status_code == 200, response.text
            return ticket_id

        return self._once("settled_ticket", side, make)

    def lead(self, side: Side) -> int:
        def make() -> int:
            body = {
                "name": "王芳" if side == "A" else "李雷",
                "phone": LEAD_PHONES[side],
                "location": [121.544, 31.221],
                "address": "浦东新区张杨路 500 号",
                "product_line": "central_ac",
                "notes": f"{MARK} lead {side}",
            }
            response = self.client.post(
                "/v1/leads", json=body, headers=self.headers("integrator", side)
            )
            assert response.status_code == 201, response.text
            lead_id: int = response.json()["lead"]["id"]
            return lead_id

        return self._once("lead", side, make)

    def customer(self, side: Side) -> int:
        """A customer of ``shop-x`` with a ticket (its name carries the marker)."""

        def make() -> int:
            body = {**ticket_body(f"cust-{side}"), "customer": {
                "name": f"{MARK} customer {side}", "phone": CUSTOMER_PHONES[side]}}  # fmt: skip
            response = self.client.post(
                "/v1/tickets", json=body, headers=self.headers("integrator", side)
            )
            assert response.status_code == 201, response.text
            customer_id: int = response.json()["customer"]["id"]
            return customer_id

        return self._once("customer", side, make)

    def suggestion(self, side: Side) -> int:
        """An open merge suggestion of ``shop-x``: its customer's phone under another name."""

        def make() -> int:
            self.customer(side)
            body = {**ticket_body(f"dup-{side}"), "customer": {
                "name": f"{MARK} other {side}", "phone": CUSTOMER_PHONES[side]}}  # fmt: skip
            headers = self.headers("integrator", side)
            response = self.client.post("/v1/tickets", json=body, headers=headers)
            assert response.status_code == 201, response.text
            listed = self.client.get("/v1/customers/merge-suggestions", headers=headers)
            suggestion_id: int = listed.json()["items"][0]["id"]
            return suggestion_id

        return self._once("suggestion", side, make)

    def merge(self, side: Side) -> int:
        """A merge of ``shop-x`` (its suggestion accepted)."""

        def make() -> int:
            url = f"/v1/customers/merge-suggestions/{self.suggestion(side)}/accept"
            response = self.client.post(url, headers=self.headers("integrator", side))
            assert response.status_code == 200, response.text
            merge_id: int = response.json()["id"]
            return merge_id

        return self._once("merge", side, make)

    def inquiry(self, side: Side) -> int:
        def make() -> int:
            body = {**INQUIRY, "address": f"{MARK} address of inquiry {side}"}
            headers = self.headers("integrator", side)
            response = self.client.post("/v1/inquiries", json=body, headers=headers)
            assert response.status_code == 201, response.text
            inquiry_id: int = response.json()["id"]
            return inquiry_id

        return self._once("inquiry", side, make)

    def device(self, side: Side) -> int:
        """A device of ``shop-x``'s customer (its address carries the marker)."""

        def make() -> int:
            body = device_body(self.customer(side), f"{MARK} address of device {side}")
            headers = self.headers("integrator", side)
            response = self.client.post("/v1/devices", json=body, headers=headers)
            assert response.status_code == 201, response.text
            device_id: int = response.json()["id"]
            return device_id

        return self._once("device", side, make)

    def adjustment_request(self) -> int:
        """A pending adjustment request for ``T-A``, made by an admin key of no caller here."""

        def make() -> int:
            row = adjustment_repo.insert(
                self.session,
                technician_id=self.technician("A"),
                amount=Money(Decimal("2000.00")),
                memo=f"{MARK} adjustment",
                requested_by_key_id="another-admin-key",
                now=ON_SITE_AT,
            )
            return row.id

        return self._once("adjustment_request", "", make)

    def subscription(self, side: Side) -> int:
        def make() -> int:
            body = {
                "url": f"https://{owner_source(side)}.example.cn/hooks",
                "event_types": ["ticket.*"],
                "description": f"{MARK} hook {side}",
            }
            headers = self.headers("integrator", side)
            response = self.client.post("/v1/webhooks", json=body, headers=headers)
            assert response.status_code == 201, response.text
            subscription_id: int = response.json()["id"]
            return subscription_id

        return self._once("subscription", side, make)


@dataclass(frozen=True)
class Call:
    """One request to a route: the filled-in URL and what it sends."""

    url: str
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    csv: str | None = None


Request = Callable[[World, Side], Call]


@dataclass(frozen=True)
class Policy:
    """Who may call a route.

    ``roles`` pass the route's checks; any other role is refused with 403. ``is_own_only``: a
    technician or integrator in ``roles`` reaches only its own objects (its technician id, the
    tickets assigned to it, its source's tickets, leads and subscriptions), and another one's
    object in the path is refused with ``refuses_others_with``. ``request`` builds a call on
    side A's objects (or side B's, for the object-level checks); ``is_placeholder`` marks
    a call that only proves authorisation (a 404/409/422 is fine).
    """

    roles: frozenset[Role]
    request: Request
    is_public: bool = False
    is_own_only: bool = False
    refuses_others_with: int = 404
    is_placeholder: bool = False


def public(request: Request) -> Policy:
    return Policy(frozenset(Role), request, is_public=True)


def staff(request: Request, *, is_placeholder: bool = False) -> Policy:
    return Policy(STAFF, request, is_placeholder=is_placeholder)


def admin_only(request: Request) -> Policy:
    return Policy(frozenset({Role.ADMIN}), request)


def own(*roles: Role, request: Request, refuses_others_with: int = 404) -> Policy:
    """Staff plus ``roles``, which are limited to their own objects."""
    return Policy(
        STAFF | set(roles), request, is_own_only=True, refuses_others_with=refuses_others_with
    )


def fixed_url(path: str, **params: str) -> Request:
    """Return a request to a fixed URL (no object of either side in it)."""
    return lambda _world, _side: Call(path, params=params)


def send_json(path: str, body: Any) -> Request:
    return lambda _world, _side: Call(path, json=body)


def on_ticket(suffix: str = "", body: Any = None) -> Request:
    return lambda world, side: Call(f"/v1/tickets/{world.ticket(side)}{suffix}", json=body)


def on_working_ticket(suffix: str, body: Any = None) -> Request:
    return lambda world, side: Call(f"/v1/tickets/{world.working_ticket(side)}{suffix}", json=body)


def on_technician(suffix: str = "", body: Any = None, **params: str) -> Request:
    return lambda world, side: Call(
        f"/v1/technicians/{world.technician(side)}{suffix}", json=body, params=params
    )


def on_lead(suffix: str = "", body: Any = None) -> Request:
    return lambda world, side: Call(f"/v1/leads/{world.lead(side)}{suffix}", json=body)


def on_inquiry(suffix: str = "", body: Any = None) -> Request:
    return lambda world, side: Call(f"/v1/inquiries/{world.inquiry(side)}{suffix}", json=body)


def on_subscription(suffix: str = "", body: Any = None) -> Request:
    return lambda world, side: Call(f"/v1/webhooks/{world.subscription(side)}{suffix}", json=body)


def on_earnings(suffix: str = "", body: Any = None, **params: str) -> Request:
    """A call on a technician's money, after one settled order gave them a balance."""

    def request(world: World, side: Side) -> Call:
        world.settled_ticket(side)
        return Call(f"/v1/earnings/{world.technician(side)}{suffix}", json=body, params=params)

    return request


def on_device(suffix: str = "", body: Any = None) -> Request:
    return lambda world, side: Call(f"/v1/devices/{world.device(side)}{suffix}", json=body)


def new_device(world: World, side: Side) -> Call:
    """Register another device for side ``side``'s customer."""
    return Call("/v1/devices", json=device_body(world.customer(side), external_id="SN-NEW"))


def on_adjustment(suffix: str = "", body: Any = None) -> Request:
    return lambda world, _side: Call(
        f"/v1/adjustments/{world.adjustment_request()}{suffix}", json=body
    )


def on_customer(suffix: str = "", body: Any = None) -> Request:
    return lambda world, side: Call(f"/v1/customers/{world.customer(side)}{suffix}", json=body)


def on_suggestion(suffix: str) -> Request:
    return lambda world, side: Call(
        f"/v1/customers/merge-suggestions/{world.suggestion(side)}{suffix}"
    )


def merge_duplicate(world: World, side: Side) -> Call:
    """Merge side ``side``'s suggested duplicate into its customer, by hand."""
    world.suggestion(side)
    listed = world.client.get(
        "/v1/customers", params={"name": f"{MARK} other {side}"},
        headers=world.headers("admin"),
    )  # fmt: skip
    duplicate = listed.json()["items"][0]["id"]
    return Call(f"/v1/customers/{world.customer(side)}/merge", json={"duplicate_id": duplicate})


def unmerge(world: World, side: Side) -> Call:
    return Call(f"/v1/customers/merges/{world.merge(side)}/unmerge")


def earning_of_order(world: World, side: Side) -> Call:
    technician_id, ticket_id = world.technician(side), world.settled_ticket(side)
    return Call(f"/v1/earnings/{technician_id}/orders/{ticket_id}")


def settle_again(world: World, side: Side) -> Call:
    return Call(f"/v1/tickets/{world.settled_ticket(side)}/settle")


def rate_card_version(world: World, _side: Side) -> Call:
    card_id, version = world.rate_card()
    return Call(f"/v1/rate-cards/{card_id}/versions/{version}")


def rate_card_in_force(world: World, _side: Side) -> Call:
    world.rate_card()
    return Call("/v1/rate-cards/in-force", params={"date": SERVICE_DAY})


def price_list_version(world: World, _side: Side) -> Call:
    list_id, version = world.price_list()
    return Call(f"/v1/price-lists/{list_id}/versions/{version}")


def bill_of_ticket(world: World, side: Side) -> Call:
    world.price_list()
    return Call(f"/v1/tickets/{world.ticket(side)}/bill")


def simulation(world: World, side: Side) -> Call:
    world.settled_ticket(side)
    card_id, version = world.rate_card()
    ref = {"card_id": card_id, "version": version}
    body = {"candidate_version": ref, "current_version": ref, "first": "2026-11-01",
            "last": "2026-11-30"}  # fmt: skip
    return Call("/v1/settlement/simulate", json=body)


CONFIRMATION = {
    "to": "confirmed",
    "signature": {"signer_name": "王女士", "signed_at": "2026-11-16T11:40:00+08:00"},
}
SHIFTS = {
    "shifts": [
        {"day": SERVICE_DAY, "start_at": "2026-11-16T08:00:00+08:00",
         "end_at": "2026-11-16T17:00:00+08:00"}
    ]
}  # fmt: skip
PINGS = {"pings": [{"location": [121.45, 31.22], "recorded_at": "2026-11-16T08:00:00+08:00"}]}
SUBSCRIPTION = {"url": "https://hooks.example.cn/new", "event_types": ["ticket.*"]}
NEW_TECHNICIAN = {"id": "T-NEW", "name": "new", "home_base": [121.45, 31.22]}
WITHDRAWAL = {"amount": {"amount": "1.00", "currency": "CNY"}, "memo": "WX-1"}
ADJUSTMENT = {"kind": "adjustment", "amount": {"amount": "5.00", "currency": "CNY"},
              "memo": "goodwill"}  # fmt: skip
INQUIRY = {"text": "空调不制冷了，请派师傅上门", "location": [121.4737, 31.2304]}  # noqa: RUF001
DEVICE_EVENTS = {
    "events": [{"kind": "alarm", "occurred_at": "2026-11-16T10:00:00+08:00", "fault_code": "E4"}]
}
LEAD_CSV = "external_id,name,phone\nF-1,王芳,13912345670\n"
TECH, INTEGRATOR = Role.TECHNICIAN, Role.INTEGRATOR

POLICY: dict[RouteKey, Policy] = {
    ("GET", "/health"): public(fixed_url("/health")),
    ("GET", "/v1/regions"): public(fixed_url("/v1/regions")),
    ("GET", "/v1/regions/locate"): public(
        fixed_url("/v1/regions/locate", lon="121.4737", lat="31.2304")
    ),
    # Tickets: an integrator's land in its source; a technician sees those assigned to it.
    ("POST", "/v1/tickets"): own(INTEGRATOR, request=send_json("/v1/tickets", ticket_body("N-1"))),
    ("POST", "/v1/tickets/batch"): own(
        INTEGRATOR, request=send_json("/v1/tickets/batch", {"tickets": [ticket_body("N-2")]})
    ),
    ("GET", "/v1/tickets"): own(TECH, INTEGRATOR, request=fixed_url("/v1/tickets")),
    ("GET", "/v1/tickets/{ticket_id}"): own(TECH, INTEGRATOR, request=on_ticket()),
    ("GET", "/v1/tickets/{ticket_id}/history"): own(
        TECH, INTEGRATOR, request=on_ticket("/history")
    ),
    ("POST", "/v1/tickets/{ticket_id}/transitions"): own(
        TECH, INTEGRATOR, request=on_ticket("/transitions", CONFIRMATION)
    ),
    ("POST", "/v1/tickets/{ticket_id}/settle"): staff(settle_again),
    # Technicians: staff, and a technician only itself.
    ("POST", "/v1/technicians"): staff(send_json("/v1/technicians", NEW_TECHNICIAN)),
    ("GET", "/v1/technicians"): own(TECH, request=fixed_url("/v1/technicians")),
    ("GET", "/v1/technicians/{technician_id}"): own(TECH, request=on_technician()),
    ("PATCH", "/v1/technicians/{technician_id}"): staff(on_technician(body={"name": "renamed"})),
    ("DELETE", "/v1/technicians/{technician_id}"): staff(on_technician()),
    ("PUT", "/v1/technicians/{technician_id}/shifts"): staff(on_technician("/shifts", SHIFTS)),
    ("GET", "/v1/technicians/{technician_id}/shifts"): own(
        TECH, request=on_technician("/shifts", first=SERVICE_DAY, last=SERVICE_DAY)
    ),
    ("GET", "/v1/technicians/{technician_id}/route"): own(
        TECH, request=on_technician("/route", day=SERVICE_DAY)
    ),
    ("POST", "/v1/technicians/{technician_id}/locations"): own(
        TECH, request=on_technician("/locations", PINGS)
    ),
    # Leads: staff, and an integrator its own source's.
    ("POST", "/v1/leads"): own(
        INTEGRATOR, request=send_json("/v1/leads", {"phone": "13912340000"})
    ),
    ("POST", "/v1/leads/batch"): own(
        INTEGRATOR, request=send_json("/v1/leads/batch", {"leads": [{"phone": "13912340001"}]})
    ),
    ("POST", "/v1/leads/import"): own(
        INTEGRATOR, request=lambda _world, _side: Call("/v1/leads/import", csv=LEAD_CSV)
    ),
    ("GET", "/v1/leads"): own(INTEGRATOR, request=fixed_url("/v1/leads")),
    ("GET", "/v1/leads/funnel"): own(INTEGRATOR, request=fixed_url("/v1/leads/funnel")),
    ("GET", "/v1/leads/nurture/due"): own(INTEGRATOR, request=fixed_url("/v1/leads/nurture/due")),
    ("GET", "/v1/leads/owners"): staff(fixed_url("/v1/leads/owners")),
    ("PUT", "/v1/leads/owners/{owner_id}"): staff(
        send_json("/v1/leads/owners/chen", {"name": "陈静", "team": "team-310115"})
    ),
    ("GET", "/v1/leads/{lead_id}"): own(INTEGRATOR, request=on_lead()),
    ("POST", "/v1/leads/{lead_id}/touches"): own(
        INTEGRATOR, request=on_lead("/touches", {"kind": "call"})
    ),
    ("POST", "/v1/leads/{lead_id}/convert"): own(
        INTEGRATOR, request=on_lead("/convert", {"type": "install", "duration_min": 60})
    ),
    # Customers: staff, and an integrator its own source's; technicians none.
    ("GET", "/v1/customers"): own(INTEGRATOR, request=fixed_url("/v1/customers")),
    ("GET", "/v1/customers/{customer_id}"): own(INTEGRATOR, request=on_customer()),
    ("POST", "/v1/customers/{customer_id}/merge"): own(INTEGRATOR, request=merge_duplicate),
    ("GET", "/v1/customers/merge-suggestions"): own(
        INTEGRATOR, request=fixed_url("/v1/customers/merge-suggestions")
    ),
    ("POST", "/v1/customers/merge-suggestions/{suggestion_id}/accept"): own(
        INTEGRATOR, request=on_suggestion("/accept")
    ),
    ("POST", "/v1/customers/merge-suggestions/{suggestion_id}/refuse"): own(
        INTEGRATOR, request=on_suggestion("/refuse")
    ),
    ("POST", "/v1/customers/merges/{merge_id}/unmerge"): own(INTEGRATOR, request=unmerge),
    # Inquiries: staff, and an integrator its own source's; only staff confirm one as a ticket.
    ("POST", "/v1/inquiries"): own(INTEGRATOR, request=send_json("/v1/inquiries", INQUIRY)),
    ("GET", "/v1/inquiries"): own(INTEGRATOR, request=fixed_url("/v1/inquiries")),
    ("GET", "/v1/inquiries/{inquiry_id}"): own(INTEGRATOR, request=on_inquiry()),
    ("POST", "/v1/inquiries/{inquiry_id}/confirm"): staff(on_inquiry("/confirm", {})),
    # Devices: staff, and an integrator its own source's (its customers' devices).
    ("POST", "/v1/devices"): own(INTEGRATOR, request=new_device),
    ("GET", "/v1/devices/{device_id}"): own(INTEGRATOR, request=on_device()),
    ("POST", "/v1/devices/{device_id}/events"): own(
        INTEGRATOR, request=on_device("/events", DEVICE_EVENTS)
    ),
    ("GET", "/v1/devices/{device_id}/incidents"): own(INTEGRATOR, request=on_device("/incidents")),
    # Dispatch: staff only. Placeholders: a real run would start the solver in a process.
    ("POST", "/v1/dispatch/runs"): staff(send_json("/v1/dispatch/runs", {}), is_placeholder=True),
    ("GET", "/v1/dispatch/runs/{run_id}"): staff(
        fixed_url("/v1/dispatch/runs/999999"), is_placeholder=True
    ),
    ("POST", "/v1/dispatch/runs/{run_id}/apply"): staff(
        send_json("/v1/dispatch/runs/999999/apply", None), is_placeholder=True
    ),
    ("POST", "/v1/dispatch/assignments"): staff(
        send_json("/v1/dispatch/assignments", {}), is_placeholder=True
    ),
    ("POST", "/v1/dispatch/insert"): staff(
        send_json("/v1/dispatch/insert", {}), is_placeholder=True
    ),
    ("GET", "/v1/dispatch/availability"): staff(
        fixed_url("/v1/dispatch/availability"), is_placeholder=True
    ),
    # The dispatcher's map layers: staff only.
    **{("GET", f"/v1/map/{layer}"): staff(fixed_url(f"/v1/map/{layer}")) for layer in MAP_LAYERS},
    # Rate cards and settlement: admin uploads, staff read and settle.
    ("POST", "/v1/rate-cards"): admin_only(send_json("/v1/rate-cards", {**CARD, "id": "new-card"})),
    ("GET", "/v1/rate-cards"): staff(fixed_url("/v1/rate-cards")),
    ("GET", "/v1/rate-cards/in-force"): staff(rate_card_in_force),
    ("GET", "/v1/rate-cards/{card_id}/versions/{version}"): staff(rate_card_version),
    # Customer price lists: admin uploads, staff read. A ticket's bill: staff, and an integrator
    # its own source's; a technician is paid by the rate card and sees no customer prices.
    ("POST", "/v1/price-lists"): admin_only(
        send_json("/v1/price-lists", {**PRICE_LIST, "id": "new-prices"})
    ),
    ("GET", "/v1/price-lists"): staff(fixed_url("/v1/price-lists")),
    ("GET", "/v1/price-lists/{list_id}/versions/{version}"): staff(price_list_version),
    ("GET", "/v1/tickets/{ticket_id}/bill"): own(INTEGRATOR, request=bill_of_ticket),
    ("POST", "/v1/customers/value-tiers/recompute"): admin_only(
        fixed_url("/v1/customers/value-tiers/recompute")
    ),
    # Procedures: the library for the field; a ticket's checklist is worked by its technician
    # (or staff) and followed by everyone who sees the ticket.
    ("GET", "/v1/procedures"): own(TECH, request=fixed_url("/v1/procedures")),  # nobody's objects
    ("GET", "/v1/tickets/{ticket_id}/procedure"): own(
        TECH, INTEGRATOR, request=on_working_ticket("/procedure")
    ),
    ("PUT", "/v1/tickets/{ticket_id}/checklist/{item_id}"): own(
        TECH, request=on_working_ticket("/checklist/diagnose", {})
    ),
    ("DELETE", "/v1/tickets/{ticket_id}/checklist/{item_id}"): own(
        TECH, request=on_working_ticket("/checklist/repair")
    ),
    ("GET", "/v1/tickets/{ticket_id}/checklist/{item_id}/photo"): own(
        TECH, INTEGRATOR, request=on_working_ticket("/checklist/repair/photo")
    ),
    # Escalations: staff read the rules and what fired, and approve held tickets. The approval
    # is a placeholder: the world's tickets are held by no rule, so staff get 409 past the check.
    ("GET", "/v1/escalations/rules"): staff(fixed_url("/v1/escalations/rules")),
    ("GET", "/v1/escalations/firings"): staff(fixed_url("/v1/escalations/firings")),
    ("POST", "/v1/tickets/{ticket_id}/approval"): staff(
        on_ticket("/approval", {}), is_placeholder=True
    ),
    ("POST", "/v1/settlement/pending"): staff(send_json("/v1/settlement/pending", None)),
    ("POST", "/v1/settlement/simulate"): staff(simulation),
    # Earnings: staff, and a technician only their own (403, not 404, for another's).
    ("GET", "/v1/earnings/{technician_id}"): own(
        TECH, request=on_earnings(first="2026-11-01", last="2026-11-30"), refuses_others_with=403
    ),
    ("GET", "/v1/earnings/{technician_id}/orders/{ticket_id}"): own(
        TECH, request=earning_of_order, refuses_others_with=403
    ),
    ("GET", "/v1/earnings/{technician_id}/statement"): own(
        TECH,
        request=on_earnings("/statement", period="month", date=SERVICE_DAY),
        refuses_others_with=403,
    ),
    ("GET", "/v1/earnings/{technician_id}/ledger"): own(
        TECH, request=on_earnings("/ledger"), refuses_others_with=403
    ),
    # Withdrawals: the technician themself or an admin; a dispatcher may not move money.
    ("POST", "/v1/earnings/{technician_id}/withdrawals"): Policy(
        frozenset({Role.ADMIN, TECH}),
        on_earnings("/withdrawals", WITHDRAWAL),
        is_own_only=True,
        refuses_others_with=403,
    ),
    ("POST", "/v1/earnings/{technician_id}/adjustments"): admin_only(
        on_earnings("/adjustments", ADJUSTMENT)
    ),
    # Large adjustments wait for a second admin: admins only.
    ("GET", "/v1/adjustments"): admin_only(fixed_url("/v1/adjustments", status="pending")),
    ("GET", "/v1/adjustments/{adjustment_id}"): admin_only(on_adjustment()),
    ("POST", "/v1/adjustments/{adjustment_id}/approve"): admin_only(on_adjustment("/approve")),
    ("POST", "/v1/adjustments/{adjustment_id}/reject"): admin_only(
        on_adjustment("/reject", {"memo": "not agreed"})
    ),
    # Webhooks: only an integrator subscribes; staff may read and manage every subscription.
    ("POST", "/v1/webhooks"): Policy(
        frozenset({INTEGRATOR}), send_json("/v1/webhooks", SUBSCRIPTION), is_own_only=True
    ),
    ("GET", "/v1/webhooks"): own(INTEGRATOR, request=fixed_url("/v1/webhooks")),
    ("GET", "/v1/webhooks/{subscription_id}"): own(INTEGRATOR, request=on_subscription()),
    ("PATCH", "/v1/webhooks/{subscription_id}"): own(
        INTEGRATOR, request=on_subscription(body={"is_active": False})
    ),
    ("DELETE", "/v1/webhooks/{subscription_id}"): own(INTEGRATOR, request=on_subscription()),
    ("GET", "/v1/webhooks/{subscription_id}/deliveries"): own(
        INTEGRATOR, request=on_subscription("/deliveries")
    ),
    # Reports: staff only (an integrator's own funnel is GET /v1/leads/funnel).
    ("GET", "/v1/reports/lead-funnel"): staff(fixed_url("/v1/reports/lead-funnel")),
    ("GET", "/v1/reports/sla"): staff(fixed_url("/v1/reports/sla")),
    ("GET", "/v1/reports/cost"): staff(fixed_url("/v1/reports/cost")),
    ("GET", "/v1/reports/utilisation"): staff(fixed_url("/v1/reports/utilisation", by="week")),
}


@pytest.fixture(scope="module")
def region_cache() -> RegionCache:
    """One region index for the module: the regions never change here, and each app would
    otherwise build its own (most of a test's time)."""
    return RegionCache()


@pytest.fixture
def world(
    client: TestClient, headers: Headers, session: Session, region_cache: RegionCache
) -> World:
    client.app.state.region_cache = region_cache  # type: ignore[attr-defined]
    return World(client, headers, session)


def send(world: World, method: str, call: Call, headers: dict[str, str]) -> Response:
    """Send ``call`` with ``headers``: a CSV body as ``text/csv``, anything else as JSON."""
    response: Response
    if call.csv is not None:
        headers = {**headers, "Content-Type": "text/csv"}
        response = world.client.request(
            method, call.url, content=call.csv.encode(), params=call.params, headers=headers
        )
    else:
        response = world.client.request(
            method, call.url, json=call.json, params=call.params, headers=headers
        )
    return response


def assert_refused(response: Response, status: int) -> None:
    """The refusal has ``status``, the one error shape, and none of any object's data."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] in REFUSAL_CODES, body
    assert MARK not in response.text


def test_every_route_has_a_policy(settings: Settings) -> None:
    app = create_app(settings)
    schema_paths = app.openapi()["paths"]
    app.state.engine.dispose()
    routes = {
        (method.upper(), path)
        for path, operations in schema_paths.items()
        for method in operations
        if method in HTTP_METHODS
    }
    assert routes - POLICY.keys() == set(), "declare who may call these routes in POLICY"
    assert POLICY.keys() - routes == set(), "these POLICY entries name no route"


def test_bound_roles_reach_only_their_own_objects() -> None:
    # No route gives a technician or integrator key the run of everyone's objects.
    for route, policy in POLICY.items():
        if policy.roles & BOUND_ROLES and not policy.is_public:
            assert policy.is_own_only, route


MATRIX = [
    pytest.param(route, caller, id=f"{route[0]} {route[1]} as {caller}")
    for route in POLICY
    for caller in CALLERS
]


@pytest.mark.parametrize(("route", "caller"), MATRIX)
def test_route_answers_the_caller_as_the_policy_says(
    world: World, route: RouteKey, caller: str
) -> None:
    method, _ = route
    policy = POLICY[route]
    response = send(world, method, policy.request(world, "A"), world.headers(caller))
    if policy.is_public:
        assert response.status_code == 200, response.text
    elif caller == ANONYMOUS:
        assert_refused(response, 401)
    elif Role(caller) not in policy.roles:
        assert_refused(response, 403)
    elif policy.is_placeholder:
        assert response.status_code not in {401, 403}, response.text
        assert response.status_code < 500, response.text
    else:
        assert 200 <= response.status_code < 300, response.text


OBJECT_CHECKS = [
    pytest.param(route, role, id=f"{route[0]} {route[1]} as {role.value} A on B's")
    for route, policy in POLICY.items()
    if policy.is_own_only and "{" in route[1]
    for role in sorted(policy.roles & BOUND_ROLES)
]


@pytest.mark.parametrize(("route", "role"), OBJECT_CHECKS)
def test_a_bound_key_is_refused_the_other_sides_objects(
    world: World, route: RouteKey, role: Role
) -> None:
    method, _ = route
    policy = POLICY[route]
    others = send(world, method, policy.request(world, "B"), world.headers(role, "A"))
    assert_refused(others, policy.refuses_others_with)
    own_response = send(world, method, policy.request(world, "A"), world.headers(role, "A"))
    assert 200 <= own_response.status_code < 300, own_response.text


def test_a_technician_sees_no_order_of_another_through_its_own_earnings(world: World) -> None:
    others_order = world.settled_ticket("B")
    path = f"/v1/earnings/{world.technician('A')}/orders/{others_order}"
    assert_refused(world.client.get(path, headers=world.headers(TECH)), 404)


@dataclass(frozen=True)
class Listing:
    """How to check a bound key's listing: side A and side B each get an object (``make``);
    what the listing shows (``seen``) must be what side A owns (``expected`` of A's object)."""

    make: Callable[[World, Side], object]
    seen: Callable[[Any], object]
    expected: Callable[[object], object] = lambda own_object: {own_object}
    params: dict[str, str] = field(default_factory=dict)


def ids_of_items(body: Any) -> set[object]:
    return {item["id"] for item in body["items"]}


LISTINGS: dict[tuple[RouteKey, Role], Listing] = {
    (("GET", "/v1/tickets"), TECH): Listing(World.ticket, ids_of_items),
    (("GET", "/v1/tickets"), INTEGRATOR): Listing(World.ticket, ids_of_items),
    (("GET", "/v1/technicians"), TECH): Listing(World.technician, ids_of_items),
    (("GET", "/v1/leads"), INTEGRATOR): Listing(World.lead, ids_of_items),
    (("GET", "/v1/inquiries"), INTEGRATOR): Listing(World.inquiry, ids_of_items),
    # The procedure library is nobody's: a technician sees all of it, and only it.
    (("GET", "/v1/procedures"), TECH): Listing(
        lambda _world, _side: None,
        lambda body: {item["id"] for item in body["items"]},
        expected=lambda _own: {path.stem for path in SHIPPED_PROCEDURES.glob("*.toml")},
    ),
    # The funnel only counts: one lead of each side exists, side A must count one.
    (("GET", "/v1/leads/funnel"), INTEGRATOR): Listing(
        World.lead, lambda body: body["totals"]["leads"], expected=lambda _own_object: 1
    ),
    # Far ahead, so that every planned nurture touch is due.
    (("GET", "/v1/leads/nurture/due"), INTEGRATOR): Listing(
        World.lead,
        lambda body: {step["lead_id"] for step in body},
        params={"before": "2100-01-01T00:00:00+00:00"},
    ),
    (("GET", "/v1/customers"), INTEGRATOR): Listing(World.customer, ids_of_items),
    (("GET", "/v1/customers/merge-suggestions"), INTEGRATOR): Listing(
        World.suggestion, ids_of_items
    ),
    (("GET", "/v1/webhooks"), INTEGRATOR): Listing(
        World.subscription, lambda body: {item["id"] for item in body}
    ),
}


def test_every_bound_listing_is_checked() -> None:
    listings = {
        (route, role)
        for route, policy in POLICY.items()
        if policy.is_own_only and route[0] == "GET" and "{" not in route[1]
        for role in policy.roles & BOUND_ROLES
    }
    assert listings == LISTINGS.keys()


@pytest.mark.parametrize(
    ("route", "role"), [pytest.param(*key, id=f"{key[0][1]} as {key[1].value}") for key in LISTINGS]
)
def test_a_bound_listing_holds_only_its_own(world: World, route: RouteKey, role: Role) -> None:
    listing = LISTINGS[route, role]
    own_object, _ = listing.make(world, "A"), listing.make(world, "B")
    call = POLICY[route].request(world, "A")
    response = world.client.get(call.url, params=listing.params, headers=world.headers(role))
    assert response.status_code == 200, response.text
    assert listing.seen(response.json()) == listing.expected(own_object)


WIDENING = [
    pytest.param(TECH, "/v1/tickets", {"technician_id": "T-B"}, id="tickets of T-B"),
    pytest.param(INTEGRATOR, "/v1/leads", {"source": "shop-b"}, id="leads of shop-b"),
    pytest.param(INTEGRATOR, "/v1/leads/funnel", {"source": "shop-b"}, id="funnel of shop-b"),
]


@pytest.mark.parametrize(("role", "path", "params"), WIDENING)
def test_a_filter_naming_the_other_side_does_not_widen_a_view(
    world: World, role: Role, path: str, params: dict[str, str]
) -> None:
    world.ticket("B")
    world.lead("B")
    response = world.client.get(path, params=params, headers=world.headers(role))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.get("items", []) == [] and body.get("totals", {}).get("leads", 0) == 0, body


# The routes on which an integrator creates objects, and how to read back what it created.
CREATIONS: dict[RouteKey, Callable[[Any], list[str]]] = {
    ("POST", "/v1/tickets"): lambda body: [f"/v1/tickets/{body['id']}"],
    ("POST", "/v1/tickets/batch"): lambda body: [f"/v1/tickets/{t['id']}" for t in body["tickets"]],
    ("POST", "/v1/leads"): lambda body: [f"/v1/leads/{body['lead']['id']}"],
    ("POST", "/v1/leads/batch"): lambda body: [
        f"/v1/leads/{r['lead_id']}" for r in body["results"]
    ],
    ("POST", "/v1/leads/import"): lambda body: [
        f"/v1/leads/{r['lead_id']}" for r in body["results"]
    ],
    ("POST", "/v1/webhooks"): lambda body: [f"/v1/webhooks/{body['id']}"],
    ("POST", "/v1/inquiries"): lambda body: [f"/v1/inquiries/{body['id']}"],
    ("POST", "/v1/devices"): lambda body: [f"/v1/devices/{body['id']}"],
}


def test_every_bound_creation_is_checked() -> None:
    creations = {
        route
        for route, policy in POLICY.items()
        if policy.is_own_only and route[0] != "GET" and "{" not in route[1]
    }
    assert creations == CREATIONS.keys()


@pytest.mark.parametrize("route", [pytest.param(r, id=f"{r[0]} {r[1]}") for r in CREATIONS])
def test_what_an_integrator_creates_is_its_sources(world: World, route: RouteKey) -> None:
    method, _ = route
    response = send(world, method, POLICY[route].request(world, "A"), world.headers(INTEGRATOR))
    assert 200 <= response.status_code < 300, response.text
    created = CREATIONS[route](response.json())
    assert created
    for read_url in created:
        mine = world.client.get(read_url, headers=world.headers(INTEGRATOR, "A"))
        assert mine.status_code == 200 and mine.json()["source"] == "shop-a", mine.text
        assert_refused(world.client.get(read_url, headers=world.headers(INTEGRATOR, "B")), 404)


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_the_documentation_is_public(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_who_asks_is_checked_before_what_is_sent(world: World) -> None:
    """A caller without the role is refused whatever its body: no 415 or 422 tells it more."""
    plain = {"Content-Type": "text/plain"}
    for caller, status in ((ANONYMOUS, 401), (TECH, 403)):
        response = world.client.post(
            "/v1/rate-cards", content=b"?", headers={**world.headers(caller), **plain}
        )
        assert_refused(response, status)
    path = f"/v1/earnings/{world.technician('A')}/withdrawals"
    invalid = {"amount": {"amount": "-1", "currency": "XXX"}, "extra": 1}
    assert_refused(world.client.post(path, json=invalid, headers=world.headers("dispatcher")), 403)


def test_an_integrator_is_told_it_sees_no_earnings(world: World) -> None:
    path = f"/v1/earnings/{world.technician('A')}"
    response = world.client.get(path, headers=world.headers(Role.INTEGRATOR.value))
    assert_refused(response, 403)
    assert response.json()["error"]["message"] == "integrators do not see earnings"
