"""Generate the labelled inquiry corpus ``inquiries.jsonl`` (see ``README.md`` beside this file).

Each line is one customer inquiry as a customer types it into a chat or a web form, in Chinese,
English or Chinese mixed with English words, with the ticket it should become: ``type``,
``skills`` (name -> minimum level), ``priority`` and ``duration_min``.

An inquiry is a *scenario* (what is wrong, which fixes the labels) said with one of the
scenario's *problem phrases*, put into a *frame* (the sentence around it: greeting, address,
phone number, urgency, chatter), then roughened (typos, spacing, punctuation, case). Frames
and problem phrases are split once, by index, into a training share and a held-out share: a
``test`` line uses only held-out frames and held-out phrases, a ``train`` line only the
others, so no test line shares its sentence frame or its wording of the problem with a
training line, and the held-out score measures new phrasings rather than memory.

Deterministic: the same seed writes the same file byte for byte.

Usage: ``python data/inquiries/generate.py [--seed 15] [--lines 4000] [--out FILE]``
"""

# ruff: noqa: RUF001 -- Chinese text uses full-width punctuation on purpose
import argparse
import json
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SEED = 15
DEFAULT_LINES = 4000
TEST_SHARE = 0.2  # of the lines, and of each scenario's frames and phrases
LANGUAGE_SHARE = {"zh": 0.45, "en": 0.35, "mixed": 0.20}


@dataclass(frozen=True)
class Scenario:
    """What is wrong at the customer's, which decides the ticket.

    ``phrases`` hold ways of saying the problem per language. A line draws, with
    ``upgrade_share``, one of the ``upgrade_words`` (a bigger or older system): its skills then
    need one level more and its duration runs past the usual range.
    """

    name: str
    type: str
    skills: dict[str, int]
    duration_min: tuple[int, int]
    phrases: dict[str, list[str]]
    priority: str = "normal"
    urgent_share: float = 0.2  # lines whose customer presses for a visit today
    upgrade_words: dict[str, list[str]] = field(default_factory=dict)
    upgrade_share: float = 0.0


@dataclass(frozen=True)
class Templates:
    """Everything ``templates.toml`` holds."""

    scenarios: list[Scenario]
    frames: dict[str, list[str]]  # by language; mixed lines use the Chinese frames
    fillers: dict[str, dict[str, list[str]]]
    addresses: dict[str, list[str]]
    typos: dict[str, str]
    emoji: list[str]


def load_templates(path: Path = HERE / "templates.toml") -> Templates:
    """Read the templates."""
    with path.open("rb") as file:
        doc = tomllib.load(file)
    scenarios = [
        Scenario(**{**s, "duration_min": tuple(s["duration_min"])}) for s in doc["scenario"]
    ]
    frames = {**doc["frames"], "mixed": doc["frames"]["zh"]}
    fillers = {**doc["fillers"], "mixed": doc["fillers"]["zh"]}
    typos = doc["typos"]
    return Templates(scenarios, frames, fillers, doc["addresses"], typos["zh"], typos["emoji"])


@dataclass(frozen=True)
class Line:
    """One labelled inquiry of the corpus."""

    id: str
    split: str
    lang: str
    scenario: str
    frame: int
    phrase: int
    text: str
    type: str
    skills: dict[str, int]
    priority: str
    duration_min: int

    def json(self) -> str:
        """Return the line as one JSON object, keys in a fixed order, Chinese unescaped."""
        return json.dumps(self.__dict__, ensure_ascii=False, separators=(",", ":"))


def held_out(count: int) -> range:
    """Return the indices held out for testing among ``count`` frames or phrases.

    >>> list(held_out(10)), list(held_out(4))
    ([8, 9], [3])
    """
    return range(count - max(1, round(count * TEST_SHARE)), count)


def _pick(rng: random.Random, count: int, split: str) -> int:
    test = held_out(count)
    pool = list(test) if split == "test" else [i for i in range(count) if i not in test]
    return rng.choice(pool)


def _phone(rng: random.Random) -> str:
    digits = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    style = rng.randrange(4)
    if style == 0:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    if style == 1:
        return f"+86 {digits}"
    if style == 2:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    return digits


def _address(rng: random.Random, lang: str, places: dict[str, list[str]]) -> str:
    number, room = rng.randint(1, 1999), rng.randint(101, 2804)
    if lang == "en":
        return f"{number} {rng.choice(places['roads_en'])}, room {room}"
    compound = f"{rng.randint(1, 300)}弄{rng.randint(1, 40)}号" if rng.random() < 0.5 else ""
    district, road = rng.choice(places["districts"]), rng.choice(places["roads"])
    return f"{district}{road}{number}号{compound}{room}室"


