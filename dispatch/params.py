"""Solver settings: limits, determinism and objective weights, each checked on construction."""

from dataclasses import dataclass, field

from dispatch.errors import InvalidSolveParams

MAX_TIME_LIMIT_S = 3600.0
MAX_POLISH_SHARE = 0.5  # the search keeps at least half of the time
MAX_PENALTY = 2**53  # keeps every objective term exact in a float64 and far from int64 overflow


@dataclass(frozen=True, slots=True)
class ObjectiveWeights:
    """Integer weights of the objective terms (OR-Tools costs are integers).

    Parameters
    ----------
    travel_per_s
        Cost per second of travel.
    lateness_per_s
        Cost per second a service starts after its SLA deadline.
    drop_penalty
        Cost of dropping a priority-0 order, in the units of travel. The default (278 hours
        of travel at one per second) serves every order that fits at any detour; a few hours
        (7,200) served more orders with less travel on the demo days, since the search can
        then leave an order out for a while (docs/solver.md, a lower drop penalty).
    priority_factor
        Each priority level multiplies the drop penalty by this, so one order of priority
        ``p + 1`` outweighs ``priority_factor`` orders of priority ``p``.
    balance_per_s
        Cost per second of the longest working time over technicians (0: no balancing).
    """

    travel_per_s: int = 1
    lateness_per_s: int = 10
    drop_penalty: int = 1_000_000
    priority_factor: int = 10
    balance_per_s: int = 0

    def __post_init__(self) -> None:
        for name in ("travel_per_s", "lateness_per_s", "balance_per_s"):
            if getattr(self, name) < 0:
                raise InvalidSolveParams(f"{name} must be >= 0", field=name)
        if self.drop_penalty < 1 or self.priority_factor < 1:
            raise InvalidSolveParams(
                "drop_penalty and priority_factor must be >= 1", field="drop_penalty"
            )

    def drop_penalty_for(self, priority: int) -> int:
        """Penalty for dropping an order of ``priority`` (negative priorities are cheaper)."""
        penalty = int(self.drop_penalty * self.priority_factor ** max(priority, 0))
        if priority < 0:
            penalty = max(1, self.drop_penalty // self.priority_factor ** (-priority))
        if penalty > MAX_PENALTY:
            raise InvalidSolveParams(
                f"drop penalty for priority {priority} exceeds {MAX_PENALTY}",
                field="priority", value=priority,
            )  # fmt: skip
        return penalty


@dataclass(frozen=True, slots=True)
class SolveParams:
    """How long and how to search.

    Parameters
    ----------
    time_limit_s
        Wall-clock limit, always set, at most ``MAX_TIME_LIMIT_S``.
    is_deterministic
        Reproducible mode for tests and audits: one worker, fixed ``seed``, and the search
        stops after ``solution_limit`` improving solutions (the time limit stays a backstop).
    seed
        Seed of the randomised parts (construction tie-breaks, ruin-and-recreate).
    solution_limit
        Required in deterministic mode; ignored otherwise.
    weights
        Objective weights.
    use_local_search
        ``False`` returns the construction as it is: no search and no OR-Tools polish.
    polish_share
        Share of the time limit left to OR-Tools' descent after the search (0 for none):
        ``docs/solver.md`` has the measurements behind the default.
    """

    time_limit_s: float = 10.0
    is_deterministic: bool = False
    seed: int = 0
    solution_limit: int | None = None
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    use_local_search: bool = True
    polish_share: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.time_limit_s <= MAX_TIME_LIMIT_S:
            raise InvalidSolveParams(
                f"time_limit_s must be in (0, {MAX_TIME_LIMIT_S}], got {self.time_limit_s}",
                field="time_limit_s", value=self.time_limit_s,
            )  # fmt: skip
        if self.is_deterministic and self.solution_limit is None:
            raise InvalidSolveParams(
                "deterministic mode needs a solution_limit", field="solution_limit"
            )
        if self.solution_limit is not None and self.solution_limit < 1:
            raise InvalidSolveParams("solution_limit must be >= 1", field="solution_limit")
        if not 0 <= self.polish_share <= MAX_POLISH_SHARE:
            raise InvalidSolveParams(
                f"polish_share must be in [0, {MAX_POLISH_SHARE}], got {self.polish_share}",
                field="polish_share", value=self.polish_share,
            )  # fmt: skip
        if self.seed < 0:
            raise InvalidSolveParams("seed must be >= 0", field="seed")


DEFAULT_SOLVE = SolveParams()
