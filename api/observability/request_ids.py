"""The id of the request being served, in a context variable every log line and error reads.

Starlette runs a sync endpoint in a worker thread with a copy of the request's context, so the
id reaches the endpoint's log lines there too.
"""

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
#: A client's id is kept if it is this sane: short, and safe to repeat in headers and logs.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """Return the id of the request being served, or None outside a request."""
    return _request_id.get()


def set_request_id(request_id: str) -> None:
    """Make ``request_id`` the current request's id for this context."""
    _request_id.set(request_id)


def request_id_from(header: str | None) -> str:
    """Return the client's ``X-Request-ID`` if it is sane, else a new id (uuid4 hex).

    >>> request_id_from("checkout-42.a_b")
    'checkout-42.a_b'
    >>> len(request_id_from("two words")), len(request_id_from(None))
    (32, 32)
    """
    if header is not None and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex
