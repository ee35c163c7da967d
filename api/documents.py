"""Versioned documents uploaded as TOML or JSON text: rate cards and customer price lists.

Both are sent as the raw body (``application/toml`` or ``application/json``), kept as the text
that was sent, and decoded into a plain table for their parser. The reading and decoding are
the same for both; only the names in the messages and the error type differ.
"""

import json
import tomllib
from collections.abc import Callable
from typing import Any, Literal

from fastapi import Request

from api.errors import ApiError

DocumentFormat = Literal["toml", "json"]
MEDIA_TYPES: dict[str, DocumentFormat] = {"application/toml": "toml", "application/json": "json"}


async def read_document(
    request: Request, *, max_bytes: int, noun: str, invalid_code: str
) -> tuple[str, DocumentFormat]:
    """Read the raw body as a TOML or JSON document (``noun``: "rate-card", "price-list").

    415 for another media type; 413 above ``max_bytes``, the limit every document is kept under
    so that storing and parsing one stays cheap; 422 ``invalid_code`` for text that is not UTF-8.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the {noun} document as application/toml or application/json",
            {"content_type": media_type, "supported": sorted(MEDIA_TYPES)},
        )
    body = await request.body()
    if len(body) > max_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"a {noun} document is at most {max_bytes} bytes, this one {len(body)}",
            {"field": "body", "max_bytes": max_bytes},
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ApiError(422, invalid_code, "the body is not UTF-8", {"field": "body"}) from err
    return text, MEDIA_TYPES[media_type]


def parse_table(
    document: str,
    document_format: DocumentFormat,
    *,
    where: str,
    refuse: Callable[[str], Exception],
) -> dict[str, Any]:
    """Decode a TOML or JSON document into its plain table.

    ``refuse(message)`` makes the error raised (each kind names the body as the field), its
    message starting with ``where``: the position of a syntax error, a document nested too
    deeply for the parsers, or one that is not a table.
    """
    try:
        table = tomllib.loads(document) if document_format == "toml" else json.loads(document)
    except tomllib.TOMLDecodeError as err:
        raise refuse(f"{where}: invalid TOML: {err}") from err
    except json.JSONDecodeError as err:
        message = f"{where}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        raise refuse(message) from err
    except RecursionError as err:  # both parsers recurse into nested arrays and tables
        raise refuse(f"{where}: nested too deeply") from err
    if not isinstance(table, dict):
        raise refuse(f"{where}: the document must be a table (a JSON object)")
    return table
