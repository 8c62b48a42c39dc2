from __future__ import annotations

import pytest

from classifier.model import Classifier, PostInput
from classifier.rules.durations import duration_days
from classifier.rules.matching import apply_rules
from classifier.text import analyze


class TestCriticalRules:
    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("В третьем подъезде сильно пахнет газом, звонили в 04", "запах газа"),
            ("На улице -32, а в доме нет отопления вторые сутки", "нет отопления в мороз"),
            ("В доме на Ленина обрушился балкон пятого этажа", "обрушение"),
            ("Горит сарай во дворе, пожарных нет уже 20 минут", "пожар"),
            ("Канализация затопила подвал и квартиры первого этажа, всё прибывает, помогите!", "канализация топит"),
            ("Ребёнок провалился в открытый люк на Московской", "ребёнок в опасности"),
            ("На детской площадке лежит оборванный провод", "оборванные провода"),
            ("Стая собак у остановки на Мира, сегодня покусали женщину", "собаки нападают на людей"),
            ("на остановке бродячие только что пацана за руку цапнули, не уходят", "собаки нападают на людей"),
            ("Беломорск, Октябрьская: медведь у мусорки, во дворе дети!", "дикий зверь среди людей"),
            ("ПОМОГИТЕ НАЙТИ! После школы не вернулась домой девочка 12 лет, телефон выключен", "ребёнок потерялся"),
            ("На Ленина столб с проводами лёг на остановку, провода искрят, люди стоят рядом", "оборванные провода"),
            ("Светофор на углу Ленина не работает, едут как попало", "не работает светофор или переезд"),
            ("На заброшке на Гоголя подростки лазят по крыше, 9 этажей", "дети на опасном объекте"),
            ("С утра в Заводском районе запах хлора, у людей слезятся глаза", "яд или взрыв"),
            ("По стене дома пошла трещина, за неделю расширилась, жильцы боятся ночевать", "трещины растут"),
            ("Бомжи жгут костёр в подвале, дым идёт в квартиры", "дым в жилье"),
            ("Тополь надломился и висит над детской площадкой", "может упасть на людей"),
        ],
    )
    def test_danger_to_life_is_critical(self, text: str, reason: str, classifier: Classifier) -> None:
        assert reason in apply_rules(analyze(text)).critical
        result = classifier.classify(PostInput(text=text))
        assert result.is_incident
        assert result.urgency.label == "critical"
        assert any(reason in e for e in result.urgency.evidence)

    def test_danger_told_as_news_is_not_called_critical(self, classifier: Classifier) -> None:
        news = "Спасатели сообщают: на водохранилище под лёд провалился рыбак, его вытащили, госпитализирован."
        assert classifier.classify(PostInput(text=news)).urgency.label != "critical"

    def test_a_bare_danger_line_goes_to_a_person(self, classifier: Classifier) -> None:
        # Nobody asks for anything, so the incident head reads it like a news line: not called
        # critical, but a complaint with a danger review, which routing runs on the critical clock
        # until an operator decides.
        result = classifier.classify(PostInput(text="Канализация затопила подвал и квартиры первого этажа"))
        assert result.is_incident and result.urgency.label != "critical"
        assert [r.field for r in result.review_reasons if r.field == "danger"] == ["danger"]

    @pytest.mark.parametrize(
        ("text", "plea"),
        [
            ("Вода хлещет из стояка, заливает проводку, помогите!", "помогите"),
            ("Горит гараж у школы, спасите, пожалуйста!", "спасите"),
            ("Помогите найти собаку, убежала от салюта, боится огня", None),
            ("Помогите советом: в подвале вода, кому звонить?", None),
            ("Спасатели сообщают: рыбак провалился под лёд, помогите найти свидетелей!", None),
        ],
    )
    def test_a_cry_for_help_is_one_that_ends_its_sentence(self, text: str, plea: str | None) -> None:
        assert apply_rules(analyze(text)).reading.plea == plea

    def test_a_cry_for_help_makes_the_danger_a_report(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text="Канализация затопила подвал, всё прибывает, помогите!"))
        assert result.urgency.label == "critical"
        assert "просят о помощи: помогите" in result.urgency.evidence

    def test_negated_gas_is_not_critical(self) -> None:
        assert "запах газа" not in apply_rules(analyze("Газовики проверили: газом не пахнет")).critical

    def test_a_working_traffic_light_is_no_danger(self) -> None:
        assert not apply_rules(analyze("Светофор на Ленина наконец работает, спасибо")).critical

    def test_traffic_light_burning_green_is_no_fire(self) -> None:
        assert "пожар" not in apply_rules(analyze("Светофор горит зелёным 7 секунд")).critical

    def test_a_post_that_names_itself_a_complaint_is_one(self, classifier: Classifier) -> None:
        stated = (
            "Жалоба: в Новосибирске на улице Ленина, дом 18 яма на дороге стала ещё больше, машины бьют колёса, "
            "дорогу не ремонтируют."
        )
        assert apply_rules(analyze(stated)).stated
        assert classifier.classify(PostInput(text=stated)).is_incident
        assert not apply_rules(analyze("Подскажите, куда написать жалобу на УК?")).stated

    def test_carbon_monoxide_told_by_its_symptoms(self) -> None:
        told = "включили колонку помыться — у мужа и у меня тошнота, в висках стучит, ноги ватные"
        assert "угарный газ" in apply_rules(analyze(told)).critical
        assert "угарный газ" not in apply_rules(analyze("голова кружится от счастья, колонка играет")).critical

    def test_a_gas_leak_told_by_its_hiss_at_the_fittings(self) -> None:
        told = "а газовая служба в выходные работает? на кухне за плитой у трубы шипит и воняет"
        assert "запах газа" in apply_rules(analyze(told)).critical
        assert "запах газа" not in apply_rules(analyze("на кухне у трубы шипит и воняет, соседи жарят рыбу")).critical
        fixed = "газовики приехали за полчаса, нашли утечку на кране и заменили"
        assert "запах газа" not in apply_rules(analyze(fixed)).critical

    @pytest.mark.parametrize(
        ("text", "sarcastic"),
        [
            ("Наша УК лучшая в мире: лампочку в подъезде не меняют, ходим в темноте", True),
            ("Спасибо минздраву за заботу: стоматолога нет уже полгода", True),
            ("Спасибо соцзащите за увлекательный квест: девять справок из четырёх контор", True),
            ("Спасибо перевозчику за утреннюю зарядку: 14-й опять не пришёл", True),
            ("Спасибо дорожникам! Дорогу наконец отсыпали, так держать!", False),
            ("Спасибо администрации за заботу о ветеранах, подарки всем разнесли", False),
        ],
    )
    def test_mock_praise_of_a_public_body_is_sarcasm(self, text: str, sarcastic: bool) -> None:
        assert apply_rules(analyze(text)).sarcasm is sarcastic

    def test_someone_lost_in_the_wild_now(self) -> None:
        lost = "Помогите, отец со вчерашнего утра в лесу под Новосилем, не вышел"
        assert "человек пропал в лесу" in apply_rules(analyze(lost)).critical
        found = "Бабушку, которая в субботу потерялась в лесу под Ельней, нашли! Живая"
        assert "человек пропал в лесу" not in apply_rules(analyze(found)).critical

    def test_an_open_manhole_told_at_arms_length(self) -> None:
        told = "Нюрба, люк на тротуаре у школы открыт, ничем не огорожен"
        assert "открытый люк или котлован" in apply_rules(analyze(told)).critical

    @pytest.mark.parametrize(
        ("text", "reason", "fires"),
        [
            ("у остановки с опоры свисает кабель до земли", "оборванные провода", True),
            ("на катке у фонаря провод из столба торчит голый на уровне руки", "оборванные провода", True),
            # a tree that fell on wires and left a street dark is no live wire (told after, fixed)
            (
                "Ночью берёза упала на провода, полулицы без света сидели до утра, электрики всё сделали",
                "оборванные провода",
                False,
            ),
            ("Калининградская 3, подвал дымит, в подъезде не продохнуть", "дым в жилье", True),
            ("Болгар, на плотине ребятня по льду у самой промоины!", "ребёнок в опасности", True),
            (
                "Паром набили так, что борт почти в воде, жилетов никаких, нас человек 40 с детьми",
                "перегруженное судно",
                True,
            ),
            (
                "Паромная переправа начинает работу с 1 июня, расписание: 8:00, 12:00, 17:00",
                "перегруженное судно",
                False,
            ),
            ("Муж ушёл на рыбалку утром, обещал к трём. Телефон недоступен, пурга", "человек пропал в лесу", True),
            ("в садике батареи ледяные, за окном под сорок, малышей держат в комбезах", "нет отопления в мороз", True),
            (
                "Потерялась девочка 5 лет на Сабантуе у сцены, красное платье, Алина. Ищем уже 40 минут",
                "ребёнок потерялся",
                True,
            ),
            (
                "Пропавшего вчера 9-летнего мальчика нашли! Ночевал у друга, с ним всё хорошо",
                "ребёнок потерялся",
                False,
            ),
            ("Пропала собака, лабрадор, девочка, светлая, зовут Луна", "ребёнок потерялся", False),
            (
                "У рынка продают грибы вёдрами, там бледные поганки вперемешку с сыроежками. Люди берут!!",
                "яд или взрыв",
                True,
            ),
        ],
    )
    def test_dangers_the_first_contact_files_taught(self, text: str, reason: str, fires: bool) -> None:
        """Wires, smoke, children by their group words (ребятня), boats, the missing, frost in words, toadstools."""
        assert (reason in apply_rules(analyze(text)).critical) is fires

    def test_a_stopped_electric_boiler_in_frost_is_no_heating(self) -> None:
        told = "Вторые сутки без света, -32. Электрокотлы встали, дома остывают"
        assert "нет отопления в мороз" in apply_rules(analyze(told)).critical

    def test_lights_out_in_a_stairwell_are_no_fire(self) -> None:
        dark = "третьи сутки в подъезде темно, лампочки не горят ни на одном этаже"
        assert "пожар" not in apply_rules(analyze(dark)).critical
        assert "пожар" in apply_rules(analyze("в подъезде горит мусоропровод, дым на всех этажах")).critical


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

    @pytest.mark.parametrize(
        ("text", "sarcastic"),
        [
            ("Спасибо, уважаемая администрация, за оперативный ответ! Всего 11 месяцев ждала", True),
            ("Огромная благодарность службе отлова, приехавшей ровно через месяц после заявки!", True),
            ("Благодарю управляющую компанию за то, что спустя всего полгода заметили, что течёт крыша", True),
            ("Спасибо коммунальщикам, всего за два дня поменяли трубу, и вода есть!", False),
        ],
    )
    def test_thanks_for_a_service_that_took_months_is_sarcasm(self, text: str, sarcastic: bool) -> None:
        assert apply_rules(analyze(text)).sarcasm is sarcastic

    def test_ironic_thanks_does_not_thank_a_danger_away(self) -> None:
        text = (
            "Ну спасибо нашему здравоохранению. Дед вторые сутки с температурой под сорок, бредит уже. "
            "Скорая из райцентра ехать отказалась"
        )
        hits = apply_rules(analyze(text))
        assert hits.sarcasm
        assert "опас_спасибо" not in hits.markers and "опас_спасибо" not in hits.reading.markers
        assert "опас_нехватка" in hits.markers  # help refused is help that does not come
        assert "дед" in hits.reading.exposed

    def test_a_pack_that_mauled_someone_and_is_still_there_is_critical(self) -> None:
        text = (
            "Вчера вечером на Зелёной стая порвала школьницу, девочка в больнице. "
            "Сегодня эти же собаки лежат у магазина и рычат на каждого. Где отлов??"
        )
        assert "собаки нападают на людей" in apply_rules(analyze(text)).critical

    @pytest.mark.parametrize(
        "text",
        [
            "Спасибо за новый асфальт на Кирова! Только разметку забыли, на перекрёстке чуть не столкнулись",
            "Спасибо соцзащите за дрова в прошлом году. Но в этом году заявление так и не приняли — «нет бланков»",
        ],
    )
    def test_thanks_that_prefaces_what_is_still_wrong_is_a_complaint(self, text: str, classifier: Classifier) -> None:
        hits = apply_rules(analyze(text))
        assert not hits.thanks and "правило_спасибо_но" in hits.evidence
        result = classifier.classify(PostInput(text=text))
        assert result.is_incident
        assert any(e.startswith("спасибо: спасибо … ") for e in result.incident.evidence)

    def test_thanks_that_goes_on_thanking_stays_thanks(self) -> None:
        hits = apply_rules(analyze("Спасибо всем, кто пришёл на субботник, но особенно школьникам!"))
        assert hits.thanks and "правило_спасибо_но" not in hits.evidence

    @pytest.mark.parametrize(
        "text",
        [
            "Ставлю пять звёзд нашему водоканалу за стабильность: вода из крана стабильно рыжая",
            "Поздравляем электросети: ровно месяц у нас каждый вечер мигает свет, спасибо",
        ],
    )
    def test_a_public_body_and_a_failure_told_as_thanks_or_a_review_are_read_together(self, text: str) -> None:
        assert "правило_ирония_о_службе" in apply_rules(analyze(text)).evidence

    def test_a_review_of_a_cafe_names_no_public_body(self) -> None:
        hits = apply_rules(analyze("Отзыв о кафе: пицца холодная, официант не подошёл, больше не придём"))
        assert "жанр_отзыв" in hits.evidence
        assert "правило_служба" not in hits.evidence and "правило_ирония_о_службе" not in hits.evidence

    def test_a_polite_close_is_not_thanks(self, classifier: Classifier) -> None:
        text = "Третью неделю не вывозят мусор с Садовой, баки переполнены. Заранее спасибо за ответ"
        assert not apply_rules(analyze(text)).thanks
        assert classifier.classify(PostInput(text=text)).is_incident

    def test_a_memory_is_not_a_complaint(self, classifier: Classifier) -> None:
        text = "Помню наводнение 2002 года, вода стояла выше окон, мы двое суток сидели на чердаке. Страшно было"
        assert "правило_воспоминание" in apply_rules(analyze(text)).markers
        assert not classifier.classify(PostInput(text=text)).is_incident

    @pytest.mark.parametrize(
        ("text", "marker"),
        [
            ("Пересмотрела «Чернобыль»: докладывали, что всё под контролем", "правило_вымысел"),
            ("Кто писал про открытый люк на Мичурина — закрыли ещё ночью, отбой тревоге", "правило_решено"),
            ("На пляже нашли пятно мазута, к обеду МЧС уже всё собрали", "правило_решено"),
            ("Пропавшего мальчика благополучно нашли, живой и здоровый", "правило_решено"),
            ("Мост через Чембар отремонтировали и открыли, ездим напрямую", "правило_решено"),
            ("Ночью горел сарай, пожарные потушили за 20 минут", "правило_решено"),
            ("Экскаватор повредил газовую трубу. Утечку устранили, газ подали вечером", "правило_решено"),
            ("На трассе столкнулись фура и легковушка, сейчас движение восстановлено", "правило_решено"),
            ("Чисто гипотетически: если прорвёт батарею, кого вызывать первым?", "правило_на_будущее"),
        ],
    )
    def test_stories_fixes_and_hypotheticals_are_marked(self, text: str, marker: str) -> None:
        assert marker in apply_rules(analyze(text)).markers

    def test_a_wish_for_a_fix_is_not_a_fix(self) -> None:
        assert (
            "правило_решено" not in apply_rules(analyze("Когда уже отловят этих собак? Третью неделю бегают")).markers
        )

    def test_advert_is_flagged(self, classifier: Classifier) -> None:
        text = "Продам гараж, кирпичный, недорого. Звоните +7 917 123-45-67"
        assert apply_rules(analyze(text)).advert
        assert not classifier.classify(PostInput(text=text)).is_incident


