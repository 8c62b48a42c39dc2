from __future__ import annotations

import numpy as np

from classifier.bundle import features_text
from classifier.model import RECENT_RESULTS, Classifier, PostInput
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
        classifier.forget_recent()
        batch = classifier.classify_batch(posts)
        one_by_one = []
        for post in posts:
            classifier.forget_recent()  # each post classified on its own, not the batch's kept result
            one_by_one.append(classifier.classify(post))
        assert batch == one_by_one


class TestRecentResults:
    def test_a_repeated_post_gets_the_kept_result_and_a_changed_hint_a_new_one(self, classifier: Classifier) -> None:
        classifier.forget_recent()
        post = PostInput(
            text="Третий день нет воды в доме на Ленина 5, УК трубку не берёт", place_hint="Подслушано Саратов"
        )
        first = classifier.classify(post)
        again = classifier.classify(PostInput(text=post.text, place_hint=post.place_hint))
        assert again is first  # not classified again
        elsewhere = classifier.classify(PostInput(text=post.text, place_hint="Подслушано Вельск"))
        assert elsewhere is not first
        assert (first.region.code, elsewhere.region.code) == ("64", "29")

    def test_the_same_post_twice_in_a_batch_is_classified_once_and_answered_twice(self, classifier: Classifier) -> None:
        classifier.forget_recent()
        posts = [PostInput(text=TEXTS[0]), PostInput(text=TEXTS[1]), PostInput(text=TEXTS[0])]
        results = classifier.classify_batch(posts)
        assert len(results) == 3
        assert results[0] is results[2] and results[0] != results[1]

    def test_the_kept_results_are_bounded_oldest_first(self, classifier: Classifier) -> None:
        classifier.forget_recent()
        classifier.recent_results = 2
        try:
            a, b, c = (PostInput(text=t) for t in TEXTS[:3])
            first_a = classifier.classify(a)
            classifier.classify_batch([b, c])  # a is the oldest: dropped
            assert classifier.classify(a) is not first_a
            assert classifier.classify(a) == first_a  # the same answer, worked out again
        finally:
            classifier.recent_results = RECENT_RESULTS
            classifier.forget_recent()

    def test_empty_text_is_not_an_incident(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text=""))
        assert not result.is_incident
        assert result.urgency.label == "normal"
