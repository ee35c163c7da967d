"""The demo's way into the service: an ``httpx.Client``, the demo keys, and a count of failures.

Every call goes through :meth:`DemoApi.call`, which logs an unexpected answer (or a lost
connection) and counts it instead of raising, so a long simulation keeps going; the seeder
uses :meth:`DemoApi.must`, which raises :class:`DemoStepFailed` instead.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("geodispatch.demo")
# A 1x1 white PNG: the demo's photo for checklist steps that ask for one.
DEMO_PHOTO = {
    "photo_base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+"
    "Av4N70a4AAAAAElFTkSuQmCC",
    "photo_media_type": "image/png",
}


class DemoStepFailed(Exception):
    """A step of the demo got an answer it cannot go on without."""


@dataclass
class DemoApi:
    """Calls to the service as one of the demo's callers (``admin``, ``dispatcher``, …)."""

    client: httpx.Client
    tokens: dict[str, str]
    errors: Counter[str] = field(default_factory=Counter)

    def headers(self, who: str) -> dict[str, str]:
        """Return the ``Authorization`` header of the demo caller ``who``."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(
        self, who: str, method: str, path: str, *, expect: frozenset[int] = frozenset(), **kw: Any
    ) -> httpx.Response | None:
        """Send a request; an answer of 400 or more not in ``expect``, or no answer, is counted.

        Returns the response (``None`` when the service could not be reached).
        """
        headers = {**self.headers(who), **kw.pop("headers", {})}
        try:
            response = self.client.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as err:
            self.errors[f"{method} {_route(path)}: {type(err).__name__}"] += 1
            log.warning("%s %s: %s", method, path, err)
            return None
        if response.status_code >= 400 and response.status_code not in expect:
            self.errors[f"{method} {_route(path)}: {response.status_code}"] += 1
            log.warning("%s %s: %s %s", method, path, response.status_code, response.text[:300])
        return response

    def must(self, who: str, method: str, path: str, **kw: Any) -> Any:
        """Send a request and return its JSON body; raise :class:`DemoStepFailed` on failure."""
        response = self.call(who, method, path, **kw)
        if response is None or response.status_code >= 400:
            detail = "no answer" if response is None else f"{response.status_code} {response.text}"
            raise DemoStepFailed(f"{method} {path}: {detail[:500]}")
        return response.json()

    def work_checklist(self, who: str, ticket_id: int) -> bool:
        """Tick every required item of the ticket's procedure still open, as its technician would.

        Returns whether the ticket may now be completed.
        """
        path = f"/v1/tickets/{ticket_id}/procedure"
        shown = self.call(who, "GET", path)
        if shown is None or shown.status_code >= 400:
            return False
        state = shown.json()
        for item in state["missing"]:
            body = DEMO_PHOTO if item["photo_required"] else {}
            url = f"/v1/tickets/{ticket_id}/checklist/{item['item_id']}"
            ticked = self.call(who, "PUT", url, json=body)
            if ticked is None or ticked.status_code >= 400:
                return False
            state = ticked.json()
        return bool(state["may_complete"])

    @property
    def error_count(self) -> int:
        """Unexpected answers so far."""
        return sum(self.errors.values())


def _route(path: str) -> str:
    """``/v1/tickets/17/transitions`` → ``/v1/tickets/{id}/transitions``, to group errors."""
    parts = path.split("?")[0].split("/")
    is_id = [p.isdigit() or (p[:1] == "T" and p[1:].isdigit()) for p in parts]
    return "/".join("{id}" if i else p for p, i in zip(parts, is_id, strict=True))
