from __future__ import annotations

import pytest

from classifier.model import Classifier, PostInput
from classifier.rules import apply_rules
from classifier.text import analyze


class TestCriticalRules:
    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("В третьем подъезде сильно пахнет газом, звонили в 04", "запах газа"),
            ("На улице -32, а в доме нет отопления вторые сутки", "нет отопления в мороз"),
            ("В доме на Ленина обрушился балкон пятого этажа", "обрушение"),
            ("Горит сарай во дворе, пожарных нет уже 20 минут", "пожар"),
            ("Канализация затопила подвал и квартиры первого этажа", "канализация топит"),
            ("Ребёнок провалился в открытый люк на Московской", "ребёнок в опасности"),
            ("На детской площадке лежит оборванный провод", "оборванные провода"),
        ],
    )
    def test_danger_to_life_is_critical(self, text: str, reason: str, classifier: Classifier) -> None:
        assert reason in apply_rules(analyze(text)).critical
        result = classifier.classify(PostInput(text=text))
        assert result.is_incident
        assert result.urgency.label == "critical"
        assert any(reason in e for e in result.urgency.evidence)

    def test_negated_gas_is_not_critical(self) -> None:
        assert "запах газа" not in apply_rules(analyze("Газовики проверили: газом не пахнет")).critical

    def test_traffic_light_burning_green_is_no_fire(self) -> None:
        assert "пожар" not in apply_rules(analyze("Светофор горит зелёным 7 секунд")).critical


class TestThanksAndSarcasm:
    def test_sincere_thanks_is_not_an_incident(self, classifier: Classifier) -> None:
        text = "Огромное спасибо коммунальщикам, наконец-то убрали свалку за рынком! 👍"
        hits = apply_rules(analyze(text))
        assert hits.thanks and not hits.sarcasm
        result = classifier.classify(PostInput(text=text))
        assert not result.is_incident
        assert result.sentiment.label == "positive"

    def test_sarcastic_thanks_is_a_negative_complaint(self, classifier: Classifier) -> None:
        text = "Ну спасибо, администрация, за очередную яму у школы))) Колесо пробил, третий раз за месяц"
        hits = apply_rules(analyze(text))
        assert hits.sarcasm
        result = classifier.classify(PostInput(text=text))
        assert result.is_incident
        assert result.sentiment.label == "negative"

    def test_advert_is_flagged(self, classifier: Classifier) -> None:
        text = "Продам гараж, кирпичный, недорого. Звоните +7 917 123-45-67"
        assert apply_rules(analyze(text)).advert
        assert not classifier.classify(PostInput(text=text)).is_incident
