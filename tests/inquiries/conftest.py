"""A small inquiry model, trained once per session on part of the shipped corpus."""

from pathlib import Path

import pytest

from api.inquiries.model_store import read_corpus
from api.inquiries.rules.model import Example, InquiryModel, train
from api.inquiries.rules.text import Segment
from api.inquiries.segmenter import segmenter

CORPUS = Path(__file__).resolve().parents[2] / "data" / "inquiries"


@pytest.fixture(scope="session")
def corpus() -> list[tuple[str, Example]]:
    """Every line of the shipped corpus as ``(split, example)``."""
    return read_corpus(CORPUS)


@pytest.fixture(scope="session")
def segment(tmp_path_factory: pytest.TempPathFactory) -> Segment:
    """jieba, its dictionary cache in a directory of this session."""
    return segmenter(tmp_path_factory.mktemp("jieba"))


@pytest.fixture(scope="session")
def model(corpus: list[tuple[str, Example]], segment: Segment) -> InquiryModel:
    """A model trained on the first 1,200 training lines of the corpus (a few seconds)."""
    return train([e for split, e in corpus if split == "train"][:1200], segment)
