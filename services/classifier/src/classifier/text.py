"""The Russian text pipeline: normalisation, razdel tokens and cached pymorphy3 lemmas.

Everything downstream (the model's features, the gazetteer, the rules) reads a `Doc`, so a text is
tokenised and lemmatised exactly once per classification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pymorphy3
import razdel

URL_RE = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:ru|рф|com|org|net|su|me)(?:/\S*)?\b", re.IGNORECASE)
VK_MENTION_RE = re.compile(r"\[(?:id|club|public)\d+\|([^\]]*)\]")
MENTION_RE = re.compile(r"@\w+")
HASHTAG_RE = re.compile(r"#(\w+)")
REPEAT_RE = re.compile(r"([^\W\d_])\1{2,}", re.IGNORECASE)
PUNCT_REPEAT_RE = re.compile(r"([!?.])\1+")
# A dash between two words (Хабаровск–Вяземский, Тула—Москва: a route) parts them; razdel keeps such a
# pair as one token that is no word, and the words were lost.
WORD_DASH_RE = re.compile(r"(?<=[^\W\d_])[–—](?=[^\W\d_])")
CAMEL_RE = re.compile(r"(?<=[а-яёa-z])(?=[А-ЯЁA-Z])|(?<=[А-ЯЁA-Z])(?=[А-ЯЁA-Z][а-яёa-z])")
SPACES_RE = re.compile(r"\s+")
LETTER_RE = re.compile(r"[А-Яа-яЁёA-Za-z]")
UPPER_RE = re.compile(r"[А-ЯЁA-Z]")
WORD_RE = re.compile(r"^[а-яёa-z][а-яёa-z0-9-]*$|^\d+$")

# A few emoji carry the tone of a post; they become tokens before the rest are stripped.
EMOJI_TOKENS: dict[str, str] = {
    "😡": " эмозлость ",
    "🤬": " эмозлость ",
    "😠": " эмозлость ",
    "👿": " эмозлость ",
    "💩": " эмозлость ",
    "😢": " эмогрусть ",
    "😭": " эмогрусть ",
    "😞": " эмогрусть ",
    "😱": " эмострах ",
    "😨": " эмострах ",
    "⚠": " эмотревога ",
    "‼": " ! ",
    "🆘": " эмотревога ",
    "🔥": " эмоогонь ",
    # a wild animal shown, not named («🐻 вышел на школьную тропинку»): the animal's word
    "🐻": " медведь ",
    "🐺": " волк ",
    "🐗": " кабан ",
    "👍": " эморадость ",
    "🙏": " эмоблагодарность ",
    "❤": " эморадость ",
    "😊": " эморадость ",
    "🥰": " эморадость ",
    "😍": " эморадость ",
    "👏": " эморадость ",
    "🤣": " эмосмех ",
    "😂": " эмосмех ",
    "🤡": " эмосарказм ",
    "🙄": " эмосарказм ",
    "🤦": " эмосарказм ",
    "🙃": " эмосарказм ",
    "😏": " эмосарказм ",
}
_EMOJI_RE = re.compile("|".join(re.escape(e) for e in EMOJI_TOKENS))

_morph: pymorphy3.MorphAnalyzer | None = None


def morph() -> pymorphy3.MorphAnalyzer:
    global _morph  # noqa: PLW0603 - one analyzer per process: its dictionaries take ~0.2 s to load
    if _morph is None:
        _morph = pymorphy3.MorphAnalyzer()
    return _morph


# How many words (and whitespace-free chunks) the per-word caches keep. A feed's vocabulary never
# stops growing (names, places, misspellings), so every cache is bounded by what the classifier's
# memory budget (500 MB) can hold. With 300,000-entry caches the classifier's work alone grew past it
# after 300,000 posts of the benchmark's mix (540 MB and rising, 59,000 words kept); with these it
# levels off at about 440 MB. A word costs about 1 KB in `parses` (pymorphy3's analyses) and 2 KB in
# all the text caches; the least recently used go first, and a feed's frequent words stay.
WORDS_KEPT = 30_000
CHUNKS_KEPT = 40_000
# The analyses are read once by each derived cache (lemma, lemma set, the gazetteer's word kinds)
# and then rarely again: the largest entries, kept the fewest.
PARSES_KEPT = 15_000


@lru_cache(maxsize=PARSES_KEPT)
def parses(word: str) -> tuple[Any, ...]:
    """pymorphy3's analyses of a lower-case word, parsed once per process (the lemma, the lemma set,
    the gazetteer's word kind all read this cache)."""
    return tuple(morph().parse(word))


