from __future__ import annotations

import pytest

from classifier.text import analyze, clean, lemma, normalize


class TestNormalisation:
    def test_urls_mentions_and_emoji_are_removed(self) -> None:
        text = clean("Смотрите https://vk.com/wall-1_2 и www.gosuslugi.ru [id123|Иван] @admin 🏠🌳")
        assert "http" not in text and "gosuslugi" not in text and "@admin" not in text
        assert "Иван" in text
        assert "🏠" not in text

    def test_tone_emoji_become_tokens(self) -> None:
        assert "эмозлость" in normalize("Опять нет воды 😡")

    def test_hashtags_are_split(self) -> None:
        assert normalize("#ЖКХСаратов") == "жкх саратов"
        assert normalize("#ямы_на_дорогах") == "ямы на дорогах"

    def test_repeated_letters_are_squashed(self) -> None:
        assert normalize("Ооооочень плоооохо!!!") == "очень плохо!"

    def test_russian_in_latin_letters_is_transliterated_back(self) -> None:
        assert normalize("avtobus 11 ne hodit s utra, ljudi zamerzajut") == "автобус 11 не ходит с утра, люди замерзают"
        assert clean("Продаю iPhone 13, отличное состояние") == "Продаю iPhone 13, отличное состояние"
        assert clean("Hello world, this is fine") == "Hello world, this is fine"

    def test_yo_and_case_are_folded(self) -> None:
        assert normalize("ЁЛКИ Зелёные") == "елки зеленые"


class TestTokens:
    def test_lemmas_and_case_forms(self) -> None:
        doc = analyze("В Саратове прорвало трубы, из Энгельса не доехать")
        assert "саратов" in doc.lemmas
        assert "труба" in doc.lemmas
        assert [t.text for t in doc.tokens][:2] == ["В", "Саратове"]

    def test_lemma_is_cached(self) -> None:
        lemma.cache_clear()
        lemma("дорогах")
        lemma("дорогах")
        info = lemma.cache_info()
        assert info.hits >= 1 and info.misses == 1

    def test_caps_and_exclamations_are_measured(self) -> None:
        doc = analyze("ОПЯТЬ НЕТ ВОДЫ!!! Сколько можно?!")
        assert doc.caps_ratio > 0.5
        assert doc.exclamations >= 1


class TestDashes:
    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("автобус Хабаровск–Вяземский ушёл", ["автобус", "Хабаровск", "Вяземский", "ушёл"]),  # en dash
            ("трасса Тула—Москва стоит", ["трасса", "Тула", "Москва", "стоит"]),  # em dash
            ("в Усть-Куте нет воды", ["в", "Усть-Куте", "нет", "воды"]),  # a hyphen joins a name
        ],
    )
    def test_a_dash_between_words_parts_them_and_keeps_both(self, text: str, words: list[str]) -> None:
        assert [token.text for token in analyze(text).tokens] == words
