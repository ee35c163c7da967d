"""The per-process caches on the ticket path: authenticated keys and the region index.

Both trade a bounded delay for a query per request: a revoked key is refused at most
``auth_cache_s`` after the revocation, and changed regions are used at most
``CHECK_EVERY_S`` after the change. The clocks here are fakes, so the bounds are exact.
"""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import Principal, PrincipalCache, Role, create_key, revoke_key, utc_now
from api.config import Settings
from api.deps import get_session
from api.main import create_app
from api.regions import repository as region_repo
from api.regions.cache import RegionCache


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _client(settings: Settings, session: Session) -> Iterator[TestClient]:
    app = create_app(settings)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


@pytest.fixture
def cached_client(settings: Settings, session: Session, clock: FakeClock) -> Iterator[TestClient]:
    """A client whose app keeps authenticated keys for 5 s of ``clock``."""
    for client in _client(settings, session):
        client.app.state.principal_cache = PrincipalCache(5.0, clock=clock)  # type: ignore[attr-defined]
        yield client


def test_revoked_key_is_refused_once_the_cache_lets_go(
    cached_client: TestClient, session: Session, clock: FakeClock
) -> None:
    row, token = create_key(session, role=Role.ADMIN, name="ops")
    bearer = {"Authorization": f"Bearer {token}"}
    assert cached_client.get("/v1/tickets", headers=bearer).status_code == 200
    assert revoke_key(session, key_id=row.id, now=utc_now())
    clock.now += 4.9  # within the bound the revoked key still works in this process
    assert cached_client.get("/v1/tickets", headers=bearer).status_code == 200
    clock.now += 0.1
    response = cached_client.get("/v1/tickets", headers=bearer)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_no_cache_refuses_at_once(settings: Settings, session: Session) -> None:
    row, token = create_key(session, role=Role.ADMIN, name="ops")
    bearer = {"Authorization": f"Bearer {token}"}
    for client in _client(settings.model_copy(update={"auth_cache_s": 0}), session):
        assert client.get("/v1/tickets", headers=bearer).status_code == 200
        assert revoke_key(session, key_id=row.id, now=utc_now())
        assert client.get("/v1/tickets", headers=bearer).status_code == 401


def test_unknown_tokens_are_not_kept(cached_client: TestClient) -> None:
    bearer = {"Authorization": "Bearer gd_nope"}
    assert cached_client.get("/v1/tickets", headers=bearer).status_code == 401
    assert len(cached_client.app.state.principal_cache) == 0  # type: ignore[attr-defined]


def test_the_cache_is_bounded(clock: FakeClock) -> None:
    cache = PrincipalCache(5.0, max_entries=2, clock=clock)
    principals = {f"h{i}": Principal(f"k{i}", f"n{i}", Role.ADMIN) for i in range(3)}
    for digest, principal in principals.items():
        cache.put(digest, principal)
    assert cache.get("h0") is None  # the oldest went
    assert cache.get("h1") == principals["h1"] and cache.get("h2") == principals["h2"]
    clock.now += 5
    assert cache.get("h2") is None


def test_regions_are_checked_at_most_every_few_seconds(session: Session, clock: FakeClock) -> None:
    cache = RegionCache(check_every_s=5.0, clock=clock)
    first = cache.index(session)
    kept = [r for r in first.regions if r.parent_id is None]
    region_repo.replace_all(session, regions=kept)
    clock.now += 4.9
    assert cache.index(session) is first  # not asked yet: the old regions still serve
    clock.now += 0.1
    changed = cache.index(session)
    assert changed is not first
    assert {r.id for r in changed.regions} == {r.id for r in kept}
    clock.now += 5
    assert cache.index(session) is changed  # asked again, nothing changed: no rebuild
