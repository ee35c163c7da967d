"""The inquiry model: from a customer's text to a ticket draft, each part with its reasons.

Features are TF-IDF weights of two kinds, side by side: the words of the text (jieba's words
for Chinese, Latin words for English; single words and pairs) and the characters of the text
(runs of one to three characters within a word: they survive typos such as ``空凋`` for ``空调``
or ``aircn`` for ``aircon``). Linear classifiers (logistic regression) read them:

- the ticket type: one multinomial model over the types;
- the skills: one yes/no model per skill, so an inquiry can need several (every skill at
  probability 0.5 or more, and at least the likeliest one);
- the skill level: one model over the levels, from the same text, given to every skill;
- the priority: one multinomial model over the priorities.

The duration is no model of its own: it is the median duration of the training inquiries of
the same type and level (of the type alone where that pair is rare).

A linear model's score for a class is a sum over the features of weight times value, so the
features that added most to the chosen class are the words that decided it. They are reported
as such (a class's weights are taken relative to the mean over the classes: only what sets the
chosen class apart counts).
"""

import re
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from api.inquiries.rules.text import MASK, Segment, normalise, words

TYPES = ("install", "repair", "maintenance", "inspection", "consult")
PRIORITIES = ("normal", "urgent", "emergency")
MAX_SKILLS = 3
DECIDING_WORDS = 5
MIN_PAIR_EXAMPLES = 5  # fewer training inquiries of a (type, level): the type's median
# Words that carry weight in the model but explain nothing to a reader ("了", "the"); negations
# ("不", "not") are kept: they often decide.
_UNTOLD_EN = "the a an and to of my i it is at in on for me you can please pls with this that"
UNTOLD = frozenset(
    [*"了的在来吗呢啊吧我你他是有和也就都要能下个给请想", "一下", *_UNTOLD_EN.split()]
)
_TELLING = re.compile(r"[\u3400-\u9fff]|[a-z]{3}")  # a Chinese character or a Latin word


class InquiryModelError(Exception):
    """The examples cannot train a model (too few, or a target with a single value)."""

    code = "inquiry_model_error"


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled inquiry: the text and the ticket it should become.

    ``weight`` counts it more than once in training (staff corrections weigh more than
    generated lines); ``lang`` is ``zh``, ``en`` or ``mixed``, for per-language figures.
    """

    text: str
    type: str
    skills: dict[str, int]
    priority: str
    duration_min: int
    lang: str
    weight: float = 1.0

    @property
    def level(self) -> int:
        """The level the job needs: that of its most demanding skill (1 with none)."""
        return max(self.skills.values(), default=1)


@dataclass(frozen=True, slots=True)
class TrainParams:
    """How hard the classifiers fit: ``c`` is the inverse of the L2 regularisation strength."""

    c: float = 10.0
    max_iter: int = 2000

    def __post_init__(self) -> None:
        if not self.c > 0 or self.max_iter < 1:
            raise ValueError("c must be positive and max_iter at least 1")


DEFAULT_TRAIN = TrainParams()


@dataclass(frozen=True, slots=True)
class Guess:
    """One predicted value with the model's probability for it and the words that decided it."""

    value: str | int
    confidence: float
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SkillGuess:
    """A skill the job needs, at which level, with the probabilities of each and the words."""

    name: str
    level: int
    confidence: float
    level_confidence: float
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Draft:
    """A ticket draft for one inquiry."""

    type: Guess
    skills: tuple[SkillGuess, ...]
    priority: Guess
    duration_min: Guess


@dataclass(slots=True)
class InquiryModel:
    """The fitted vectorisers and classifiers, and the durations seen per type and level."""

    word_features: TfidfVectorizer
    char_features: TfidfVectorizer
    type_model: LogisticRegression
    skill_models: dict[str, LogisticRegression]
    level_model: LogisticRegression
    priority_model: LogisticRegression
    durations: dict[tuple[str, int], int]
    type_durations: dict[str, int]
    examples: int
    feature_names: np.ndarray[Any, Any] = field(repr=False)

    def features(self, texts: Sequence[str], segment: Segment) -> sparse.csr_matrix:
        """Return the feature rows of ``texts``."""
        return _stack(self.word_features, self.char_features, texts, segment)


def _word_text(text: str, segment: Segment) -> str:
    return " ".join(words(text, segment))


def _stack(
    word: TfidfVectorizer, char: TfidfVectorizer, texts: Sequence[str], segment: Segment
) -> sparse.csr_matrix:
    word_rows = word.transform([_word_text(t, segment) for t in texts])
    char_rows = char.transform([normalise(t) for t in texts])
    return sparse.hstack([word_rows, char_rows], format="csr")


def _classifier(params: TrainParams, *, balanced: bool = False) -> LogisticRegression:
    # Newton-CG converges in a few iterations on these features: about three times faster
    # than the default L-BFGS here, to the same optimum.
    return LogisticRegression(
        C=params.c,
        solver="newton-cg",
        max_iter=params.max_iter,
        class_weight="balanced" if balanced else None,
    )


def _fit(
    model: LogisticRegression, x: sparse.csr_matrix, y: Sequence[object], w: np.ndarray[Any, Any]
) -> LogisticRegression:
    if len(set(y)) < 2:
        raise InquiryModelError(f"every example has the same label {y[0]!r}: nothing to learn")
    return model.fit(x, np.asarray(y), sample_weight=w)


