"""``/v1/devices``: installed units, the readings and alarms they post, the incidents they open.

HTTP only: each handler hands the work to ``api.devices.service``. Integrators register and
feed their own source's devices; staff see and feed every device. The handlers are sync:
judging a batch is database work, run in the thread pool.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import SessionDep
from api.devices import service
from api.devices.schemas import (
    DeviceCreate,
    DeviceRead,
    EventBatchCreate,
    EventsPosted,
    IncidentList,
)
from api.devices.service import Caller, VisibleDevice
from api.idempotency import IdempotencyKey

router = APIRouter(prefix="/devices", tags=["devices"])


@router.post(
    "",
    status_code=201,
    response_model=DeviceRead,
    summary="Register a device",
    description="An installed unit of a customer: its `model` must be one of the device rules "
    "(docs/devices.md). The device belongs to its customer's source; an integrator registers "
    "devices of its own customers only. An `external_id` the source already has is 409. "
    "`Idempotency-Key` makes retries safe.",
    responses={409: {"description": "external_id exists, or the Idempotency-Key is in flight"}},
)
def create_device(
    device_in: DeviceCreate,
    request: Request,
    session: SessionDep,
    principal: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return service.register_device(
        session, device_in=device_in, request=request, principal=principal,
        idempotency_key=idempotency_key,
    )  # fmt: skip


@router.get(
    "/{device_id:id}",
    response_model=DeviceRead,
    summary="Read a device and its open incidents",
)
def read_device(device: VisibleDevice, session: SessionDep) -> DeviceRead:
    return service.read_device(session, device)


@router.post(
    "/{device_id:id}/events",
    status_code=201,
    response_model=EventsPosted,
    summary="Post a device's readings and alarms (1-1,000)",
    description="Every event is stored, or none: a value that is not a finite number, an "
    "`occurred_at` more than five minutes ahead of the service's clock, or a metric the "
    "device's model does not report is 422 naming `events[i].<field>`. The model's rules judge "
    "each event (with the device's earlier events); a rule that fires counts on the open "
    "incident of its fault, or opens one together with a `maintenance` ticket for the "
    "device's customer. One open incident per device and fault: a storm of one alarm opens one "
    "ticket, and its count says how many times it fired. Each result says what the event did. "
    "`Idempotency-Key` makes retries safe.",
    responses={409: {"description": "the Idempotency-Key is in flight"}},
)
def post_events(
    batch_in: EventBatchCreate,
    device: VisibleDevice,
    request: Request,
    session: SessionDep,
    principal: Caller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return service.post_events(
        session, device=device, batch_in=batch_in, request=request, principal=principal,
        idempotency_key=idempotency_key,
    )  # fmt: skip


@router.get(
    "/{device_id:id}/incidents",
    response_model=IncidentList,
    summary="A device's incidents, newest first, with their evidence",
    description="An incident closes once its ticket is completed (or later) or cancelled; the "
    "fault's next firing then opens a new incident and ticket.",
)
def list_incidents(
    device: VisibleDevice,
    session: SessionDep,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
) -> IncidentList:
    return service.list_incidents(session, device, status)
