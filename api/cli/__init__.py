"""The ``geodispatch`` command line: one Typer app, one module per command family.

``geodispatch --help`` answers at once because nothing heavy is imported here: the table
:data:`COMMANDS` names each command with its panel, one line of help, an example and where its
code lives (``"module:attribute"``, a function or a Typer sub-app). :class:`LazyGroup` lists
them from the table and imports a command's module only when that command runs or shows its
own help. Adding a command is adding a row.
"""

import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

from api.cli.common import error_message, fail

SERVICE, DATA, WORK, MEASURE = "Service", "Regions and demo city", "Dispatch and pay", "Measure"


@dataclass(frozen=True)
class Entry:
    """One command of a :class:`LazyGroup`: shown from these fields, loaded from ``target``.

    ``target`` is ``"module:attribute"`` naming a command function or a ``typer.Typer``;
    ``children`` makes the entry a lazy group of its own instead.
    """

    name: str
    help: str
    example: str
    target: str = ""
    panel: str | None = None
    children: tuple["Entry", ...] = ()

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def is_available(self) -> bool:
        """Whether its module exists (benchmarks exist in a checkout, not in an installed wheel)."""
        return bool(self.children) or importlib.util.find_spec(self.module) is not None


class LazyGroup(TyperGroup):
    """A command group that lists its :class:`Entry` rows without importing their modules."""

    entries: ClassVar[tuple[Entry, ...]] = ()

    def __init__(self, *, entries: Sequence[Entry] | None = None, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.lazy_entries = tuple(self.entries if entries is None else entries)

    def _entry(self, name: str | None) -> Entry | None:
        return next((e for e in self.lazy_entries if e.name == name and e.is_available()), None)

    # ``ctx`` is typer's vendored click Context; typer exports no public name for that type.
    def list_commands(self, ctx: Any) -> list[str]:
        listed = [e.name for e in self.lazy_entries if e.is_available()]
        return [*super().list_commands(ctx), *listed]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self._entry(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        # A stand-in for listings; resolve_command swaps in the real command before it runs.
        return TyperCommand(
            name=entry.name, help=entry.help, short_help=entry.help, rich_help_panel=entry.panel
        )

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        entry = self._entry(name)
        return name, (command if entry is None else load(entry)), rest


def load(entry: Entry) -> TyperCommand | TyperGroup:
    """Import ``entry``'s module and build its click command (its example as the epilog)."""
    if entry.children:
        return LazyGroup(
            name=entry.name,
            help=entry.help,
            epilog=_examples(entry.children),
            entries=entry.children,
            no_args_is_help=True,
        )
    module_name, _, attribute = entry.target.partition(":")
    target = getattr(importlib.import_module(module_name), attribute, None)
    if target is None:
        raise fail(f"'{entry.name}' is not available yet ({entry.target} is missing)")
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=entry.name)
    else:
        holder.command(entry.name)(target)
    command = typer.main.get_group(holder).commands[entry.name]
    assert isinstance(command, TyperCommand | TyperGroup), "typer builds its own classes"
    if not command.epilog and "Example" not in (command.help or ""):
        command.epilog = f"Example: [bold]{entry.example}[/]"
    return command


def _examples(entries: Sequence[Entry]) -> str:
    width = max(len(e.name) for e in entries)
    rows = [f"  {e.name:<{width}}  [bold]{e.example}[/]" for e in entries if e.is_available()]
    return "\n".join(["[dim]Examples:[/]", *rows])


def _command(name: str, target: str, help: str, example: str, panel: str | None = None) -> Entry:
    return Entry(name, help, example, target=target, panel=panel)


DEMO = (
    _command("load", "api.cli.service:load", "Load the demo city's regions (replaces the stored "
             "ones).", "geodispatch demo load"),
    _command("problem", "api.cli.dispatching:demo_problem_command", "Write a seeded, realistic "
             "demo day as a problem file.", "geodispatch demo problem --orders 500 --out p.json"),
    _command("run", "api.cli.demo_day:demo_run_command", "Play today's demo day headless and "
             "print its figures.", "geodispatch demo run --fast --seed 3"),
    _command("live", "api.cli.demo_day:demo_live_command", "Serve today's demo day and play "
             "it on an accelerated clock.", "geodispatch demo live --speed 60"),
)  # fmt: skip
BENCH = (
    _command("geo", "benchmarks.region_lookup:bench_geo", "Region lookup speed "
             "(RegionIndex.locate).", "geodispatch bench geo --points 1000000"),
    _command("settle", "benchmarks.settle:bench_settle", "Batch settlement speed.",
             "geodispatch bench settle --orders 1000000"),
    _command("customers", "benchmarks.customers:bench_customers", "Customer matching "
             "precision and recall on known duplicates.", "geodispatch bench customers"),
    _command("solomon", "benchmarks.solomon:bench_solomon", "Solver quality on Solomon VRPTW "
             "instances.", "geodispatch bench solomon c101.txt --time-limit 10"),
    _command("city", "benchmarks.city:bench_city", "Solve demo-city days of each size.",
             "geodispatch bench city --sizes 200x2000"),
    _command("city-peers", "benchmarks.city_peers:bench_city_peers", "Our solver beside "
             "VROOM on demo-city days.", "geodispatch bench city-peers --sizes 50x500"),
    _command("polish", "benchmarks.polish:bench_polish", "What OR-Tools' descent earns "
             "after the search on demo-city days.", "geodispatch bench polish --sizes 50x500"),
    _command("insertion", "benchmarks.city:bench_insertion", "Urgent insertion latency "
             "into a solved plan.", "geodispatch bench insertion"),
    _command("api", "benchmarks.api_load:bench_api", "Ticket POST latency and one batch, on "
             "PostGIS.", "geodispatch bench api"),
    _command("map", "benchmarks.map_layers:bench_map", "The dispatcher map: time to all layers "
             "drawn.", "geodispatch bench map"),
    _command("startup", "benchmarks.startup:bench_startup", "Time from a solve command or a "
             "dispatch run to the search starting.", "geodispatch bench startup --runs 5"),
    _command("reliability", "benchmarks.reliability.cli:reliability", "Crash, PostgreSQL "
             "fault, killed-run and money figures.", "geodispatch bench reliability crash"),
    _command("load", "benchmarks.load:bench_load", "A realistic mix under locust on "
             "serve --workers 2 + PostGIS.", "geodispatch bench load --users 20 --duration 60"),
    _command("devices", "benchmarks.devices:bench_devices", "Device events accepted per "
             "second and duplicate incidents under a replayed burst, on PostGIS.",
             "geodispatch bench devices --devices 200 --events 100"),
    _command("reports", "benchmarks.reports:bench_reports", "Manager reports on a quarter of "
             "100,000 tickets.", "geodispatch bench reports --tickets 100000"),
)  # fmt: skip
COMMANDS = (
    _command("serve", "api.cli.service:serve", "Run the HTTP service (OpenAPI docs at /docs).",
             "geodispatch serve --workers 2", SERVICE),
    _command("db", "api.cli.service:db", "Create or migrate the database schema.",
             "geodispatch db upgrade", SERVICE),
    _command("keys", "api.cli.keys:keys", "API keys: create (token shown once), list, revoke.",
             "geodispatch keys create --role dispatcher --name desk", SERVICE),
    _command("webhooks", "api.cli.webhooks:webhooks", "Deliver ticket status changes to "
             "integrators.", "geodispatch webhooks deliver --once", SERVICE),
    _command("escalations", "api.cli.escalations:escalations", "Escalation rules: one pass "
             "now, printing what fired.", "geodispatch escalations run", SERVICE),
    _command("customers", "api.cli.customers:customers", "Customers: recompute every "
             "customer's value tier (run it daily).", "geodispatch customers tiers", WORK),
    _command("inquiries", "api.cli.inquiries:inquiries", "The inquiry model: train it on the "
             "corpus and confirmed labels, measure it.", "geodispatch inquiries evaluate", WORK),
    _command("regions", "api.cli.regions:regions", "Import your own regions from a Shapefile, "
             "GeoPackage or GeoJSON.", "geodispatch regions import areas.gpkg --crs gcj02 "
             "--mapping map.toml", DATA),
    Entry("demo", "The demo city (Shanghai + Suzhou): its regions, a demo day.",
          "geodispatch demo run --fast", panel=DATA, children=DEMO),
    _command("solve", "api.cli.dispatching:solve_command", "Solve a problem file into a plan, "
             "with progress and a summary.", "geodispatch solve problem.json --time-limit 30 "
             "--out plan.json", WORK),
    _command("settle", "api.cli.settle:settle", "Payouts with explained breakdowns, what-if, "
             "the service's backlog.", "geodispatch settle orders.csv --rate-card "
             "card.toml --out pay.json", WORK),
    Entry("bench", "Benchmarks: print figures, write them under benchmarks/results/.",
          "geodispatch bench geo", panel=MEASURE, children=BENCH),
)  # fmt: skip


class Geodispatch(LazyGroup):
    """The top-level group: :data:`COMMANDS`, and every error as one line, never a traceback.

    Usage errors (a bad option value, an unknown command) keep click's exit status 2; known
    errors (bad input files, an unusable database, a bad setting) exit with 1.
    """

    entries = COMMANDS

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except typer.TyperException as err:  # click's usage errors, vendored by typer
            raise _one_line(err) from err

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except typer.TyperException as err:
            raise _one_line(err) from err
        except Exception as err:
            if (message := error_message(err)) is None:
                raise  # a bug: keep its traceback
            raise fail(message) from err


def _one_line(err: typer.TyperException) -> Exception:
    """Return the exit that prints a usage error as one line, or ``err`` if it shows help."""
    if type(err).__name__ == "NoArgsIsHelpError":  # typer prints the help (as typer checks it)
        return err
    usage_ctx = getattr(err, "ctx", None)
    hint = f" (see '{usage_ctx.command_path} --help')" if usage_ctx is not None else ""
    return fail(f"{err.format_message()}{hint}", err.exit_code)


app = typer.Typer(
    name="geodispatch",
    cls=Geodispatch,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    epilog=_examples(COMMANDS),
)


@app.callback()
def main() -> None:
    """Geospatial dispatch and settlement for field-service companies.

    Settings come from GEODISPATCH_* environment variables (or a .env file).

    Bad input ends a command with a one-line message and a non-zero exit status.
    """
