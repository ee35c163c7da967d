"""CSV lead files: decode, check the header, and hand back each row with its line number."""

import csv
import io
from dataclasses import dataclass

COLUMNS = (
    "external_id",
    "channel",
    "campaign",
    "name",
    "phone",
    "email",
    "product_line",
    "address",
    "lon",
    "lat",
    "crs",
    "notes",
    "captured_at",
)


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, size)."""


@dataclass(frozen=True, slots=True)
class CsvRow:
    """One data row: its line number in the file (the header is line 1) and its fields."""

    line: int
    fields: dict[str, object]


def decode(data: bytes) -> str:
    r"""Decode UTF-8 (with or without Excel's BOM), else GB18030 as Chinese Excel saves it.

    >>> decode("name\n王芳\n".encode("gb18030"))
    'name\n王芳\n'
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError as err:
            raise CsvFileError("the file is neither UTF-8 nor GB18030 text") from err


def read_rows(text: str, *, max_rows: int) -> list[CsvRow]:
    r"""Parse ``text``; blank cells become absent fields and ``lon``/``lat`` become ``location``.

    >>> read_rows("phone,lon,lat\n13912345678,121.5,31.2\n", max_rows=10)[0].fields
    {'phone': '13912345678', 'location': ['121.5', '31.2']}
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    if not header:
        raise CsvFileError("the file has no header line")
    unknown = sorted(set(header) - set(COLUMNS))
    if unknown:
        raise CsvFileError(f"unknown columns {unknown}; allowed: {', '.join(COLUMNS)}")
    reader.fieldnames = header
    rows: list[CsvRow] = []
    for record in reader:
        if len(rows) == max_rows:
            raise CsvFileError(f"more than {max_rows} rows; split the file")
        if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
            continue
        rows.append(CsvRow(reader.line_num, _fields(record)))
    return rows


def _fields(record: dict[str, str | None]) -> dict[str, object]:
    fields: dict[str, object] = {
        key: value.strip()
        for key, value in record.items()
        if key is not None and isinstance(value, str) and value.strip()
    }
    lon, lat = fields.pop("lon", None), fields.pop("lat", None)
    if lon is not None or lat is not None:
        fields["location"] = [lon, lat]
    return fields
