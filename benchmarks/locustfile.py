"""The load test's users, run by locust for ``geodispatch bench load`` (``benchmarks/load.py``).

Locust imports this file in its own process (it patches the standard library with gevent on
import), so it imports nothing of the service: the bench writes what the users need (base
URL, tokens, the seeded day's tickets and technicians) to a JSON file named by
``GEODISPATCH_LOAD_PLAN``. Every user is a field-service company's day in miniature, at
``GEODISPATCH_LOAD_RATE`` requests per second; per 100 requests:

====  ===============================  =============================================
 30   ``POST /v1/tickets``              an integrator's work order, own Idempotency-Key
 25   ``GET /v1/tickets/{id}``          an integrator reading one of its tickets
 10   ``POST /v1/leads``                a lead from a web form
 10   ``GET /v1/dispatch/availability`` a dispatcher booking a slot near a technician
 10   ``GET /v1/earnings/{id}``         a technician reading their own pay
 15   ``GET /v1/map/{layer}``           the dispatcher's map refreshing a layer
====  ===============================  =============================================

Only the expected status counts as a success (201 for creations, 200 for reads); anything
else is a failure, 4xx included.
"""

import json
import os
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from locust import HttpUser, constant_throughput, task

PLAN: dict[str, Any] = json.loads(Path(os.environ["GEODISPATCH_LOAD_PLAN"]).read_text("utf-8"))
RATE_PER_USER = float(os.environ.get("GEODISPATCH_LOAD_RATE", "2"))
LAYERS = ("tickets", "technicians", "routes", "unassigned", "kpis")


def _auth(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {PLAN['tokens'][who]}"}


class FieldServiceUser(HttpUser):
    """Integrators, dispatchers and technicians, mixed by the weights of the module's table."""

    wait_time = constant_throughput(RATE_PER_USER)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.tickets: list[int] = list(PLAN["ticket_ids"])

    def _expect(self, response: Any, status: int) -> None:
        if response.status_code != status:
            response.failure(f"{response.status_code}: {response.text[:200]}")
        else:
            response.success()

    @task(30)
    def post_ticket(self) -> None:
        rng = self.rng
        start = datetime.fromisoformat(PLAN["tomorrow_09"]) + timedelta(hours=rng.randint(0, 8))
        body = {
            "external_id": f"load-{uuid.uuid4().hex}",
            "type": rng.choice(["repair", "install"]),
            "location": [round(rng.uniform(121.35, 121.65), 6), round(rng.uniform(31.1, 31.33), 6)],
            "address": f"测试路 {rng.randint(1, 999)} 号",
            "duration_min": rng.choice([30, 45, 60, 90]),
            "skills": {rng.choice(PLAN["skills"]): rng.randint(1, 2)},
            "time_windows": [[start.isoformat(), (start + timedelta(hours=3)).isoformat()]],
            "customer": {"name": "张三", "phone": "+86 138 0000 0000"},
        }
        headers = {**_auth("integrator"), "Idempotency-Key": f"load-{uuid.uuid4()}"}
        with self.client.post(
            "/v1/tickets", json=body, headers=headers, name="POST /v1/tickets", catch_response=True
        ) as response:
            self._expect(response, 201)
            if response.status_code == 201:
                self.tickets.append(int(response.json()["id"]))

    @task(25)
    def read_ticket(self) -> None:
        ticket_id = self.rng.choice(self.tickets)
        with self.client.get(
            f"/v1/tickets/{ticket_id}", headers=_auth("integrator"),
            name="GET /v1/tickets/{id}", catch_response=True,
        ) as response:  # fmt: skip
            self._expect(response, 200)

    @task(10)
    def post_lead(self) -> None:
        rng = self.rng
        body = {
            "channel": "web_form",
            "name": "王芳",
            "phone": f"+86 139 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            "product_line": "central_ac",
            "location": [round(rng.uniform(121.35, 121.65), 6), round(rng.uniform(31.1, 31.33), 6)],
        }
        with self.client.post(
            "/v1/leads", json=body, headers=_auth("integrator"), name="POST /v1/leads",
            catch_response=True,
        ) as response:  # fmt: skip
            self._expect(response, 201)

    @task(10)
    def availability(self) -> None:
        tech = self.rng.choice(PLAN["technicians"])
        lon, lat = tech["home_base"]
        start = datetime.fromisoformat(PLAN["now"]) + timedelta(hours=1)
        params = {
            "lon": round(lon + self.rng.uniform(-0.03, 0.03), 6),
            "lat": round(lat + self.rng.uniform(-0.03, 0.03), 6),
            "duration_min": 60, "skills": f"{self.rng.choice(tech['skills'])}:1",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=4)).isoformat(),
        }  # fmt: skip
        with self.client.get(
            "/v1/dispatch/availability", params=params, headers=_auth("dispatcher"),
            name="GET /v1/dispatch/availability", catch_response=True,
        ) as response:  # fmt: skip
            self._expect(response, 200)

    @task(10)
    def earnings(self) -> None:
        tech = self.rng.choice(PLAN["technicians_with_keys"])
        with self.client.get(
            f"/v1/earnings/{tech['id']}", headers={"Authorization": f"Bearer {tech['token']}"},
            name="GET /v1/earnings/{id}", catch_response=True,
        ) as response:  # fmt: skip
            self._expect(response, 200)

    @task(15)
    def map_layer(self) -> None:
        layer = self.rng.choice(LAYERS)
        with self.client.get(
            f"/v1/map/{layer}", params={"day": PLAN["day"]}, headers=_auth("dispatcher"),
            name="GET /v1/map/{layer}", catch_response=True,
        ) as response:  # fmt: skip
            self._expect(response, 200)