def train(
    examples: Sequence[Example], segment: Segment, params: TrainParams = DEFAULT_TRAIN
) -> InquiryModel:
    """Fit the model on ``examples``."""
    if len(examples) < 10:
        raise InquiryModelError(f"{len(examples)} examples are too few to train on (at least 10)")
    word = TfidfVectorizer(
        token_pattern=r"\S+", lowercase=False, ngram_range=(1, 2), sublinear_tf=True, min_df=2
    )
    char = TfidfVectorizer(
        analyzer="char_wb", lowercase=False, ngram_range=(1, 3), sublinear_tf=True, min_df=2
    )
    x = sparse.hstack(
        [
            word.fit_transform([_word_text(e.text, segment) for e in examples]),
            char.fit_transform([normalise(e.text) for e in examples]),
        ],
        format="csr",
    )
    w = np.array([e.weight for e in examples])
    names = np.concatenate([word.get_feature_names_out(), char.get_feature_names_out()])
    skill_names = sorted({s for e in examples for s in e.skills})
    return InquiryModel(
        word_features=word,
        char_features=char,
        type_model=_fit(_classifier(params), x, [e.type for e in examples], w),
        skill_models={
            s: _fit(_classifier(params, balanced=True), x, [s in e.skills for e in examples], w)
            for s in skill_names
        },
        level_model=_fit(_classifier(params), x, [e.level for e in examples], w),
        priority_model=_fit(_classifier(params), x, [e.priority for e in examples], w),
        durations=_medians(examples, lambda e: (e.type, e.level), MIN_PAIR_EXAMPLES),
        type_durations=_medians(examples, lambda e: e.type, 1),
        examples=len(examples),
        feature_names=names,
    )


def _medians(examples: Sequence[Example], key: Any, at_least: int) -> dict[Any, int]:
    durations: dict[Any, list[int]] = defaultdict(list)
    for e in examples:
        durations[key(e)].append(e.duration_min)
    return {k: round(statistics.median(v)) for k, v in durations.items() if len(v) >= at_least}


def deciding_words(
    row: sparse.csr_matrix, weights: np.ndarray[Any, Any], names: np.ndarray[Any, Any]
) -> tuple[str, ...]:
    """Return the features that added most to a class, strongest first, one per word.

    ``weights`` are the class's weights (already relative to the other classes). A feature
    contained in a stronger one (the character run ``冷`` of the word ``制冷``), holding a
    masked number, with neither a Chinese character nor three Latin letters, or in
    ``UNTOLD`` adds nothing for a reader and is skipped.
    """
    columns, values = row.indices, row.data
    contributions = values * weights[columns]
    chosen: list[str] = []
    for i in np.argsort(-contributions, kind="stable"):
        if contributions[i] <= 0 or len(chosen) == DECIDING_WORDS:
            break
        name = str(names[columns[i]]).strip()
        if name in UNTOLD or MASK in name or not _TELLING.search(name):
            continue
        if any(name in c or c in name for c in chosen):
            continue
        chosen.append(name)
    return tuple(chosen)


def _relative(model: LogisticRegression) -> np.ndarray[Any, Any]:
    """Return one row of weights per class, relative to the mean class.

    A binary model keeps one row, for its second class: the first class's is its negative.
    """
    coef = np.asarray(model.coef_)
    return np.vstack([-coef[0], coef[0]]) if coef.shape[0] == 1 else coef - coef.mean(axis=0)


def _choose(
    model: LogisticRegression, row: sparse.csr_matrix, names: np.ndarray[Any, Any]
) -> Guess:
    probabilities = model.predict_proba(row)[0]
    best = int(np.argmax(probabilities))
    value = model.classes_[best]
    return Guess(
        value=int(value) if isinstance(value, np.integer) else str(value),
        confidence=round(float(probabilities[best]), 3),
        words=deciding_words(row, _relative(model)[best], names),
    )


def predict(model: InquiryModel, text: str, segment: Segment) -> Draft:
    """Return the ticket draft for ``text``."""
    row = model.features([text], segment)
    names = model.feature_names
    kind = _choose(model.type_model, row, names)
    level = _choose(model.level_model, row, names)
    needs = sorted(
        ((float(m.predict_proba(row)[0][1]), name) for name, m in model.skill_models.items()),
        reverse=True,
    )
    chosen = [(p, name) for p, name in needs if p >= 0.5][:MAX_SKILLS] or needs[:1]
    skills = tuple(
        SkillGuess(
            name=name,
            level=int(level.value),
            confidence=round(p, 3),
            level_confidence=level.confidence,
            words=deciding_words(row, _relative(model.skill_models[name])[1], names),
        )
        for p, name in chosen
    )
    minutes = model.durations.get((str(kind.value), int(level.value)))
    if minutes is None:
        minutes = model.type_durations[str(kind.value)]
    duration = Guess(
        value=minutes,
        confidence=round(kind.confidence * level.confidence, 3),
        words=tuple(dict.fromkeys(kind.words + level.words))[:DECIDING_WORDS],
    )
    return Draft(kind, skills, _choose(model.priority_model, row, names), duration)
