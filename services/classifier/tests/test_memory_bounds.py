"""The classifier's per-word caches are bounded by its memory budget.

A feed's vocabulary keeps growing (names, places, misspellings). With caches of 300,000 words the
classifier passed its 500 MB after 300,000 posts of the benchmark's mix; bounded, it levels off
(bench figures in the README, "Memory over a long run")."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import numpy as np

import classifier
from classifier.text import CHUNKS_KEPT, PARSES_KEPT, WORDS_KEPT, lemma, parses
from classifier.tfidf import TfidfBlock


def cached_functions() -> list[tuple[str, Any]]:
    """Every functools cache in the classifier's modules (training and evaluation included)."""
    found = []
    for module_info in pkgutil.walk_packages(classifier.__path__, "classifier."):
        if module_info.name.endswith("__main__"):  # the command line: importing it runs it
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if callable(value) and hasattr(value, "cache_info") and getattr(value, "__module__", "") == module.__name__:
                found.append((f"{module.__name__}.{name}", value))
    return found


def test_every_cache_of_the_classifier_is_bounded_by_the_word_budget() -> None:
    caches = cached_functions()
    assert len(caches) >= 10, [name for name, _ in caches]  # the text, gazetteer and danger caches at least
    too_large = {
        name: function.cache_parameters()["maxsize"]
        for name, function in caches
        if function.cache_parameters()["maxsize"] is None
        or function.cache_parameters()["maxsize"] > max(WORDS_KEPT, CHUNKS_KEPT)
    }
    assert not too_large, too_large


def test_a_cache_keeps_the_words_it_was_given_room_for() -> None:
    parses.cache_clear()
    lemma.cache_clear()
    words = [f"слово{n}" for n in range(PARSES_KEPT + 50)]
    for word in words:
        lemma(word)
    assert parses.cache_info().currsize == PARSES_KEPT
    assert lemma.cache_info().currsize == len(words)  # within WORDS_KEPT: every one kept
    lemma("слово0")
    assert lemma.cache_info().hits >= 1


def test_a_character_block_forgets_its_words_past_the_budget() -> None:
    block = TfidfBlock(
        vocabulary={" сл": 0, "сло": 1, "лов": 2},
        idf=np.ones(3),
        char=True,
        ngram_range=(3, 3),
        sublinear=False,
        lowercase=True,
    )
    sizes = []
    for n in range(CHUNKS_KEPT + 10):
        block.counts(f"слово{n}")
        sizes.append(len(block._columns_cache()))
    assert max(sizes) <= CHUNKS_KEPT + 1
    assert block.counts("слово1") == {0: 1, 1: 1, 2: 1}
