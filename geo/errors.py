"""Typed errors of the ``geo`` package; the API turns ``code`` and ``details`` into a 422 body."""

from typing import ClassVar


class GeoError(Exception):
    """Base class of every ``geo`` error.

    Parameters
    ----------
    message
        Human-readable explanation, naming the offending feature, index or field.
    **details
        Machine-readable context (JSON-serialisable values), e.g. ``index=3``.
    """

    code: ClassVar[str] = "geo_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.details = details


class InvalidCoordinates(GeoError):
    """A longitude/latitude is not finite or is out of range."""

    code: ClassVar[str] = "invalid_coordinates"


class InvalidGeometry(GeoError):
    """A region geometry (or the GeoJSON describing it) is unusable."""

    code: ClassVar[str] = "invalid_geometry"


class InvalidRegion(GeoError):
    """A region's non-geometric fields are unusable (empty id, unknown level, duplicate id)."""

    code: ClassVar[str] = "invalid_region"


class UnknownRegion(GeoError, KeyError):
    """No region with the requested id is in the index."""

    code: ClassVar[str] = "unknown_region"

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message; keep it readable.
        return str(self.args[0])


class InvalidParameter(GeoError):
    """A model parameter (speed, circuity, hour, resolution, window) is out of its domain."""

    code: ClassVar[str] = "invalid_parameter"
