"""The words routing shows people: Russian numerals with their nouns, and the names of its codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from routing.wording import category_name, clock_name, moment, plural, role_name, status_name, urgency_name, with_count

AUTHOR = ("автор", "автора", "авторов")


class TestPlural:
    @pytest.mark.parametrize(
        ("count", "form"),
        [
            (0, "авторов"),
            (1, "автор"),
            (2, "автора"),
            (4, "автора"),
            (5, "авторов"),
            (11, "авторов"),
            (12, "авторов"),
            (14, "авторов"),
            (21, "автор"),
            (22, "автора"),
            (25, "авторов"),
            (101, "автор"),
            (111, "авторов"),
            (112, "авторов"),
            (1001, "автор"),
            (1014, "авторов"),
        ],
    )
    def test_the_form_follows_the_last_digits(self, count: int, form: str) -> None:
        assert plural(count, *AUTHOR) == form

    def test_with_count_writes_the_number_and_the_noun(self) -> None:
        assert with_count(1, "сообщение", "сообщения", "сообщений") == "1 сообщение"
        assert with_count(3, "сообщение", "сообщения", "сообщений") == "3 сообщения"
        assert with_count(12, "сообщение", "сообщения", "сообщений") == "12 сообщений"
        assert with_count(-2, *AUTHOR) == "-2 автора"


class TestNames:
    def test_codes_are_named_and_an_unknown_one_is_shown_as_it_is(self) -> None:
        assert category_name("roads") == "Дороги"
        assert urgency_name("critical") == "критическая" and urgency_name("unknown") == "unknown"
        assert status_name("in_progress") == "в работе" and status_name(None) == ""
        assert role_name("deputy_governor") == "заместитель губернатора"
        assert clock_name("first_reaction") == "срок первой реакции"

    def test_a_moment_is_written_in_utc(self) -> None:
        saratov = datetime(2026, 11, 26, 13, 10, tzinfo=timezone(timedelta(hours=4)))
        assert moment(saratov) == "26.11.2026 09:10 UTC"
        naive = datetime(2026, 1, 2, 3, 4, tzinfo=UTC).replace(tzinfo=None)
        assert moment(naive) == "02.01.2026 03:04 UTC"  # a naive time is UTC, as stored
        assert moment(datetime(2026, 1, 2, 3, 4, tzinfo=UTC)) == "02.01.2026 03:04 UTC"