@lru_cache(maxsize=WORDS_KEPT)
def lemma(word: str) -> str:
    """The most likely lemma of a lower-case word, ё folded to е."""
    if not word or not word[0].isalpha() or word.isascii():
        return word
    return str(parses(word)[0].normal_form).replace("ё", "е")


@lru_cache(maxsize=WORDS_KEPT)
def lemma_set(word: str) -> frozenset[str]:
    """Every lemma a lower-case word may have (place names hide behind rarer parses: Королёве)."""
    if not word or not word[0].isalpha():
        return frozenset((word,))
    return frozenset(str(p.normal_form).replace("ё", "е") for p in parses(word)) | {word}


def _split_hashtag(match: re.Match[str]) -> str:
    tag = match.group(1).replace("_", " ")
    return " " + CAMEL_RE.sub(" ", tag) + " "


# Emoji, pictographs, dingbats, arrows, variation selectors, joiners, keycaps and tags.
SYMBOLS_RE = re.compile(
    "[\U0001f000-\U0001faff\u2190-\u21ff\u2300-\u23ff\u2460-\u24ff\u25a0-\u27bf\u2900-\u297f"
    "\u2b00-\u2bff\u3030\u303d\u3297\u3299\ufe00-\ufe0f\u200b-\u200f\u2060\u20e3\U000e0000-\U000e007f]"
)


def _strip_symbols(text: str) -> str:
    return SYMBOLS_RE.sub(" ", text)


TRANSLIT_WORDS = {"ne", "na", "v", "i", "u", "s", "po", "ot", "dlya", "dlja", "eto", "net", "uzhe", "opyat", "opjat",
                  "kak", "chto", "vse", "nas", "nam", "gde", "kogda", "pochemu", "ochen", "ves", "dom"}  # fmt: skip
_TRANSLIT_PAIRS = [
    ("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ch", "ч"), ("sh", "ш"), ("ts", "ц"), ("yu", "ю"),
    ("ju", "ю"), ("ya", "я"), ("ja", "я"), ("yo", "ё"), ("jo", "ё"), ("'", "ь"),
    ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("k", "к"),
    ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"),
    ("f", "ф"), ("h", "х"), ("c", "ц"), ("j", "й"), ("w", "в"), ("x", "кс"), ("q", "к"),
]  # fmt: skip
_TRANSLIT_RE = re.compile("|".join(re.escape(a) for a, _ in _TRANSLIT_PAIRS) + "|y", re.IGNORECASE)
_TRANSLIT_MAP = dict(_TRANSLIT_PAIRS)
LATIN_WORD_RE = re.compile(r"[A-Za-z']+")


def _cyrillic(match: re.Match[str]) -> str:
    latin = match.group(0)
    low = latin.lower()
    if low == "y":  # й after a vowel or at the start of a word, ы otherwise
        before = match.string[match.start() - 1 : match.start()].lower()
        out = "й" if not before.isalpha() or before in "aeiouаеиоу" else "ы"
    else:
        out = _TRANSLIT_MAP[low]
    return out.upper() if latin[0].isupper() else out


def detransliterate(text: str) -> str:
    """Russian typed in Latin letters (avtobus ne hodit) back to Cyrillic; other text unchanged."""
    words = LATIN_WORD_RE.findall(text)
    if len(words) < 3 or sum(1 for w in words if w.lower() in TRANSLIT_WORDS) < 2:
        return text
    latin = sum(len(w) for w in words)
    cyrillic = sum(1 for ch in text if "а" <= ch.lower() <= "я" or ch in "ёЁ")
    if latin < 3 * cyrillic:
        return text
    return _TRANSLIT_RE.sub(_cyrillic, text)


# What each costly pattern of `clean` needs in a text to match at all: most posts hold no URL, emoji,
# dash or repeated punctuation, and a substring test is a fraction of a pattern's scan.
_URL_HINTS = ("http://", "https://", "www.", ".ru", ".рф", ".com", ".org", ".net", ".su", ".me")
_EMOJI_OUTSIDE_SYMBOLS = tuple(e for e in EMOJI_TOKENS if not SYMBOLS_RE.match(e))  # (‼)


