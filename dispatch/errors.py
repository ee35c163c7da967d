"""Typed dispatch errors: each has a stable ``code`` and a ``details`` dict for the API body."""

from typing import ClassVar


class DispatchError(Exception):
    """Base class; ``code`` and ``details`` become the API error body (HTTP 422).

    Parameters
    ----------
    message
        Human-readable explanation naming the offending ids.
    **details
        Machine-readable context (offending ids, field names, values).
    """

    code: ClassVar[str] = "dispatch_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details: dict[str, object] = details


class DuplicateId(DispatchError):
    """Two technicians or two work orders share an id."""

    code: ClassVar[str] = "duplicate_id"


class UnknownSkill(DispatchError):
    """An order requires a skill that is neither in the catalogue nor held by any technician."""

    code: ClassVar[str] = "unknown_skill"


class UnknownReference(DispatchError):
    """A pin, locked stop or warm-start route names a technician or order that does not exist."""

    code: ClassVar[str] = "unknown_reference"


class InvalidTimeWindow(DispatchError):
    """A window, shift or break is empty, inverted, negative or overlaps its neighbour."""

    code: ClassVar[str] = "invalid_time_window"


class WindowOutsideShifts(DispatchError):
    """No window of an order intersects any technician shift."""

    code: ClassVar[str] = "window_outside_shifts"


class InvalidLocation(DispatchError):
    """A coordinate is NaN, infinite or out of the WGS84 range."""

    code: ClassVar[str] = "invalid_location"


class InvalidField(DispatchError):
    """A numeric field is out of range (negative duration, demand, capacity, level...)."""

    code: ClassVar[str] = "invalid_field"


class InvalidTravelMatrix(DispatchError):
    """The travel-time matrix has the wrong shape, type or negative / non-finite entries."""

    code: ClassVar[str] = "invalid_travel_matrix"


class InvalidSolveParams(DispatchError):
    """Solver settings out of range (time limit missing or above the cap, bad weights)."""

    code: ClassVar[str] = "invalid_solve_params"


class NoFeasiblePlan(DispatchError):
    """The solver found no plan at all, not even one that drops every optional order."""

    code: ClassVar[str] = "no_feasible_plan"
