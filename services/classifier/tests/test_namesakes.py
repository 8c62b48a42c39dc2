"""A town whose name is found in several regions: the larger one is guessed, and a person confirms it."""

from __future__ import annotations

from classifier.model import Classifier, PostInput

COMPLAINT = "{town}, ул. Ленина 40 — третий день нет горячей воды, УК молчит"


def _namesake_reasons(classifier: Classifier, text: str, **hints: str) -> list[str]:
    result = classifier.classify(PostInput(text=text, **hints))
    return [r.detail for r in result.review_reasons if r.field == "region"]


class TestNamesakes:
    def test_a_town_of_two_regions_is_sent_to_review_naming_both(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text=COMPLAINT.format(town="Железногорск")))
        assert result.is_incident and result.needs_review
        assert result.region.code in {"46", "24"}
        other = "24" if result.region.code == "46" else "46"
        assert any(other in item and "то же название" in item for item in result.region.evidence)
        details = [r.detail for r in result.review_reasons if r.field == "region"]
        assert details and "«Железногорск»" in details[0] and other in details[0]

    def test_a_unique_town_or_a_stated_region_needs_no_look(self, classifier: Classifier) -> None:
        assert _namesake_reasons(classifier, COMPLAINT.format(town="Саратов")) == []
        stated = "Железногорск Курской области, ул. Ленина 40 — третий день нет горячей воды, УК молчит"
        assert _namesake_reasons(classifier, stated) == []
        assert _namesake_reasons(classifier, COMPLAINT.format(town="Железногорск"), place_hint="Курская область") == []

    def test_a_namesake_far_smaller_than_the_town_is_not_a_doubt(self, classifier: Classifier) -> None:
        # Михайловка of the Volgograd region against villages of that name elsewhere
        assert _namesake_reasons(classifier, COMPLAINT.format(town="Михайловка")) == []