def clean(text: str) -> str:
    """URLs, mentions and emoji out, hashtags split, repeated letters squashed; case is kept."""
    text = VK_MENTION_RE.sub(r" \1 ", text)
    lower = text.lower()
    if any(hint in lower for hint in _URL_HINTS):
        text = URL_RE.sub(" ", text)
    text = detransliterate(text)
    text = MENTION_RE.sub(" ", text)
    text = HASHTAG_RE.sub(_split_hashtag, text)
    if SYMBOLS_RE.search(text) or any(e in text for e in _EMOJI_OUTSIDE_SYMBOLS):
        text = _EMOJI_RE.sub(lambda m: EMOJI_TOKENS[m.group(0)], text)
        text = _strip_symbols(text)
    text = REPEAT_RE.sub(r"\1", text)
    if "!!" in text or "??" in text or ".." in text:
        text = PUNCT_REPEAT_RE.sub(r"\1", text)
    if "–" in text or "—" in text:
        text = WORD_DASH_RE.sub(" – ", text)
    # = SPACES_RE.sub(" ", text).strip(): str.split and the pattern's \s know the same whitespace
    return " ".join(text.split())


def normalize(text: str) -> str:
    """`clean` plus lower case and ё→е: the form the model's character n-grams see."""
    return clean(text).lower().replace("ё", "е")


@dataclass(slots=True)
class Token:
    text: str  # as written (case kept, ё kept), after cleaning
    lower: str  # lower case, ё→е
    lemma: str
    start: int  # offset in the cleaned text
    sentence_start: bool = False
    punct_after: bool = False  # punctuation follows before the next word (Сургут, 5 мкр)


@dataclass(slots=True)
class Doc:
    raw: str
    cleaned: str
    normalized: str
    tokens: list[Token] = field(default_factory=list)
    caps_ratio: float = 0.0
    exclamations: int = 0

    @property
    def lemmas(self) -> list[str]:
        return [t.lemma for t in self.tokens]

    @property
    def lemma_text(self) -> str:
        return " ".join(t.lemma for t in self.tokens)


_SENTENCE_BREAKS = frozenset({"", ".", "!", "?", "\n", "…", ":", "«", '"', "-", "—"})
SIMPLE_CHUNK_RE = re.compile(r"([«\"(]?)([А-Яа-яЁёA-Za-z]+)([.,!?:;»\")]?)")


@lru_cache(maxsize=CHUNKS_KEPT)
def _chunk_tokens(piece: str) -> tuple[tuple[str, int, str, str | None], ...]:
    """The tokens of one whitespace-free chunk: (text, offset in the chunk, lower case with ё→е, lemma
    or None for punctuation and symbols). razdel never joins across whitespace, so a chunk that is a
    plain word is its own token; only chunks with punctuation, digits or hyphens go through razdel
    (~10 µs per token). Posts repeat their words, so each chunk is analysed once per process."""
    simple = SIMPLE_CHUNK_RE.fullmatch(piece)
    if simple is not None:  # a word with at most one bracket or quote before and one mark after
        opening, word, closing = simple.groups()
        parts = [(opening, 0), (word, len(opening)), (closing, len(opening) + len(word))]
        pieces = [(text, start) for text, start in parts if text]
    else:
        pieces = [(token.text, token.start) for token in razdel.tokenize(piece)]
    out = []
    for text, start in pieces:
        lower = text.lower().replace("ё", "е")
        out.append((text, start, lower, lemma(lower) if WORD_RE.match(lower) else None))
    return tuple(out)


@lru_cache(maxsize=CHUNKS_KEPT)
def _chunk(piece: str) -> tuple[tuple[tuple[str, int, str, str | None], ...], int, int]:
    """A chunk's tokens, letters and upper-case letters (no letter is whitespace, so a text's counts
    are the sum of its chunks'), cached like the tokens."""
    return _chunk_tokens(piece), len(LETTER_RE.findall(piece)), len(UPPER_RE.findall(piece))


def analyze(text: str) -> Doc:
    cleaned = clean(text)
    doc = Doc(raw=text, cleaned=cleaned, normalized=cleaned.lower().replace("ё", "е"))
    previous = ""
    tokens = doc.tokens
    append = tokens.append
    letters = uppers = 0
    offset = 0
    # clean() leaves chunks (runs of non-whitespace) joined by single spaces: offsets add up.
    for piece in cleaned.split():
        chunk_tokens, chunk_letters, chunk_uppers = _chunk(piece)
        letters += chunk_letters
        uppers += chunk_uppers
        for word, start, lower, word_lemma in chunk_tokens:
            if word_lemma is None:
                if word == "!":
                    doc.exclamations += 1
                if tokens:
                    tokens[-1].punct_after = True
            else:
                # (text, lower, lemma, start, sentence_start), positionally: a token per word adds up
                append(Token(word, lower, word_lemma, offset + start, previous in _SENTENCE_BREAKS))
            previous = word
        offset += len(piece) + 1
    doc.caps_ratio = uppers / letters if letters else 0.0
    return doc
