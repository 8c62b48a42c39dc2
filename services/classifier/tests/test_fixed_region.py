"""A region stated by the submitter (an Open311 jurisdiction, `place_hints.region_fixed`) is the post's
region whatever the text names; the text's own place stays visible in the evidence."""

from __future__ import annotations

from datetime import UTC, datetime

from classifier.model import Classifier, PostInput
from classifier.service import collected_input
from incidents_common.events import PlaceHints, SourceType
from incidents_common.testing import post_collected

TEXT = "В Москве на Тверской улице огромная яма, машины бьют колёса"


def test_a_plain_hint_does_not_outweigh_the_text(classifier: Classifier) -> None:
    assert classifier.classify(PostInput(text=TEXT, hint_region="64")).region.code == "77"


def test_a_fixed_region_wins_and_the_text_region_is_in_the_evidence(classifier: Classifier) -> None:
    region = classifier.classify(PostInput(text=TEXT, hint_region="64", region_fixed=True)).region
    assert (region.code, region.confidence) == ("64", 1.0)
    assert any("77" in e for e in region.evidence)


def test_the_flag_travels_in_the_post_collected_event(classifier: Classifier) -> None:
    post = post_collected(
        "p-1",
        TEXT,
        source_type=SourceType.push,
        external_id="open311:o311_1",
        published_at=datetime(2026, 11, 26, tzinfo=UTC),
        place_hints=PlaceHints(region_code="64", region_fixed=True),
    )
    assert classifier.classify(collected_input(post)).region.code == "64"