def _urgency(rng: random.Random, scenario: Scenario, words: dict[str, list[str]]) -> str:
    """Return the urgency phrase and, through it, the priority of the line."""
    if scenario.priority == "emergency":
        return rng.choice(words["emergency"])
    if scenario.priority == "urgent" or rng.random() < scenario.urgent_share:
        return rng.choice(words["urgent"])
    return rng.choice(words["calm"])


def _typos(rng: random.Random, text: str, lang: str, templates: Templates) -> str:
    """Roughen ``text`` as people type: homophones, slipped letters, spacing, case, emoji."""
    if lang != "en" and rng.random() < 0.15:
        word = rng.choice([w for w in templates.typos if w in text] or [""])
        if word:
            text = text.replace(word, templates.typos[word], 1)
    if lang != "zh" and rng.random() < 0.25:
        letters = [i for i, c in enumerate(text) if c.isascii() and c.isalpha()]
        if len(letters) > 4:
            i = rng.choice(letters[1:-1])
            slip = rng.randrange(3)
            if slip == 0:
                text = text[:i] + text[i + 1 :]  # a dropped letter
            elif slip == 1:
                text = text[:i] + text[i] + text[i:]  # a doubled one
            else:
                text = text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]  # swapped
    if rng.random() < 0.15:
        text = text.lower()
    if rng.random() < 0.1:
        text = text.replace("，", ",").replace("。", ".")
    if rng.random() < 0.1:
        text = "  " + text.replace(" ", "  ", 1)
    return text + rng.choice(templates.emoji)


def make_line(rng: random.Random, index: int, split: str, templates: Templates) -> Line:
    """Draw one labelled inquiry of ``split`` (``train`` or ``test``)."""
    lang = rng.choices(list(LANGUAGE_SHARE), weights=list(LANGUAGE_SHARE.values()))[0]
    scenario = rng.choice(templates.scenarios)
    phrases, frames = scenario.phrases[lang], templates.frames[lang]
    words = templates.fillers[lang]
    phrase_i, frame_i = _pick(rng, len(phrases), split), _pick(rng, len(frames), split)
    problem = phrases[phrase_i]
    skills = dict(scenario.skills)
    low, high = scenario.duration_min
    if scenario.upgrade_words and rng.random() < scenario.upgrade_share:
        senior = rng.choice(scenario.upgrade_words[lang])
        problem = f"{senior}, {problem}" if lang == "en" else f"{senior}，{problem}"
        skills = {name: min(3, level + 1) for name, level in skills.items()}
        low, high = high, high + (high - low)
    urgency = _urgency(rng, scenario, words)
    priority = scenario.priority
    if priority == "normal" and urgency in words["urgent"]:
        priority = "urgent"
    text = frames[frame_i].format(
        problem=problem,
        greet=rng.choice(words["greet"]),
        ask=rng.choice(words["ask"]),
        ask2=rng.choice(words["ask2"]),
        since=rng.choice(words["since"]),
        urgency=urgency,
        address=_address(rng, lang, templates.addresses),
        phone=_phone(rng),
        name=rng.choice(words["names"]),
    )
    return Line(
        id=f"inq-{index:05d}",
        split=split,
        lang=lang,
        scenario=scenario.name,
        frame=frame_i,
        phrase=phrase_i,
        text=_typos(rng, text, lang, templates),
        type=scenario.type,
        skills=skills,
        priority=priority,
        duration_min=5 * round(rng.randint(low, high) / 5),
    )


def generate(seed: int = DEFAULT_SEED, lines: int = DEFAULT_LINES) -> list[Line]:
    """Return ``lines`` labelled inquiries, the first ``TEST_SHARE`` of them held out."""
    rng, templates = random.Random(seed), load_templates()
    n_test = round(lines * TEST_SHARE)
    return [make_line(rng, i, "test" if i < n_test else "train", templates) for i in range(lines)]


def main() -> None:
    """Write the corpus (``--help`` for the options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES)
    parser.add_argument("--out", type=Path, default=HERE / "inquiries.jsonl")
    args = parser.parse_args()
    corpus = generate(args.seed, args.lines)
    args.out.write_text("".join(line.json() + "\n" for line in corpus), encoding="utf-8")
    print(f"{len(corpus)} lines -> {args.out}")


if __name__ == "__main__":
    main()
