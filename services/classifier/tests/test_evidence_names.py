"""Evidence an official reads: the marker tokens the rules add are named in words, never shown as code."""

from __future__ import annotations

import re

from classifier.model import Classifier, PostInput
from classifier.rules.names import marker_name, readable_feature

# What a marker token looks like: правило_…, опас_…, жанр_…, an emoji's эмо… (эмозлость).
CODE = re.compile(r"\w_\w|(?<!\w)эмо(?!дзи)[а-я]+")


class TestMarkerNames:
    def test_rules_dangers_genres_and_emoji_are_named(self) -> None:
        assert marker_name("правило_служба") == "правило: названа служба или власть"
        assert marker_name("правило_без_необходимого") == "правило: нет необходимого несколько дней"
        assert marker_name("правило_собаки") == "правило: собаки нападают на людей"  # the danger table's reason
        assert marker_name("опас_вода_люди_сейчас") == "опасность: вода, рядом люди, сейчас"
        assert marker_name("опас_прошло") == "опасность позади"
        assert marker_name("жанр_отзыв") == "жанр: отзыв о фирме"
        assert marker_name("эмозлость") == "эмодзи: злость"
        assert marker_name("вода") is None and marker_name("эмоция") is None

    def test_a_pair_holding_a_marker_is_joined_by_plus(self) -> None:
        assert readable_feature("правило_дни правило_без_необходимого") == (
            "правило: назван срок в днях + правило: нет необходимого несколько дней"
        )
        assert readable_feature("горячий вода") == "горячий вода"
        assert readable_feature("нет эмогрусть") == "нет + эмодзи: грусть"


class TestModelEvidence:
    def test_no_feature_of_the_shipped_model_reads_as_code(self, classifier: Classifier) -> None:
        coded = [feature for feature in classifier.readable if CODE.search(feature)]
        assert coded == []

    def test_a_complaint_names_its_rules_in_words(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text="Ставлю пять звёзд водоканалу: вода рыжая третью неделю 😡"))
        evidence = [*result.incident.evidence, *result.category.evidence, *result.urgency.evidence]
        assert any("правило: давно не решается" in item for item in evidence), evidence
        assert not [item for item in evidence if CODE.search(item)], evidence

    def test_a_marker_whose_name_holds_a_function_word_still_explains(self, classifier: Classifier) -> None:
        # «не работает светофор или переезд»: judged on the feature, not on its name's words
        index = {feature: n for n, feature in enumerate(classifier.readable)}
        named = [n for feature, n in index.items() if feature == "правило: давно не решается"]
        assert named and all(classifier.explains[n] for n in named)
