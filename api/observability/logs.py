"""Log lines as JSON objects (or text), each carrying the id of the request that wrote it.

:func:`logging_config` is a :func:`logging.config.dictConfig` dictionary, handed to uvicorn as
its ``log_config`` so that uvicorn's own lines go through the same handler: every line the
service writes is then one JSON object.
"""

import logging
import sys
from typing import Any, Literal, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from api.observability.request_ids import current_request_id

LogFormat = Literal["json", "text"]

#: Fields of every JSON line, before a record's extra fields (``method``, ``status``, ...).
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [request %(request_id)s] %(message)s"
#: uvicorn's lines carry a copy of their message with terminal colours: noise in a log store.
_UVICORN_COLOURS = "color_message"


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` to every record: the current request's id, None outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


def json_formatter() -> logging.Formatter:
    """Return the formatter of JSON lines.

    Each line holds the time (ISO 8601), the level, the logger, the message, the request id and
    whatever the record carries as ``extra``.
    """
    return JsonFormatter(
        list(JSON_FIELDS),
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        reserved_attrs=[*RESERVED_ATTRS, _UVICORN_COLOURS],
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes to ``sys.stderr`` as it is when each line is written.

    A plain handler keeps the stream it was given: where something replaces ``sys.stderr`` for a
    while (a CLI runner, a test capturing output) and closes it, every later line would fail.
    """

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _stream: TextIO) -> None:
        """``StreamHandler`` sets its stream once; this one looks it up on every line."""


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """Return the logging configuration of the service (uvicorn's ``log_config``).

    One handler on the root logger writes to stderr; uvicorn's loggers pass their lines to it.
    Loggers that exist already (modules log through ``logging.getLogger(__name__)``) are kept.
    """
    formatter: dict[str, Any] = (
        {"()": json_formatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    uvicorn_loggers = ("uvicorn", "uvicorn.error", "uvicorn.access")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"service": formatter},
        "handlers": {
            "stderr": {
                "()": CurrentStderr,
                "formatter": "service",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in uvicorn_loggers},
            # httpx logs every request it sends at INFO; the webhook worker logs its own attempts
            **{name: {"level": "WARNING"} for name in ("httpx", "httpcore")},
        },
    }
