"""How well a model does on labelled inquiries it did not learn from, per language.

For the ticket type: accuracy and macro-F1 (the F1 of each type, averaged with equal weight,
so a rare type counts as much as a common one). For the skills, a set per inquiry: accuracy is
the share of inquiries whose predicted set is exactly right, and macro-F1 averages each
skill's F1 over the inquiries. Also the priority's and the level's accuracy and the duration's
mean absolute error in minutes.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from api.inquiries.rules.model import Example, InquiryModel, predict
from api.inquiries.rules.text import Segment

LANGUAGES = ("zh", "en", "mixed")


@dataclass(frozen=True, slots=True)
class Scores:
    """The figures of one group of inquiries (a language, or all of them)."""

    inquiries: int
    type_accuracy: float
    type_macro_f1: float
    skill_accuracy: float
    skill_macro_f1: float
    level_accuracy: float
    priority_accuracy: float
    duration_mae_min: float


def _score(
    truth: Sequence[Example], drafts: Sequence[tuple[str, set[str], int, str, int]]
) -> Scores:
    skills = MultiLabelBinarizer().fit([set(e.skills) for e in truth] + [d[1] for d in drafts])
    true_sets = skills.transform([set(e.skills) for e in truth])
    drafted_sets = skills.transform([d[1] for d in drafts])
    types_true, types_drafted = [e.type for e in truth], [d[0] for d in drafts]
    return Scores(
        inquiries=len(truth),
        type_accuracy=round(float(accuracy_score(types_true, types_drafted)), 4),
        type_macro_f1=round(float(f1_score(types_true, types_drafted, average="macro")), 4),
        skill_accuracy=round(float(accuracy_score(true_sets, drafted_sets)), 4),
        skill_macro_f1=round(
            float(f1_score(true_sets, drafted_sets, average="macro", zero_division=0)), 4
        ),
        level_accuracy=round(
            float(np.mean([e.level == d[2] for e, d in zip(truth, drafts, strict=True)])), 4
        ),
        priority_accuracy=round(
            float(accuracy_score([e.priority for e in truth], [d[3] for d in drafts])), 4
        ),
        duration_mae_min=round(
            float(
                np.mean([abs(e.duration_min - d[4]) for e, d in zip(truth, drafts, strict=True)])
            ),
            1,
        ),
    )


def evaluate(
    model: InquiryModel, examples: Sequence[Example], segment: Segment
) -> dict[str, Scores]:
    """Return the figures for all ``examples`` (key ``all``) and per language present."""
    drafts = []
    for e in examples:
        draft = predict(model, e.text, segment)
        drafts.append(
            (
                str(draft.type.value),
                {s.name for s in draft.skills},
                max((s.level for s in draft.skills), default=1),
                str(draft.priority.value),
                int(draft.duration_min.value),
            )
        )
    result = {"all": _score(examples, drafts)}
    for lang in LANGUAGES:
        picked = [i for i, e in enumerate(examples) if e.lang == lang]
        if picked:
            result[lang] = _score([examples[i] for i in picked], [drafts[i] for i in picked])
    return result
