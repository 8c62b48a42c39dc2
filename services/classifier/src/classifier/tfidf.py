"""The TF-IDF features the model reads, computed in plain Python and numpy from a fitted
vectorizer's vocabulary and idf weights (loading a model never imports scikit-learn)."""

from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import Any

import numpy as np

from classifier.text import CHUNKS_KEPT

Row = tuple[np.ndarray, np.ndarray]  # one CSR row: column indices and values (no scipy slicing per post)


class TfidfBlock:
    """A fitted TfidfVectorizer's transform for one text, in plain Python and numpy.

    Mirrors sklearn exactly for the options training uses: word n-grams over whitespace tokens
    (token_pattern \\S+, no lower-casing) or char_wb n-grams over lower-cased text; sublinear tf,
    idf weights, l2 norm.
    """

    def __init__(
        self,
        *,
        vocabulary: dict[str, int],
        idf: np.ndarray,
        char: bool,
        ngram_range: tuple[int, int],
        sublinear: bool,
        lowercase: bool,
        offset: int = 0,
    ) -> None:
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.offset = offset
        self.char = char
        self.min_n, self.max_n = ngram_range
        self.sublinear = sublinear
        self.lowercase = lowercase

    @classmethod
    def from_vectorizer(cls, vectorizer: Any, offset: int = 0) -> TfidfBlock:
        """From a fitted sklearn TfidfVectorizer (analyzer "word" with token_pattern \\S+, or "char_wb")."""
        return cls(
            vocabulary={str(k): int(v) for k, v in vectorizer.vocabulary_.items()},
            idf=vectorizer.idf_,
            char=vectorizer.analyzer == "char_wb",
            ngram_range=tuple(vectorizer.ngram_range),
            sublinear=bool(vectorizer.sublinear_tf),
            lowercase=bool(vectorizer.lowercase),
            offset=offset,
        )

    def names(self) -> list[str]:
        out = [""] * len(self.vocabulary)
        for name, column in self.vocabulary.items():
            out[column] = name
        return out

    def ngrams(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        grams: list[str] = []
        if self.char:
            # char_wb pads each word with spaces. Words joined by two spaces give the same n-grams plus
            # some that span a word gap; those contain two spaces, which no vocabulary entry has.
            padded = " " + "  ".join(text.split()) + " "
            size = len(padded)
            for n in range(self.min_n, self.max_n + 1):
                grams.extend([padded[i : i + n] for i in range(size - n + 1)])
            return grams
        tokens = text.split()
        for n in range(self.min_n, self.max_n + 1):
            if n == 1:
                grams.extend(tokens)
            else:
                grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        return grams

    def _word_columns(self, word: str) -> tuple[int, ...]:
        """The vocabulary columns of one word's character n-grams (char_wb n-grams never span words)."""
        return self._columns_cache()[word]

    def _columns_cache(self) -> _WordColumns:
        cache: _WordColumns | None = self.__dict__.get("_cache")
        if cache is None:
            cache = self.__dict__["_cache"] = _WordColumns(self)
        return cache

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"}

    def counts(self, text: str) -> Counter[Any]:
        """Vocabulary column → how often its n-gram occurs, in order of first occurrence."""
        if self.char:
            if self.lowercase:
                text = text.lower()
            return Counter(chain.from_iterable(map(self._columns_cache().__getitem__, text.split())))
        if self.min_n == 1 and self.max_n == 2 and not self.lowercase:
            # The word block's unigrams and bigrams, without ngrams()'s slicing and joining per bigram.
            tokens = text.split()
            grams = tokens + [a + " " + b for a, b in zip(tokens, tokens[1:], strict=False)]
        else:
            grams = self.ngrams(text)
        counts = Counter(map(self.vocabulary.get, grams))
        counts.pop(None, None)
        return counts

    def row(self, text: str) -> Row:
        counts = self.counts(text)
        if not counts:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        columns = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        if self.sublinear:
            tf = (np.log(tf) + 1.0).astype(np.float32)
        values = tf * self.idf[columns]
        norm = float(np.sqrt(np.dot(values, values)))
        if norm > 0:
            values /= norm
        return columns + self.offset, values

    def rows(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """`row` of every text, concatenated (columns, values, each text's length): the same numbers,
        with the element-wise numpy work done once per batch instead of once per text."""
        counted = [self.counts(text) for text in texts]
        lengths = [len(c) for c in counted]
        total = sum(lengths)
        columns = np.fromiter(chain.from_iterable(counted), dtype=np.int32, count=total)
        values = np.fromiter(chain.from_iterable(c.values() for c in counted), dtype=np.float32, count=total)
        if self.sublinear:
            values = np.log(values)
            values += 1.0
        values *= self.idf[columns]
        # Each text's l2 norm from its own float32 dot product, as `row` sums it.
        dots = np.empty(len(texts), dtype=np.float32)
        start = 0
        for n, length in enumerate(lengths):
            stop = start + length
            part = values[start:stop]
            dots[n] = np.dot(part, part) if length else 0.0
            start = stop
        norms = np.sqrt(dots)
        norms[norms == 0] = 1.0  # (an empty row: nothing to divide)
        values /= np.repeat(norms, lengths)
        if self.offset:
            columns += self.offset
        return columns, values, lengths


class _WordColumns(dict[str, tuple[int, ...]]):
    """A char block's cache, word → its n-grams' columns: a hit is a dict lookup in C, no Python call.
    Tuples, not lists: the garbage collector stops tracking tuples of ints, and every full collection
    walks each tracked object (tens of thousands of cached words)."""

    def __init__(self, block: TfidfBlock) -> None:
        super().__init__()
        self.block = block

    def __missing__(self, word: str) -> tuple[int, ...]:
        if len(self) > CHUNKS_KEPT:  # bounded like the text caches (classifier.text); rebuilt as words recur
            self.clear()
        get = self.block.vocabulary.get
        found = self[word] = tuple([c for c in map(get, self.block.ngrams(word)) if c is not None])
        return found
