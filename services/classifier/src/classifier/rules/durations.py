"""How long a problem has lasted, in days, from what the post says ("уже неделю", "второй месяц",
"с лета", "4 года назад", "полгода"). The labelling guide (corpus/LABELLING.md) calls a week or
more "long", and three days without water, heat, power, connection or money too.
"""

from __future__ import annotations

import re

from classifier.rules.words import holds_any

_NUMBER_WORDS = {
    "один": 1, "одну": 1, "два": 2, "две": 2, "двое": 2, "пару": 2, "три": 3, "трое": 3, "четыре": 4,
    "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9, "десять": 10, "несколько": 3,
    "полтора": 1.5, "полторы": 1.5,
}  # fmt: skip
_ORDINALS = {"втор": 2, "трет": 3, "четверт": 4, "пят": 5, "шест": 6, "седьм": 7, "восьм": 8, "девят": 9, "десят": 10}
_UNITS = (("недел", 7), ("месяц", 30), ("мес", 30), ("год", 365), ("лет", 365), ("сут", 1), ("дн", 1), ("ден", 1))
_UNIT = r"(дн(?:я|ей|и)?|день|сут(?:ки|ок)|недел[юиья]?|недель|месяц(?:а|ев)?|мес\b|год(?:а|у)?|лет)"
_COUNTED_RE = re.compile(r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s*(?:-?х\s*)?" + _UNIT)
_ORDINAL_RE = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\w*\s+" + _UNIT)
_BARE_RE = re.compile(r"\b(уже|целую|целый|целых|всю|весь|которую|который|больше|более|почти|около)\s+" + _UNIT)
_SINCE_SEASON_RE = re.compile(
    r"\bс\s+(весны|лета|осени|зимы|прошлого\s+года|позапрошлого|января|февраля|марта|апреля|мая|июня|июля"
    r"|августа|сентября|октября|ноября|декабря|нового\s+года|советских|90-х|\d{4})"
)
_SINCE_DAY_RE = re.compile(
    r"\bс\s+(\d{1,2}\s*(?:-?го\s+)?(?:числа|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября"
    r"|ноября|декабря)|понедельника|вторника|среды|четверга|пятницы|субботы|воскресенья|прошлой\s+недели)"
)
_LONG_WORDS_RE = re.compile(
    r"\b(годами|месяцами|неделями|полгода|полгодика|полмесяца|много\s+лет|всю\s+(?:зиму|весну|осень)|все\s+лето"
    r"|кажд(?:ый|ую|ое)\s+(?:год|зиму|весну|осень|лето)|испокон|десятилети\w*)\b"
)
_LONG_WORD_DAYS = {"полмесяца": 15}
# A count after these words is an age, a wait ahead, a frequency or a date: "ребёнку 3 года",
# "запись на 3 недели", "раз в 2 недели", "через месяц", "деревьям по 50 лет", "стаж 35 лет".
_NOT_A_LENGTH_BEFORE = frozenset(
    "через на до по в раз старше младше стаж возраст исполнилось исполнится ребенку ребёнку мне ему ей сыну дочке "
    "дочери маме папе бабушке дедушке деду внуку внучке детям им нам лет малышу малышке младенцу".split()
)
_LAST_WORD_RE = re.compile(r"(\w+)\W*$")
# «Пропала Аня, 7 лет, ушла…», «(5 лет)»: a count set off by commas or brackets is someone's age
_AGE_BEFORE_RE = re.compile(r"[,(]\s*$")
_AGE_AFTER_RE = re.compile(r"\s*[,)]")


def _is_age_apposition(text: str, match: re.Match[str]) -> bool:
    start = match.start()
    return bool(_AGE_BEFORE_RE.search(text, max(0, start - 8), start) and _AGE_AFTER_RE.match(text, match.end()))


# Words every match of a pattern holds (as in words.py): a post with none of them skips the pattern.
_UNIT_WORDS = ("дн", "день", "сут", "недел", "мес", "год", "лет")  # _UNIT's: _COUNTED_RE, _ORDINAL_RE, _BARE_RE
_SINCE_GATE_RE = re.compile(r"с\s")  # _SINCE_SEASON_RE, _SINCE_DAY_RE
_LONG_WORDS = ("год", "мес", "недел", "лет", "всю", "кажд", "испокон", "десятилети")  # _LONG_WORDS_RE


def _word_before(text: str, position: int) -> str:
    match = _LAST_WORD_RE.search(text, max(0, position - 30), position)
    return match.group(1) if match else ""


def _unit_days(unit: str) -> int:
    return next((days for prefix, days in _UNITS if unit.startswith(prefix)), 1)


def duration_days(text: str) -> tuple[float, str] | None:
    """The longest duration the (lower-cased) text states, in days, and the words that said it."""
    found: list[tuple[float, str]] = []
    units = holds_any(text, _UNIT_WORDS)
    for match in _COUNTED_RE.finditer(text) if units else ():
        if _word_before(text, match.start()) in _NOT_A_LENGTH_BEFORE or _is_age_apposition(text, match):
            continue
        count_word, unit = match.group(1), match.group(2)
        count = float(count_word) if count_word.isdigit() else float(_NUMBER_WORDS[count_word])
        if count_word.isdigit() and _unit_days(unit) == 365 and count > 60:
            continue  # "в 2017 году" is a date, not a length
        found.append((count * _unit_days(unit), match.group(0)))
    for match in _ORDINAL_RE.finditer(text) if units else ():
        days = _unit_days(match.group(2))
        # "третий день" counts as three days; "вторую неделю" as more than a week
        ordinal = _ORDINALS[match.group(1)]
        found.append((float(ordinal) if days == 1 else (ordinal - 1) * days + 1.0, match.group(0)))
    for match in _BARE_RE.finditer(text) if units else ():
        found.append((float(_unit_days(match.group(2))), match.group(0)))
    since = _SINCE_GATE_RE.search(text) is not None
    for match in _SINCE_SEASON_RE.finditer(text) if since else ():
        found.append((30.0, match.group(0)))
    for match in _SINCE_DAY_RE.finditer(text) if since else ():
        found.append((4.0, match.group(0)))
    for match in _LONG_WORDS_RE.finditer(text) if holds_any(text, _LONG_WORDS) else ():
        if _word_before(text, match.start()) in _NOT_A_LENGTH_BEFORE:
            continue  # "ребёнку полгода" is an age
        found.append((float(_LONG_WORD_DAYS.get(match.group(1), 60)), match.group(0)))
    return max(found) if found else None
