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

from api.cli import keys, service  # noqa: E402  (the sub-apps need `app` and `bench` first)

app.add_typer(service.db, name="db")
app.add_typer(service.demo, name="demo")
app.command("serve")(service.serve)
app.add_typer(keys.keys, name="keys")

from api.cli import bench_geo  # noqa: E402

bench.command("geo")(bench_geo.bench_geo)

from api.cli import bench_solomon  # noqa: E402

bench.command("solomon")(bench_solomon.bench_solomon)

from api.cli import bench_settle, settle  # noqa: E402

app.add_typer(settle.settle, name="settle")
bench.command("settle")(bench_settle.bench_settle)

from api.cli import dispatching  # noqa: E402

app.command("solve")(dispatching.solve_command)
service.demo.command("problem")(dispatching.demo_problem_command)

from api.cli import bench_dispatch  # noqa: E402

bench.command("city")(bench_dispatch.bench_city)
bench.command("insertion")(bench_dispatch.bench_insertion)

from api.cli import webhooks as webhook_commands  # noqa: E402

app.add_typer(webhook_commands.webhooks, name="webhooks")

from api.cli import settle_pending  # noqa: E402

settle.settle.command("pending")(settle_pending.settle_pending_command)

from api.cli import bench_api  # noqa: E402

bench.command("api")(bench_api.bench_api)
from api.cli import bench_map  # noqa: E402

bench.command("map")(bench_map.bench_map)
from api.cli import bench_city_peers  # noqa: E402, F401  (registers `bench city-peers`)
