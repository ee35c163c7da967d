"""Service procedures: the steps, safety notes, photos and parts checklist for a kind of job.

A procedure applies to ticket types and product lines (the skill the job needs, e.g. ``aircon``)
and, optionally, to device models; a ticket gets the most specific one that applies (a model
match beats a product-line match, which beats a procedure for the type alone). Its checklist is
every step and every part; an item is *required* unless marked optional, and a step may also
require a photo. A procedure is guidance unless it says ``required_for_completion``: then a
ticket is completed only once every required item is ticked (:func:`missing_items` names what
is left).

Pure: the procedure arrives as a parsed TOML table (``data/procedures/*.toml``, format in
docs/procedures.md); the ticks as the ids of the items ticked.
"""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TICKET_TYPES = frozenset({"install", "repair", "maintenance", "inspection", "consult"})
ItemId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
Text = Annotated[str, Field(min_length=1, max_length=500)]
PART_PREFIX = "part:"


class InvalidProcedure(ValueError):
    """A procedure file that cannot be used; ``field`` is the dotted path of the offending field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    """One thing to do, in order; ``photo`` asks for a picture of the result."""

    id: ItemId
    zh: Text
    en: Text
    required: bool = True
    photo: bool = False


class Part(_Strict):
    """A part or tool to bring and account for."""

    code: ItemId
    zh: Text
    en: Text
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1
    required: bool = True


class SafetyNote(_Strict):
    zh: Text
    en: Text


class Procedure(_Strict):
    """A versioned procedure for some ticket types, product lines and device models."""

    id: ItemId
    version: Annotated[int, Field(ge=1)]
    title_zh: Text
    title_en: Text
    ticket_types: Annotated[list[str], Field(min_length=1)]
    product_lines: list[ItemId] = []
    models: list[Annotated[str, Field(min_length=1, max_length=64)]] = []
    required_for_completion: bool = False
    safety: list[SafetyNote] = []
    steps: Annotated[list[Step], Field(min_length=1, max_length=100)]
    parts: Annotated[list[Part], Field(max_length=100)] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        unknown = sorted(set(self.ticket_types) - TICKET_TYPES)
        if unknown:
            raise ValueError(f"unknown ticket type {unknown[0]!r}; known: {sorted(TICKET_TYPES)}")
        if self.models and not self.product_lines:
            raise ValueError("models need the product_lines they belong to")
        steps = [s.id for s in self.steps]
        if len(set(steps)) != len(steps):
            raise ValueError("step ids must be unique")
        parts = [p.code for p in self.parts]
        if len(set(parts)) != len(parts):
            raise ValueError("part codes must be unique")
        return self

    @property
    def key(self) -> str:
        """``id@version``: what a ticket's ticks are recorded against."""
        return f"{self.id}@{self.version}"

    def items(self) -> list[tuple[str, str, str, bool, bool]]:
        """Every checklist item: (item id, zh, en, required, photo required); parts prefixed."""
        return [(s.id, s.zh, s.en, s.required, s.photo) for s in self.steps] + [
            (f"{PART_PREFIX}{p.code}", f"{p.zh} {p.quantity} 件", f"{p.en} (x{p.quantity})",
             p.required, False)
            for p in self.parts
        ]  # fmt: skip

    def item(self, item_id: str) -> tuple[str, str, str, bool, bool] | None:
        """Return the checklist item called ``item_id`` (None: not in this procedure)."""
        return next((entry for entry in self.items() if entry[0] == item_id), None)


def parse_procedure(table: Mapping[str, object]) -> Procedure:
    """Validate a parsed procedure table; the error names the first offending field."""
    try:
        return Procedure.model_validate(table)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "procedure"
        raise InvalidProcedure(f"{field}: {first['msg']}", field=field) from err


class ProcedureLibrary:
    """The procedures in force: the latest version of each id, looked up for a ticket."""

    def __init__(self, procedures: Iterable[Procedure]) -> None:
        self.versions: dict[str, Procedure] = {}
        latest: dict[str, Procedure] = {}
        for procedure in procedures:
            if procedure.key in self.versions:
                raise InvalidProcedure(f"{procedure.key} is defined twice", field="version")
            self.versions[procedure.key] = procedure
            if procedure.id not in latest or latest[procedure.id].version < procedure.version:
                latest[procedure.id] = procedure
        self.current = sorted(latest.values(), key=lambda p: p.id)

    def for_ticket(
        self, ticket_type: str, skills: Collection[str], model: str | None = None
    ) -> Procedure | None:
        """Return the most specific current procedure for the job (None: none applies).

        Among those for the ticket's type: one for the device model (of a product line the job
        needs) first, then one for a product line the job needs, then one for the type alone;
        ties go to the smallest id, so the choice does not depend on the order of the files.
        """
        best: tuple[int, str] | None = None
        chosen = None
        for procedure in self.current:
            if ticket_type not in procedure.ticket_types:
                continue
            lines = set(procedure.product_lines)
            if lines and not lines & set(skills):
                continue
            if procedure.models and (model is None or model not in procedure.models):
                continue
            rank = (0 if procedure.models else 1 if lines else 2, procedure.id)
            if best is None or rank < best:
                best, chosen = rank, procedure
        return chosen


@dataclass(frozen=True, slots=True)
class MissingItem:
    """A required checklist item not yet ticked; ``needs_photo``: ticking it takes a photo."""

    item_id: str
    zh: str
    en: str
    needs_photo: bool


def missing_items(procedure: Procedure, ticked: Collection[str]) -> list[MissingItem]:
    """Return the required items not in ``ticked`` (item ids), in the procedure's order.

    A step that asks for a photo is ticked only with one, so ticked means done.
    """
    return [
        MissingItem(item_id, zh, en, needs_photo=photo)
        for item_id, zh, en, required, photo in procedure.items()
        if required and item_id not in ticked
    ]
