"""How the Classifier turns head probabilities into decisions: the rules' priors on the log-odds,
the thresholds of a complaint, of urgency and of review, and which evidence words explain anything."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from classifier.rules.matching import RuleHits
from classifier.text import WORDS_KEPT
from incidents_common.categories import category_name

CRITICAL_SHIFT = 2.5
DANGER_RULE_SHIFT = 1.5
# Urgency above normal needs a stated cue (corpus/LABELLING.md): a rule (danger to life; a length of
# a week or more; a whole building, street or village) or a confident model. Posts the model thinks
# only "maybe high" stay normal: on unseen posts, the model alone over-calls high (0.81 vs 0.88).
MODEL_CRITICAL_AT = 0.7
MODEL_HIGH_AT = 0.8
# A post is a complaint from this probability up, not 0.5: the class-balanced head over-calls
# complaints on look-alikes (reviews, private quarrels, jokes). On a first-contact file of those
# (writer s) 0.6 took precision from 0.79 to 0.83 for recall 0.987 → 0.975; the held-out F1 stayed
# 0.944–0.945. Danger is not at stake: a critical danger makes a post a complaint by itself.
INCIDENT_AT = 0.6
# The incident head's probability (with the rules' priors, before danger's) that a post over the
# danger threshold needs to be called critical; below it, the danger goes to review (see Classifier._one).
DANGER_NEEDS_INCIDENT = 0.15
# …and when the danger reading found a person exposed and nothing telling it as over, thanked for,
# imagined, news or far away, a short report in the past tense with no complaint's words is still
# someone's report («Мальчик провалился под лёд на пруду»): a lower bar. The writers label a
# stranger's fall told as news a near miss, so the head leans that way on a bare line («Ребёнок
# провалился в открытый люк»: 0.016 on a–gt, 0.006 once gw's reports after the fact joined; 0.004
# changes no held-out call: 14,434 posts, critical 0.978 / 0.926 at 0.01 and at 0.004).
DANGER_NEEDS_INCIDENT_BARE = 0.004
DANGER_CONTEXTS = frozenset({"опас_прошло", "опас_спасибо", "опас_если", "опас_новость", "опас_далеко", "опас_совет"})
# A human looks when the model is unsure (see review_reasons): incident probability within this
# of 0.5, a category or a region guessed with less confidence than these.
REVIEW_INCIDENT_BAND = 0.1
REVIEW_CATEGORY_BELOW = 0.35
REVIEW_REGION_BELOW = 0.45
ADVERT_SHIFT = 1.5
SARCASM_SHIFT = 1.5  # sarcastic thanks is a complaint
THANKS_SHIFT = 1.0  # sincere thanks (not "заранее спасибо") rarely asks anyone to act
THANKS_BUT_SHIFT = 1.0  # «спасибо за асфальт, только разметку забыли»: 51 of the corpus's 53 are complaints
DEMAND_SHIFT = 1.0  # «сколько можно», «когда уже починят»: 93 % of the corpus's posts holding one are complaints
OUTAGE_SHIFT = 1.5  # «нет воды», «нет отопления»: 95 % of the corpus's posts holding one are complaints
STATED_SHIFT = 1.5  # «Жалоба: …», «Обращение к главе …» opening a post: all 20 of the corpus's are complaints


# Prepositions, conjunctions, particles and pronouns carry weight in the model but explain nothing
# to an official reading the evidence; features made only of them are not shown.
_FUNCTION_WORD_LIST = (
    "в во на по до из от у к ко с со за о об обо при для про над под без через между и а но или да же ли "
    "не ни бы то это этот тот что как так уже еще ещё вот все весь мы я вы он она они оно мой наш ваш их "
    "его ее её свой который кто где когда там тут здесь быть есть и_так"
).split()
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST)


def _near(value: float, threshold: float) -> str:
    """Two decimals, or three where two would show the threshold itself (0.596 is not «0.60»)."""
    return f"{value:.3f}" if f"{value:.2f}" == f"{threshold:.2f}" else f"{value:.2f}"


@functools.lru_cache(maxsize=WORDS_KEPT)
def explains(feature: str) -> bool:
    return not any(word in _FUNCTION_WORDS for word in feature.split())


def review_reasons(
    *,
    is_incident: bool,
    p_incident: float,
    p_danger: float | None,
    urgency: str,
    category_conf: float,
    region: dict[str, Any],
    hits: RuleHits,
    review_at: float,
    region_also_in: tuple[str, ...] = (),
    category: str | None = None,
) -> list[dict[str, Any]]:
    """Why a human should look at this post before anyone relies on it (empty: no need); `review_at` is
    the danger probability from which a post not called critical goes to review."""
    reasons: list[dict[str, Any]] = []
    if p_danger is not None and urgency != "critical" and p_danger >= review_at:
        found = "; ".join(hits.reading.describe()[:2])
        reasons.append(
            {
                "field": "danger",
                "confidence": round(p_danger, 4),
                "detail": f"возможна угроза жизни или здоровью: вероятность {p_danger:.2f}"
                + (f" ({found})" if found else ""),
            }
        )
    if abs(p_incident - INCIDENT_AT) < REVIEW_INCIDENT_BAND:
        reasons.append(
            {
                "field": "is_incident",
                "confidence": round(p_incident if p_incident >= INCIDENT_AT else 1 - p_incident, 4),
                "detail": f"не уверен, жалоба ли это: вероятность жалобы {_near(p_incident, INCIDENT_AT)}, "
                f"{'выше' if p_incident >= INCIDENT_AT else 'ниже'} порога {INCIDENT_AT:.2f}",
            }
        )
    if is_incident and category_conf < REVIEW_CATEGORY_BELOW:
        reasons.append(
            {
                "field": "category",
                "confidence": round(category_conf, 4),
                "detail": f"категория «{category_name(category)}» под вопросом: уверенность {category_conf:.2f}"
                if category
                else f"категория под вопросом: уверенность {category_conf:.2f}",
            }
        )
    if is_incident and region.get("code") and region_also_in:
        places = ", ".join([str(region["code"]), *region_also_in[:3]]) + ("…" if len(region_also_in) > 3 else "")
        town = f"«{region['city']}»" if region.get("city") else "места"
        reasons.append(
            {
                "field": "region",
                "confidence": round(float(region["confidence"]), 4),
                "detail": f"регион под вопросом: название {town} есть в нескольких регионах ({places})",
            }
        )
    elif is_incident and region.get("code") and float(region.get("confidence") or 0.0) < REVIEW_REGION_BELOW:
        reasons.append(
            {
                "field": "region",
                "confidence": round(float(region["confidence"]), 4),
                "detail": f"регион под вопросом: уверенность {float(region['confidence']):.2f}",
            }
        )
    return reasons


def danger_probability(head: float, rule_fired: bool) -> float:
    """The danger head's probability, raised when a rule's cue fired: the rules are evidence of a
    hazard the head may not have seen told that way (a prior of DANGER_RULE_SHIFT on the log-odds)."""
    return shift_log_odds(head, DANGER_RULE_SHIFT) if rule_fired else head


def shift_log_odds(probability: float, logit_shift: float) -> float:
    p = min(max(probability, 1e-6), 1 - 1e-6)
    return float(1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + logit_shift))))
