"""``GET /metrics``: the Prometheus text of the service, for admin keys only.

Not in the OpenAPI document: it is for the operators' scraper, not for integrators.
"""

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth import Principal, Role, require_roles, utc_now
from api.deps import SessionDep
from api.observability.backlog import read_backlog

if TYPE_CHECKING:
    from api.observability.metrics import ServiceMetrics

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def read_metrics(
    request: Request,
    session: SessionDep,
    _admin: Annotated[Principal, require_roles(Role.ADMIN)],
) -> Response:
    """Answer every metric of the service, the run queue and webhook backlog read just now."""
    metrics: ServiceMetrics = request.app.state.metrics
    metrics.read_pool(request.app.state.engine)
    backlog = read_backlog(session, now=utc_now())
    return Response(metrics.exposition(backlog), media_type=CONTENT_TYPE_LATEST)