class TestHowLong:
    """Durations as the labelling guide counts them (corpus/LABELLING.md): a week or more is long."""

    @pytest.mark.parametrize(
        ("text", "days"),
        [
            ("уже неделю нет горячей воды", 7),
            ("второй месяц без учителя математики", 31),
            ("компенсацию не выплачивают с лета", 30),
            ("полгода не платят", 60),
            ("многодетные 8 лет в очереди", 8 * 365),
            ("дом признали аварийным 4 года назад", 4 * 365),
            ("нет связи уже пять дней", 5),
            ("третий день без света", 3),
            ("мусор не вывозят с 5 числа", 4),
            ("две недели ждём ответа", 14),
        ],
    )
    def test_stated_duration(self, text: str, days: int) -> None:
        found = duration_days(text)
        assert found is not None
        assert found[0] == pytest.approx(days)

    @pytest.mark.parametrize(
        "text",
        [
            "дом построили в 2017 году",
            "обещают сделать через год",
            "яма у подъезда",
            "в квартире +12, ребёнку полгода",  # an age, not how long it has lasted
            "малышу полтора года, а батареи ледяные",
        ],
    )
    def test_dates_and_promises_are_no_duration(self, text: str) -> None:
        assert duration_days(text) is None

    def test_days_without_water_are_high(self) -> None:
        hits = apply_rules(analyze("В посёлке нет воды уже 4 дня, возим из колонки"))
        assert "нет необходимого несколько дней" in hits.high
        assert "4 дня" in hits.evidence["правило_без_необходимого"]

    def test_a_whole_street_is_many_people(self) -> None:
        hits = apply_rules(analyze("Вся улица Космонавтов без света"))
        assert "многих касается" in hits.high

    def test_a_stated_length_makes_a_complaint_high_and_says_why(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text="Третью неделю нет горячей воды на Садовой 12, УК не отвечает"))
        assert result.is_incident
        assert result.urgency.label == "high"
        assert any("третью неделю" in e for e in result.urgency.evidence)

    def test_one_pothole_without_a_length_stays_normal(self, classifier: Classifier) -> None:
        result = classifier.classify(PostInput(text="На Московской у остановки яма, пробил колесо"))
        assert result.is_incident
        assert result.urgency.label == "normal"


