"""``python -m api.cli``: the ``geodispatch`` command, for when its script is not on PATH."""

from api.cli import app

app()
