from __future__ import annotations

import numpy as np
import pytest

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


class TestRepeatedTexts:
    """Reposts and cross-posts repeat a text word for word: answered as before, not analysed again."""

    @staticmethod
    def fresh(classifier: Classifier) -> Classifier:
        return Classifier(classifier.bundle, classifier.gazetteer)  # its own, empty repeat cache

    def test_a_repeated_text_is_answered_without_analysing_it_again(
        self, classifier: Classifier, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        model = self.fresh(classifier)
        analysed: list[str] = []
        real = model._classify_fresh
        monkeypatch.setattr(
            model, "_classify_fresh", lambda posts: analysed.extend(p.text for p in posts) or real(posts)
        )
        first = model.classify_batch([PostInput(text=TEXTS[0]), PostInput(text=TEXTS[1]), PostInput(text=TEXTS[0])])
        again = model.classify(PostInput(text=TEXTS[0]))
        assert analysed == [TEXTS[0], TEXTS[1]]  # once each, the batch's repeat included
        assert first[0] is first[2] is again
        assert again == classifier.classify(PostInput(text=TEXTS[0]))

    def test_the_same_text_with_other_place_hints_is_analysed_on_its_own(self, classifier: Classifier) -> None:
        model = self.fresh(classifier)
        plain = model.classify(PostInput(text="Третий день нет горячей воды, УК трубку не берёт"))
        hinted = model.classify(
            PostInput(text="Третий день нет горячей воды, УК трубку не берёт", place_hint="Подслушано Саратов")
        )
        assert plain.region.code is None and hinted.region.code == "64"

    def test_only_the_latest_texts_are_kept(self, classifier: Classifier) -> None:
        model = self.fresh(classifier)
        model.repeats_kept = 2
        for text in TEXTS[:4]:
            model.classify(PostInput(text=text))
        assert [key[0] for key in model._repeats] == TEXTS[2:4]

    def test_switched_off_every_post_is_analysed(self, classifier: Classifier) -> None:
        model = self.fresh(classifier)
        model.repeats_kept = 0
        one, two = model.classify_batch([PostInput(text=TEXTS[0]), PostInput(text=TEXTS[0])])
        assert one == two and one is not two and not model._repeats
