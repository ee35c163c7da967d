"""``geodispatch inquiries train|evaluate``: the inquiry model, trained and measured.

``train`` fits the model on the whole corpus plus the labels staff confirmed and writes it
where the service loads it from. ``evaluate`` fits it on the corpus's training lines only and
scores it on the held-out lines (their sentence frames and wordings of the problem are never
seen in training), per language, into ``benchmarks/results/inquiries.json``.
"""

import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sklearn
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from api.cli.common import fail, reports_errors
from api.cli.service import configured_engine
from api.cli.settle_files import write_json
from api.config import PROJECT_ROOT, get_settings
from api.inquiries.model_store import corpus_sha256, read_corpus, train_artefact, write_artefact
from api.inquiries.rules.evaluation import Scores, evaluate
from api.inquiries.rules.model import Example, InquiryModelError, predict, train
from api.inquiries.segmenter import segmenter
from api.inquiries.service import confirmed_examples

inquiries = typer.Typer(help="The inquiry model: train it, measure it.", no_args_is_help=True)
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "inquiries.json"
#: A label staff confirmed counts this many times a generated corpus line: it is a real
#: customer's words, and there are few of them.
CONFIRMED_WEIGHT = 3.0
console = Console()

Confirmed = Annotated[
    bool,
    typer.Option(
        "--confirmed/--no-confirmed",
        help="add the labels staff confirmed (read from the database) to the training lines",
    ),
]


def _confirmed(include: bool) -> list[Example]:
    if not include:
        return []
    engine = configured_engine()
    try:
        with Session(engine) as session:
            return confirmed_examples(session, weight=CONFIRMED_WEIGHT)
    finally:
        engine.dispose()


@inquiries.command("train")
@reports_errors
def train_command(confirmed: Confirmed = True) -> None:
    """Train the model on the corpus and the confirmed labels; write it for the service."""
    settings = get_settings()
    try:
        labels = _confirmed(confirmed)
        started = time.perf_counter()
        segment = segmenter(settings.inquiry_model_dir)
        loaded = time.perf_counter()
        artefact = train_artefact(
            settings.inquiry_corpus_dir, segment, labels, now=datetime.now(UTC)
        )
        trained = time.perf_counter()
    except InquiryModelError as err:
        raise fail(str(err)) from err
    path = settings.inquiry_model_dir / "inquiry-model.pkl"
    write_artefact(artefact, path)
    console.print(
        f"trained on {artefact.corpus_examples} corpus lines and {len(labels)} confirmed "
        f"label(s) in {trained - loaded:.1f} s (jieba {loaded - started:.1f} s) -> {path}"
    )


@inquiries.command("evaluate")
@reports_errors
def evaluate_command(
    confirmed: Annotated[
        bool,
        typer.Option(
            "--confirmed/--no-confirmed",
            help="also train on the labels staff confirmed (the held-out lines stay the corpus's)",
        ),
    ] = False,
    out: Annotated[Path, typer.Option(help="where to write the figures")] = RESULTS,
) -> None:
    """Train on the corpus's training lines, score the held-out lines per language."""
    settings = get_settings()
    try:
        lines = read_corpus(settings.inquiry_corpus_dir)
        labels = _confirmed(confirmed)
        started = time.perf_counter()
        segment = segmenter(settings.inquiry_model_dir)
        loaded = time.perf_counter()
        training = [e for split, e in lines if split == "train"] + labels
        held_out = [e for split, e in lines if split == "test"]
        model = train(training, segment)
        trained = time.perf_counter()
        scores = evaluate(model, held_out, segment)
        scored = time.perf_counter()
    except InquiryModelError as err:
        raise fail(str(err)) from err
    draft_ms = [_draft_ms(model, e.text, segment) for e in held_out[:200]]
    document: dict[str, Any] = {
        "benchmark": "inquiry model: ticket type and skills from the customer's text",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus_sha256": corpus_sha256(settings.inquiry_corpus_dir),
        "split": "by template family: held-out lines use sentence frames and problem wordings "
        "no training line uses",
        "training_lines": len(training),
        "confirmed_labels": len(labels),
        "held_out_lines": len(held_out),
        "scores": {group: _as_dict(s) for group, s in scores.items()},
        "jieba_load_s": round(loaded - started, 2),
        "train_s": round(trained - loaded, 2),
        "score_s": round(scored - trained, 2),
        "draft_ms_median": round(statistics.median(draft_ms), 2),
        "python": platform.python_version(),
        "scikit_learn": sklearn.__version__,
    }
    write_json(out, document)
    _print(scores)
    console.print(f"figures -> {out}")


def _draft_ms(model: Any, text: str, segment: Any) -> float:
    started = time.perf_counter()
    predict(model, text, segment)
    return (time.perf_counter() - started) * 1000


def _as_dict(scores: Scores) -> dict[str, float | int]:
    return {name: getattr(scores, name) for name in Scores.__slots__}


def _print(scores: dict[str, Scores]) -> None:
    table = Table(title="held-out inquiries")
    columns = ("inquiries", "type acc", "type F1", "skill acc", "skill F1", "level acc")
    for column in ("language", *columns, "priority acc", "duration MAE"):
        table.add_column(column, justify="right")
    for group, s in scores.items():
        table.add_row(
            group,
            str(s.inquiries),
            f"{s.type_accuracy:.3f}",
            f"{s.type_macro_f1:.3f}",
            f"{s.skill_accuracy:.3f}",
            f"{s.skill_macro_f1:.3f}",
            f"{s.level_accuracy:.3f}",
            f"{s.priority_accuracy:.3f}",
            f"{s.duration_mae_min:.0f} min",
        )
    console.print(table)
