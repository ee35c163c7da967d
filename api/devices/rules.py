"""Device alarm rules: which readings and alarm events of a device model call for maintenance.

A model's rules are data (``data/device_rules.toml``, format in docs/devices.md), of three kinds:

- ``threshold``: a reading of ``metric`` above ``above`` (or below ``below``);
- ``rate_of_change``: ``metric`` rising faster than ``rise_per_min`` (or falling faster than
  ``fall_per_min``) per minute since the device's previous reading of it, when that reading is
  at most ``within_min`` minutes older;
- ``repeated_fault``: ``count`` alarms of one fault code (of ``fault_codes``, or any code when
  it is empty) within ``window_min`` minutes.

Each firing names the *fault* it is evidence of (:attr:`Firing.fault_key`): the rule id, and for
a repeated fault the code too, so a storm of one alarm is one fault and two codes are two.

Pure: the rules arrive as a parsed TOML table, the events as values; no clock, no I/O.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
ModelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w.-]*$")]
FaultCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][\w.-]*$")]
Minutes = Annotated[int, Field(ge=1, le=7 * 24 * 60)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Priority = Literal["normal", "urgent", "emergency"]
EventKind = Literal["reading", "alarm"]


class InvalidDeviceRules(ValueError):
    """A rules file that cannot be used; ``field`` is the dotted path of the offending field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdRule(_Strict):
    """A reading of ``metric`` above ``above`` or below ``below`` (at least one of them)."""

    kind: Literal["threshold"]
    id: RuleId
    metric: MetricName
    above: Finite | None = None
    below: Finite | None = None
    priority: Priority = "normal"

    @model_validator(mode="after")
    def _a_limit(self) -> Self:
        if self.above is None and self.below is None:
            raise ValueError("a threshold needs `above`, `below` or both")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError("`below` must be less than `above`")
        return self


class RateOfChangeRule(_Strict):
    """``metric`` changing faster than a limit per minute since the previous reading."""

    kind: Literal["rate_of_change"]
    id: RuleId
    metric: MetricName
    rise_per_min: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    fall_per_min: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    within_min: Minutes = 60
    priority: Priority = "normal"

    @model_validator(mode="after")
    def _a_limit(self) -> Self:
        if self.rise_per_min is None and self.fall_per_min is None:
            raise ValueError("a rate of change needs `rise_per_min`, `fall_per_min` or both")
        return self


class RepeatedFaultRule(_Strict):
    """``count`` alarms of one fault code within ``window_min`` minutes."""

    kind: Literal["repeated_fault"]
    id: RuleId
    fault_codes: list[FaultCode] = Field(default=[], description="empty: every code")
    count: Annotated[int, Field(ge=1, le=10_000)]
    window_min: Minutes
    priority: Priority = "normal"


Rule = Annotated[ThresholdRule | RateOfChangeRule | RepeatedFaultRule, Field(discriminator="kind")]


class ModelRules(_Strict):
    """The readings a device model reports, the rules watching them, the ticket they open."""

    model: ModelName
    product_line: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)] = Field(
        description="the skill its maintenance needs (of the skill catalogue)"
    )
    metrics: Annotated[list[MetricName], Field(max_length=100)] = []
    duration_min: Annotated[int, Field(ge=1, le=24 * 60)] = 60
    rules: Annotated[list[Rule], Field(max_length=100)] = []

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError("metrics must be unique")
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique within a model")
        for rule in self.rules:
            if not isinstance(rule, RepeatedFaultRule) and rule.metric not in self.metrics:
                raise ValueError(f"rule {rule.id!r} watches {rule.metric!r}, not in `metrics`")
        return self

    @property
    def lookback(self) -> timedelta:
        """How far back the stored events matter to these rules."""
        minutes = [r.window_min if isinstance(r, RepeatedFaultRule) else r.within_min
                   for r in self.rules if not isinstance(r, ThresholdRule)]  # fmt: skip
        return timedelta(minutes=max(minutes, default=0))


