from __future__ import annotations

from classifier.model import Classifier, PostInput
from classifier.rules import apply_rules
from classifier.text import analyze

TEXTS = [
    "В Саратове третий день нет горячей воды, УК трубку не берёт 😡",
    "Продам гараж недорого",
    "",
    "а",
    "Ямы на Московской!!! #дорогиСаратов https://vk.com/x",
]


class TestFeatures:
    def test_fast_features_equal_sklearn_transform(self, classifier: Classifier) -> None:
        docs = [analyze(t) for t in TEXTS]
        hits = [apply_rules(d) for d in docs]
        fast = classifier.features(docs, hits)
        reference = classifier.sklearn_features(docs, hits)
        assert fast.shape == reference.shape
        assert abs(fast - reference).max() < 1e-5


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
