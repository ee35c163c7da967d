"""Which column of an operator's boundary file feeds which region field (no I/O here).

A :class:`RegionMapping` is read from a TOML document (``data/region-mapping.example.toml``,
``docs/regions-import.md``)::

    keep_other_columns = false   # true: unmapped columns become attributes under their names

    [fields]      # region field -> column
    id = "adcode"
    name_zh = "name"
    level = "kind"

    [levels]      # value in the level column -> province, city, district or zone
    "区" = "district"

    [attributes]  # attribute -> column
    coefficient = "coef"

    [defaults]    # field or attribute -> value when it has no column or the cell is empty
    time_zone = "Asia/Shanghai"
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from .errors import InvalidParameter
from .regions import LEVELS, REGION_FIELDS

#: Region fields a column may feed; id, name_zh and level must each have a column or a default.
FIELDS: Final = ("id", "name_zh", "name_en", "level", "priority", "parent_id")
REQUIRED_FIELDS: Final = ("id", "name_zh", "level")
_SECTIONS: Final = frozenset({"fields", "levels", "attributes", "defaults", "keep_other_columns"})


@dataclass(frozen=True)
class RegionMapping:
    """How a boundary file's columns become region fields and attributes.

    Parameters
    ----------
    fields
        Region field (one of :data:`FIELDS`) -> column name.
    attributes
        Attribute name (``coefficient``, ``time_zone``, ``team``...) -> column name.
    defaults
        Field or attribute -> value used when it has no column or the cell is empty.
    levels
        Value found in the level column -> one of ``province``, ``city``, ``district``,
        ``zone``; values not listed must already be one of those.
    keep_other_columns
        Whether columns mapped to nothing become attributes under their own names.
    """

    fields: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, object] = field(default_factory=dict)
    levels: Mapping[str, str] = field(default_factory=dict)
    keep_other_columns: bool = False

    def __post_init__(self) -> None:
        if unknown := sorted(set(self.fields) - set(FIELDS)):
            raise InvalidParameter(
                f"[fields] {unknown} are not region fields ({', '.join(FIELDS)})", field="fields"
            )
        if shadowing := sorted(REGION_FIELDS.intersection(self.attributes)):
            raise InvalidParameter(
                f"[attributes] {shadowing} are region fields: map them in [fields]",
                field="attributes",
            )
        if bad := sorted(v for v in self.levels.values() if v not in LEVELS):
            raise InvalidParameter(
                f"[levels] {bad} are not levels ({', '.join(LEVELS)})", field="levels"
            )

    def columns(self) -> set[str]:
        """Return the columns this mapping reads."""
        return {*self.fields.values(), *self.attributes.values()}

    def missing(self, columns: Iterable[str]) -> list[str]:
        """Describe each problem with the file's ``columns``.

        A problem is a named column the file lacks, or a required field with neither a column
        nor a default.
        """
        present = set(columns)
        problems = [
            f"column {column!r} (for {name}) is not in the file"
            for name, column in (*self.fields.items(), *self.attributes.items())
            if column not in present
        ]
        problems += [
            f"no column for {name}: map one in [fields] or give a default"
            for name in REQUIRED_FIELDS
            if name not in self.fields and name not in self.defaults
        ]
        return problems


def mapping_from_dict(document: Mapping[str, object]) -> RegionMapping:
    """Build a :class:`RegionMapping` from a parsed TOML document, refusing unknown keys.

    Examples
    --------
    >>> mapping = mapping_from_dict({"fields": {"id": "adcode", "name_zh": "name"},
    ...     "defaults": {"level": "district"}})
    >>> mapping.missing(["adcode", "name", "geometry"])
    []
    >>> mapping.missing(["adcode"])
    ["column 'name' (for name_zh) is not in the file"]
    """
    if unknown := sorted(set(document) - _SECTIONS):
        raise InvalidParameter(
            f"unknown mapping keys {unknown}; expected {', '.join(sorted(_SECTIONS))}",
            field="mapping",
        )
    keep = document.get("keep_other_columns", False)
    if not isinstance(keep, bool):
        raise InvalidParameter("keep_other_columns must be true or false", field="mapping")
    return RegionMapping(
        fields=_columns(document, "fields"),
        attributes=_columns(document, "attributes"),
        defaults=_table(document, "defaults"),
        levels={str(k): str(v) for k, v in _table(document, "levels").items()},
        keep_other_columns=keep,
    )


def default_mapping(columns: Iterable[str]) -> RegionMapping:
    """Return the mapping used without a mapping file.

    Columns named like the fields feed them, as GeoJSON properties do for ``demo load``, and
    every other column becomes an attribute.
    """
    present = set(columns)
    return RegionMapping(
        fields={name: name for name in FIELDS if name in present}, keep_other_columns=True
    )


def _table(document: Mapping[str, object], key: str) -> dict[str, object]:
    table = document.get(key, {})
    if not isinstance(table, Mapping):
        raise InvalidParameter(f"[{key}] must be a table", field=key)
    return {str(k): v for k, v in table.items()}


def _columns(document: Mapping[str, object], key: str) -> dict[str, str]:
    columns = _table(document, key)
    if bad := sorted(k for k, v in columns.items() if not isinstance(v, str) or not v):
        raise InvalidParameter(f"[{key}] {bad} must each name a column (a string)", field=key)
    return {k: str(v) for k, v in columns.items()}
