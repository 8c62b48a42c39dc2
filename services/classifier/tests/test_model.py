from __future__ import annotations

import numpy as np

from classifier.bundle import features_text
from classifier.model import Classifier, PostInput
from classifier.rules.matching import apply_rules
from classifier.text import analyze
from classifier.tfidf import TfidfBlock

TEXTS = [
    "В Саратове третий день нет горячей воды, УК трубку не берёт 😡",
    "Продам гараж недорого",
    "",
    "а",
    "Ямы на Московской!!! #дорогиСаратов https://vk.com/x",
]


class TestFeatures:
    def test_fast_tfidf_equals_sklearn_transform(self) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs = [analyze(t) for t in TEXTS]
        hits = [apply_rules(d) for d in docs]
        words = [features_text(d, h) for d, h in zip(docs, hits, strict=True)]
        chars = [d.normalized for d in docs]
        for vectorizer, texts in (
            (TfidfVectorizer(token_pattern=r"\S+", lowercase=False, ngram_range=(1, 2), sublinear_tf=True), words),
            (TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True), chars),
        ):
            reference = vectorizer.fit(texts[:3]).transform(texts)
            block = TfidfBlock.from_vectorizer(vectorizer)
            for n, text in enumerate(texts):
                columns, values = block.row(text)
                row = reference[n]
                assert sorted(columns.tolist()) == sorted(row.indices.tolist())
                assert np.allclose(values, row.toarray()[0][columns], atol=1e-6)


class TestClassify:
    def test_every_field_has_label_confidence_and_version(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text=TEXTS[0], place_hint="Подслушано Саратов"))
        assert result.model_version == classifier.version
        for field in (result.incident, result.category, result.urgency, result.sentiment):
            assert field.label and 0.0 <= field.confidence <= 1.0
        assert result.category.evidence
        assert result.region.code == "64" and result.region.evidence

    def test_batch_equals_one_by_one(self, classifier: Classifier) -> None:
        posts = [PostInput(text=t) for t in TEXTS]
        assert classifier.classify_batch(posts) == [classifier.classify(p) for p in posts]

    def test_empty_text_is_not_an_incident(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text=""))
        assert not result.is_incident
        assert result.urgency.label == "normal"
