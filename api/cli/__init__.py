"""The ``geodispatch`` command line: one Typer app, one module per command family."""

import typer

app = typer.Typer(
    name="geodispatch",
    help="Geospatial dispatch and settlement for field-service companies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench = typer.Typer(help="Benchmarks: print figures and write them to benchmarks/results/.")
app.add_typer(bench, name="bench")

from api.cli import service  # noqa: E402  (the sub-apps need `app` and `bench` defined first)

app.add_typer(service.db, name="db")
app.add_typer(service.demo, name="demo")
app.command("serve")(service.serve)
