"""The integrator guide's curl examples, run against the live server, answer as the guide says.

Every fenced ``bash`` block of ``docs/guides/integrator.md`` runs in order, in one scratch
folder, with ``GD_URL`` and ``GD_TOKEN`` (the ``shop`` integrator's key) in the environment.
The fenced block after it documents the answer:

- ``http``: the responses, in order: each a status line, optional headers, then an optional
  JSON body that must be a subset of the one received. A string in angle brackets stands for
  any value; numbers under ``id`` or ``*_id`` keys are checked for their type only, other
  floats to four decimals;
- ``text``: the exact output.

``shell`` blocks (an administrator's command, installing the generator) are not run here;
``tests/api/test_openapi_client.py`` generates the client.
"""

import json
import math
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.config import PROJECT_ROOT
from api.webhooks.delivery import sign
from tests.browser.world import World

GUIDE = PROJECT_ROOT / "docs" / "guides" / "integrator.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
STATUS_LINE = re.compile(r"HTTP/1\.[01] (\d{3})[^\r\n]*\r?\n")


@dataclass
class Answer:
    """One HTTP response: status, headers (names lower-cased), JSON body or None."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class Example:
    """A ``bash`` block of the guide and the block documenting its answer."""

    line: int
    script: str
    kind: str
    expected: str


def examples(text: str) -> list[Example]:
    """Return every ``bash`` block of ``text`` with the ``http`` or ``text`` block after it."""
    blocks = [
        (m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1) for m in FENCE.finditer(text)
    ]
    found = []
    for (kind, body, line), after in zip(blocks, [*blocks[1:], ("", "", 0)], strict=True):
        if kind == "bash":
            assert after[0] in {"http", "text"}, f"line {line}: no answer documented after it"
            found.append(Example(line, body, after[0], after[1]))
    return found


def _split(text: str) -> list[tuple[int, str]]:
    """Split on status lines: ``(status, what follows up to the next status line)``."""
    marks = list(STATUS_LINE.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return [(int(m.group(1)), text[m.end() : end]) for m, end in zip(marks, ends, strict=True)]


def received(output: str) -> list[Answer]:
    """Parse what ``curl -i`` printed, one or more responses back to back."""
    answers = []
    for status, rest in _split(output):
        head, _, body = rest.replace("\r\n", "\n").partition("\n\n")
        headers = dict(_header(line) for line in head.splitlines() if ":" in line)
        answers.append(Answer(status, headers, json.loads(body) if body.strip() else None))
    return answers


def documented(block: str) -> list[Answer]:
    """Parse an ``http`` block of the guide the same way."""
    answers = []
    for status, rest in _split(block):
        head, _, body = rest.partition("\n\n")
        if not body and head.lstrip().startswith(("{", "[")):
            head, body = "", head
        headers = dict(_header(line) for line in head.splitlines() if ":" in line)
        answers.append(Answer(status, headers, json.loads(body) if body.strip() else None))
    return answers


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


def mismatches(expected: Any, actual: Any, where: str = "", key: str = "") -> list[str]:
    """Where ``actual`` does not show what ``expected`` documents (empty: it does)."""
    if isinstance(expected, str) and expected.startswith("<") and expected.endswith(">"):
        return [] if actual is not None else [f"{where}: null"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {actual!r} is not an object"]
        missing = [f"{where}.{k}: missing" for k in expected if k not in actual]
        return missing + [
            problem
            for k, v in expected.items()
            if k in actual
            for problem in mismatches(v, actual[k], f"{where}.{k}", k)
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: {actual!r} is not a list of {len(expected)}"]
        return [p for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for p in mismatches(e, a, f"{where}[{i}]", key)]  # fmt: skip
    is_id = key == "id" or key.endswith("_id")
    if isinstance(expected, int) and not isinstance(expected, bool) and is_id:
        return [] if type(actual) is int else [f"{where}: {actual!r} is not an id"]
    if isinstance(expected, float):
        close = isinstance(actual, float) and math.isclose(expected, actual, abs_tol=5e-5)
        return [] if close else [f"{where}: {actual!r} is not {expected}"]
    return [] if expected == actual else [f"{where}: {actual!r} is not {expected!r}"]


def answer_problems(expected: list[Answer], actual: list[Answer]) -> list[str]:
    """Compare the documented responses with the received ones, in order."""
    if [a.status for a in actual] != [e.status for e in expected]:
        return [f"statuses {[a.status for a in actual]} != {[e.status for e in expected]}"]
    problems = []
    for n, (doc, got) in enumerate(zip(expected, actual, strict=True)):
        problems += [
            f"response {n}: header {name}: {got.headers.get(name)!r} is not {value!r}"
            for name, value in doc.headers.items()
            if got.headers.get(name) != value
        ]
        if doc.body is not None:
            problems += [f"response {n}{p}" for p in mismatches(doc.body, got.body)]
    return problems


GUIDE_EXAMPLES = examples(GUIDE.read_text(encoding="utf-8"))


def test_the_guide_has_its_examples() -> None:
    """The parse found the guide's examples (a parse that found none would pass vacuously)."""
    assert len(GUIDE_EXAMPLES) >= 10
    assert sum(e.script.count("curl ") for e in GUIDE_EXAMPLES) >= 15


def test_the_comparison_catches_a_wrong_answer() -> None:
    doc = documented('HTTP/1.1 201 Created\nidempotent-replayed: true\n\n{"id": 1, "a": "b"}\n')
    assert (
        answer_problems(doc, [Answer(201, {"idempotent-replayed": "true"}, {"id": 9, "a": "b"})])
        == []
    )
    assert answer_problems(doc, [Answer(200, {}, {})])[0].startswith("statuses")
    wrong = answer_problems(doc, [Answer(201, {}, {"id": "x", "a": "c"})])
    assert len(wrong) == 3  # header missing, id not an int, a differs


def test_the_curl_examples_answer_as_documented(
    live_url: str, world: World, tmp_path: Path
) -> None:
    env = {**os.environ, "GD_URL": live_url, "GD_TOKEN": world.tokens["shop"]}
    failures = []
    for example in GUIDE_EXAMPLES:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", example.script],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        where = f"{GUIDE.name} line {example.line}"
        if done.returncode != 0:
            failures.append(f"{where}: exit {done.returncode}\n{done.stderr}")
        elif example.kind == "text" and done.stdout.strip() != example.expected.strip():
            failures.append(f"{where}: printed {done.stdout!r}")
        elif example.kind == "http":
            problems = answer_problems(documented(example.expected), received(done.stdout))
            failures += [f"{where}: {p}\n{done.stdout}" for p in problems[:1]]
            failures += [f"{where}: {p}" for p in problems[1:]]
    assert failures == [], "\n\n".join(failures)


def test_the_guide_signature_recipe_is_the_service_signature() -> None:
    """The OpenSSL recipe's documented digest is what the webhook worker sends for that body."""
    secret = "whsec_guide_example_0123456789"
    recipe = next(e for e in GUIDE_EXAMPLES if "openssl dgst" in e.script)
    body = re.search(r"body='(.*)'", recipe.script)
    assert body is not None and f"secret='{secret}'" in recipe.script
    expected = sign(secret, 1764000000, body.group(1).encode())
    assert expected == f"t=1764000000,v1={recipe.expected.strip()}"