class TestDemand:
    def test_a_demand_asked_as_a_question_is_marked(self) -> None:
        for text in (
            "Шахтинцы, когда уже отремонтируют путепровод? Сколько можно ездить в объезд",
            "доколе будем жить без воды",
            "Куда смотрит администрация?! Третий день мусор",
            "где же УК, крыша течёт",
            "когда же наконец уберут этот снег",
        ):
            hits = apply_rules(analyze(text))
            assert hits.demand and "правило_требование" in hits.markers, text

    def test_a_plain_question_is_not(self) -> None:
        for text in ("Сколько можно купить на 100 рублей?", "Когда уже лето", "когда откроется новый магазин?"):
            assert not apply_rules(analyze(text)).demand, text


class TestOutage:
    def test_a_utility_missing_now_is_marked(self) -> None:
        for text in (
            "нет отопления со вчерашнего дня",
            "Балаково, Академика Жука 7 — нет отопления со вчерашнего дня",
            "опять нет горячей воды на Садовой",
            "у нас нет света с утра",
        ):
            hits = apply_rules(analyze(text))
            assert hits.outage and "правило_нет_сейчас" in hits.markers, text

    def test_memories_and_news_told_with_bez_are_not(self) -> None:
        for text in (
            "Лет пять назад трубы перемёрзли, неделю без воды сидели",
            "В Приморье тайфун оставил без света 20 тысяч человек",
            "Нетбук продаю, света экран яркий",
        ):
            assert not apply_rules(analyze(text)).outage, text

    def test_a_short_outage_report_is_a_complaint(self, classifier: Classifier) -> None:
        """QA: «… — нет отопления со вчерашнего дня» read as chat (0.30), «вчерашний день» weighing against."""
        result = classifier.classify(PostInput(text="Балаково, Академика Жука 7 — нет отопления со вчерашнего дня"))
        assert result.is_incident
        assert any("нет коммунальной услуги сейчас" in e for e in result.incident.evidence)