class DeviceRules(_Strict):
    """A version of the rules of every device model."""

    id: RuleId
    version: Annotated[int, Field(ge=1)]
    models: Annotated[list[ModelRules], Field(min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _unique_models(self) -> Self:
        names = [m.model for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("each model is listed once")
        return self

    @property
    def key(self) -> str:
        """``id@version``: what each incident's evidence names."""
        return f"{self.id}@{self.version}"

    def for_model(self, model: str) -> ModelRules | None:
        """Return the rules of ``model`` (None: not a model these rules know)."""
        return next((m for m in self.models if m.model == model), None)


def parse_rules(table: Mapping[str, object]) -> DeviceRules:
    """Validate a parsed rules table; the error names the first offending field."""
    try:
        return DeviceRules.model_validate(table)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "rules"
        raise InvalidDeviceRules(f"{field}: {first['msg']}", field=field) from err


@dataclass(frozen=True, slots=True)
class Event:
    """A reading (``metric``, ``value``) or an alarm (``fault_code``) of one device."""

    kind: EventKind
    occurred_at: datetime
    metric: str | None = None
    value: float | None = None
    fault_code: str | None = None


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired on an event, the fault it is evidence of, and why, in words and values."""

    rule_id: str
    fault_key: str
    priority: Priority
    reason: str
    evidence: tuple[tuple[str, object], ...]


def evaluate(
    rules: ModelRules, events: Sequence[Event], history: Iterable[Event]
) -> list[list[Firing]]:
    """Return the firings of each of ``events``, in their order.

    ``history`` holds the device's earlier events (at least :attr:`ModelRules.lookback` back);
    each event is judged with the history and the other events of ``events`` that occurred
    before it, so a batch gives what the same events sent one by one would have given.
    """
    seen = sorted(history, key=lambda e: e.occurred_at)
    order = sorted(range(len(events)), key=lambda i: events[i].occurred_at)
    firings: list[list[Firing]] = [[] for _ in events]
    for i in order:
        event = events[i]
        firings[i] = [f for rule in rules.rules if (f := _fire(rule, event, seen)) is not None]
        seen.append(event)
    return firings


def _fire(
    rule: ThresholdRule | RateOfChangeRule | RepeatedFaultRule, event: Event, before: list[Event]
) -> Firing | None:
    if isinstance(rule, RepeatedFaultRule):
        return _repeated(rule, event, before)
    if event.kind != "reading" or event.metric != rule.metric or event.value is None:
        return None
    if isinstance(rule, ThresholdRule):
        return _threshold(rule, event, event.value)
    return _rate(rule, event, event.value, before)


def _threshold(rule: ThresholdRule, event: Event, value: float) -> Firing | None:
    if rule.above is not None and value > rule.above:
        limit = f"above {rule.above:g}"
    elif rule.below is not None and value < rule.below:
        limit = f"below {rule.below:g}"
    else:
        return None
    return Firing(
        rule.id, rule.id, rule.priority, f"{rule.metric} {value:g} is {limit}",
        (("metric", rule.metric), ("value", value), ("limit", limit),
         ("occurred_at", event.occurred_at.isoformat())),
    )  # fmt: skip


def _rate(rule: RateOfChangeRule, event: Event, value: float, before: list[Event]) -> Firing | None:
    earliest = event.occurred_at - timedelta(minutes=rule.within_min)
    previous = next(
        (e for e in reversed(before)
         if e.kind == "reading" and e.metric == rule.metric and e.value is not None
         and earliest <= e.occurred_at < event.occurred_at),
        None,
    )  # fmt: skip
    if previous is None or previous.value is None:
        return None
    minutes = (event.occurred_at - previous.occurred_at).total_seconds() / 60
    per_min = (value - previous.value) / minutes
    if rule.rise_per_min is not None and per_min > rule.rise_per_min:
        limit = f"rises more than {rule.rise_per_min:g}/min"
    elif rule.fall_per_min is not None and -per_min > rule.fall_per_min:
        limit = f"falls more than {rule.fall_per_min:g}/min"
    else:
        return None
    return Firing(
        rule.id, rule.id, rule.priority,
        f"{rule.metric} went {previous.value:g} -> {value:g} in {minutes:g} min ({limit})",
        (("metric", rule.metric), ("value", value), ("previous_value", previous.value),
         ("previous_at", previous.occurred_at.isoformat()), ("per_min", round(per_min, 6)),
         ("limit", limit), ("occurred_at", event.occurred_at.isoformat())),
    )  # fmt: skip


def _repeated(rule: RepeatedFaultRule, event: Event, before: list[Event]) -> Firing | None:
    code = event.fault_code
    if event.kind != "alarm" or code is None or (rule.fault_codes and code not in rule.fault_codes):
        return None
    start = event.occurred_at - timedelta(minutes=rule.window_min)
    earlier = [e.occurred_at for e in before
               if e.kind == "alarm" and e.fault_code == code
               and start < e.occurred_at <= event.occurred_at]  # fmt: skip
    count = len(earlier) + 1
    if count < rule.count:
        return None
    return Firing(
        rule.id, f"{rule.id}:{code}", rule.priority,
        f"fault {code} {count} times within {rule.window_min} min (rule: {rule.count})",
        (("fault_code", code), ("count", count), ("window_min", rule.window_min),
         ("first_at", min([*earlier, event.occurred_at]).isoformat()),
         ("occurred_at", event.occurred_at.isoformat())),
    )  # fmt: skip


def related_events(events: Iterable[Event], event: Event, *, limit: int = 10) -> list[Event]:
    """Return up to ``limit`` events like ``event`` (same metric, or same fault code) up to it.

    The evidence attached to an incident: the readings or alarms that led to it, oldest first.
    """
    alike = [
        e for e in events
        if e.kind == event.kind and e.metric == event.metric and e.fault_code == event.fault_code
        and e.occurred_at <= event.occurred_at
    ]  # fmt: skip
    return sorted(alike, key=lambda e: e.occurred_at)[-limit:]
