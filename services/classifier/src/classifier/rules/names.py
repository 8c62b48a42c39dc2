"""What the marker tokens mean, in words an official reads.

The rules and the danger reading add marker tokens beside a post's words (`правило_долго`,
`опас_вода_сейчас`, `жанр_отзыв`, `эмозлость`); the model's heads weigh them like words, so they turn
up in the evidence. Shown as they are they read as code, so the evidence names them here instead:
«правило: давно не решается», «опасность: вода, сейчас», «жанр: отзыв о фирме», «эмодзи: злость».
"""

from __future__ import annotations

from classifier.rules.words import NEAR_DANGERS, WORD_DANGERS

# Rules set in rules/matching.py (the danger ones take their reason from the tables in words.py).
RULES: dict[str, str] = {
    **{marker.removeprefix("правило_"): reason for reason, marker, _ in WORD_DANGERS},
    **{marker.removeprefix("правило_"): reason for reason, marker, *_ in NEAR_DANGERS},
    "без_необходимого": "нет необходимого несколько дней",
    "благодарность": "благодарность",
    "восклицания": "много восклицаний",
    "воспоминание": "воспоминание о прошлом",
    "вымысел": "вымысел, сон или игра",
    "газ": "запах газа",
    "дни": "назван срок в днях",
    "долго": "давно не решается",
    "долго_слабо": "слова о долгом сроке",
    "жалоба": "названо жалобой или обращением",
    "требование": "риторический вопрос к власти («сколько можно», «когда уже починят»)",
    "нет_сейчас": "нет коммунальной услуги сейчас («нет воды», «нет отопления»)",
    "жизнь": "угроза жизни",
    "заброшка": "дети на опасном объекте",
    "заграница": "за границей",
    "ирония_о_службе": "ирония о работе службы",
    "капс": "текст заглавными буквами",
    "массово": "касается многих",
    "массово_слабо": "слова о многих людях",
    "на_будущее": "о будущем, а не о случившемся",
    "нависает": "может упасть на людей",
    "новость": "новость",
    "объявление": "объявление",
    "пожар": "пожар",
    "потерялся": "потерялся ребёнок",
    "пропал": "человек пропал в лесу",
    "реклама": "реклама",
    "решено": "уже решено",
    "сарказм": "сарказм",
    "светофор": "не работает светофор или переезд",
    "служба": "названа служба или власть",
    "спасибо_но": "«спасибо, но…»",
    "угар": "угарный газ",
    "холод": "нет отопления в мороз",
}

# The danger reading's markers: `опас_<kind>`, `опас_<kind>_люди` (people near it),
# `опас_<kind>_сейчас` (going on now) and the context of the telling.
DANGER_CONTEXTS: dict[str, str] = {
    "люди_сейчас": "люди рядом с опасностью сейчас",
    "несколько": "несколько опасностей",
    "коротко": "короткий сигнал об опасности",
    "прошло": "опасность позади",
    "спасибо": "опасность, за помощь благодарят",
    "если": "опасность предполагаемая",
    "новость": "опасность в новостях",
    "далеко": "опасность далеко",
    "совет": "совет после случая",
    "прош_время": "об опасности в прошедшем времени",
    "ирония": "опасность с иронией",
}
DANGER_KINDS: dict[str, str] = {
    "вода": "вода",
    "взрыв": "взрыв",
    "газ": "газ",
    "дорога": "дорога",
    "жара": "жара",
    "звери": "животные",
    "здоровье": "здоровье",
    "лед": "лёд",
    "ловушка": "яма, люк или провал",
    "мороз": "мороз",
    "насилие": "насилие",
    "нехватка": "нет жизненно необходимого",
    "обрушение": "обрушение",
    "огонь": "огонь",
    "отрава": "отравление",
    "падение": "падение",
    "провал": "провал грунта",
    "пропажа": "пропал человек",
    "стихия": "стихия",
    "ток": "электричество",
    "холод": "холод",
}
GENRES: dict[str, str] = {
    "частное": "частная жизнь",
    "отзыв": "отзыв о фирме",
    "игра": "игры и спорт",
    "юмор": "юмор",
    "памятка": "памятка",
}
EMOJI: dict[str, str] = {
    "злость": "злость",
    "грусть": "грусть",
    "страх": "страх",
    "тревога": "тревога",
    "огонь": "огонь",
    "радость": "радость",
    "благодарность": "благодарность",
    "смех": "смех",
    "сарказм": "сарказм",
}


def marker_name(token: str) -> str | None:
    """The words for one marker token, or None when `token` is a plain word."""
    if token.startswith("правило_"):
        name = token.removeprefix("правило_")
        return f"правило: {RULES.get(name, name.replace('_', ' '))}"
    if token.startswith("опас_"):
        return _danger(token.removeprefix("опас_"))
    if token.startswith("жанр_"):
        name = token.removeprefix("жанр_")
        return f"жанр: {GENRES.get(name, name)}"
    if token.startswith("эмо") and token[3:] in EMOJI:
        return f"эмодзи: {EMOJI[token[3:]]}"
    return None


def _danger(name: str) -> str:
    if name in DANGER_CONTEXTS:
        return DANGER_CONTEXTS[name]
    kind, *rest = name.split("_")
    parts = [DANGER_KINDS.get(kind, kind)]
    if "люди" in rest:
        parts.append("рядом люди")
    if "сейчас" in rest:
        parts.append("сейчас")
    return "опасность: " + ", ".join(parts)


def readable_feature(feature: str) -> str:
    """A word feature (a word, a pair of words, a marker or a pair holding one) as evidence; a pair
    holding a marker is joined by «+» («правило: назван срок в днях + правило: нет необходимого …»),
    which reads as one run of words otherwise."""
    parts = feature.split(" ")
    names = [marker_name(part) for part in parts]
    if not any(names):
        return feature
    return " + ".join(name or part for name, part in zip(names, parts, strict=True))
