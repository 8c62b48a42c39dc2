"""Working-time arithmetic: hours, time zones, weekends, Russian public holidays, moved working days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from routing.deadlines.calendar import WorkCalendar, is_public_holiday


class TestWorkCalendar:
    def test_friday_evening_before_a_public_holiday_runs_into_next_week(self) -> None:
        # Thursday 11 June 2026, 17:00 Moscow; Friday 12 June is Russia Day, then the weekend.
        moscow = WorkCalendar("Europe/Moscow")
        start = datetime(2026, 6, 11, 14, 0, tzinfo=UTC)
        due = moscow.add(start, 4 * 3600)
        # One hour on Thursday, nothing Friday–Sunday, three hours on Monday 15 June: 12:00 MSK.
        assert due == datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
        assert moscow.between(start, due) == 4 * 3600

    def test_complaint_on_friday_evening_before_the_may_holidays(self) -> None:
        # Thursday 30 April 2026 after hours; 1 May (Friday) is a holiday, then the weekend.
        moscow = WorkCalendar("Europe/Moscow")
        due = moscow.add(datetime(2026, 4, 30, 17, 30, tzinfo=UTC), 8 * 3600)
        assert due == datetime(2026, 5, 4, 14, 0, tzinfo=UTC)  # Monday 4 May 17:00 MSK

    def test_vladivostok_and_kaliningrad_differ_for_the_same_instant(self) -> None:
        start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # Monday: 17:00 Vladivostok, 09:00 Kaliningrad
        vladivostok = WorkCalendar("Asia/Vladivostok").add(start, 4 * 3600)
        kaliningrad = WorkCalendar("Europe/Kaliningrad").add(start, 4 * 3600)
        assert vladivostok == datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday 12:00 local (UTC+10)
        assert kaliningrad == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # Monday 13:00 local (UTC+2)

    def test_new_year_holidays_and_substituted_day_off(self) -> None:
        assert is_public_holiday(date(2026, 1, 7))
        assert is_public_holiday(date(2026, 1, 9))  # moved from Saturday 3 January
        moscow = WorkCalendar("Europe/Moscow")
        due = moscow.add(datetime(2025, 12, 30, 14, 0, tzinfo=UTC), 2 * 3600)
        # 30 Dec: one hour; 31 Dec 2025 is a day off (moved from 5 Jan), 1–9 Jan holidays, then a weekend.
        assert due == datetime(2026, 1, 12, 7, 0, tzinfo=UTC)  # Monday 12 January, 10:00 MSK

    def test_moved_working_saturday_counts_when_configured(self) -> None:
        saturday = date(2025, 11, 1)
        start = datetime(2025, 10, 31, 14, 0, tzinfo=UTC)  # Friday 17:00 MSK
        plain = WorkCalendar("Europe/Moscow").add(start, 2 * 3600)
        moved = WorkCalendar("Europe/Moscow", extra_working_days=[saturday]).add(start, 2 * 3600)
        assert plain.date() == date(2025, 11, 5)  # 3–4 November are days off
        assert moved == datetime(2025, 11, 1, 7, 0, tzinfo=UTC)  # Saturday 10:00 MSK

    def test_custom_hours_and_days(self) -> None:
        shift = WorkCalendar("Asia/Yekaterinburg", work_start="08:00", work_end="12:00", work_days=[6])
        due = shift.add(datetime(2026, 3, 2, 0, 0, tzinfo=UTC), 5 * 3600)  # a Monday
        assert due == datetime(2026, 3, 14, 4, 0, tzinfo=UTC)  # two Saturdays later, 09:00 local
        assert shift.day_seconds == 4 * 3600

    def test_within_one_window_is_plain_addition(self) -> None:
        kazan = WorkCalendar("Europe/Moscow")
        start = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
        assert kazan.add(start, 3600) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
        assert kazan.between(start, start) == 0
