"""Region by context: namesake towns, towns that are common words, and a small town named beside a
big city or another region (where the problem is, not where someone else is or goes)."""

from __future__ import annotations

import pytest

from classifier.gazetteer.cache import default_gazetteer
from classifier.text import analyze


def resolve(text: str, hint: str | None = None) -> tuple[str | None, str | None]:
    guess = default_gazetteer().resolve(analyze(text), hint=hint)
    return guess.code, guess.city


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        # namesakes: a region, a district or another town of one region decides
        ("Фокино Брянской области, на Толстого нет воды", None, "32"),
        ("Краснознаменск, автобус из Калининграда не пришёл", None, "39"),
        ("Озёрск, в Челябинске говорят ждите, а у нас третий день без тепла", None, "74"),
        ("В Заречном нет фельдшера, ездим в район за 35 км", "Михайловский район | Новости", "62"),
        # a namesake in the source's name: the one whose region the text names
        ("Педиатра нет, сказали езжайте в Вологду, это 400 км", "Подслушано Никольск", "35"),
        # a big city's neighbourhood in any case, also one in -ой the dictionary does not know
        ("На Нефтестрое у гаражей вывалили мусор", None, "76"),
        ("у выхода с Юнгородка люк без крышки", None, "63"),
        # an official page's name: a town's settlement or okrug, a district hospital, a municipality in quotes
        ("Свалка за посёлком горит третьи сутки", "Администрация Байкальского городского поселения", "38"),
        ("Прививку от гриппа беременным ставят?", "ОГБУЗ «Киренская РБ»", "38"),
        ("А прокат велосипедов летом будет?", "Администрация МО «Светлогорский городской округ»", "39"),
        # … even when the text names the namesake too: it votes for neither of its regions
        ("В Покровске сломалась лаборатория, анализы возят в Якутск", "Анонимно Покровск", "14"),
        # a name in quotes is a thing's (the car, a variety, a song), unless a municipality or a group is named so
        ("Продам баян «Тула», в хорошем состоянии. Дубовка, ул. Ленина", None, "34"),
        ("Из группы «Торопец»: на вокзале кассу закрыли", None, "69"),
        # a town's people and adjectives no rule forms (Муром's are not Илья Муромец; Сим and Коряжма)
        ("С Днём семьи! На площади раздают ромашки, муромцы, подходите", None, "33"),
        ("Коряжемский ЦБК запустил новую сушильную машину", None, "29"),
        ("Ремонт в симской школе №2 обещали сделать за лето", None, "74"),
        # a town's adjective no rule forms (Емва: емвинский)
        ("Емвинская котельная на Сосновке встала, батареи ледяные", None, "11"),
        # «Печоры» opening a sentence is the town, not Печора's genitive
        ("Печоры красивейший город, а туристов водят только в монастырь", None, "60"),
    ],
)
def test_namesakes_by_context(text: str, hint: str | None, code: str) -> None:
    assert resolve(text, hint)[0] == code


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("В Дне на Советской опять нет света", None, "60"),
        ("Заброшенный дом в центре Холма вот-вот рухнет", None, "53"),
        ("Яма у школы, уже неделю", "Подслушано Бор", "52"),
        ("Светофор у рынка не работает", "Сим | наш город", "74"),
        ("Во дворе сломали качели", "Белоярский чат", "86"),
        ("Был у нас в Островном случай: лавиной накрыло дорогу", None, "51"),
    ],
)
def test_common_word_towns_with_context(text: str, hint: str | None, code: str) -> None:
    assert resolve(text, hint)[0] == code


@pytest.mark.parametrize(
    "text",
    [
        "Коровы на заливном лугу стоят по брюхо в воде",
        "Гуляли в сосновом бору, везде пакеты",
        "Машину на дне оврага нашли утром",
    ],
)
def test_common_words_are_no_towns(text: str) -> None:
    assert resolve(text)[0] is None


def test_crimean_is_the_region() -> None:
    assert resolve("Стройка века: как строили Крымский мост")[0] == "91"
    assert resolve("В Крымском районе опять нет воды")[0] == "23"  # the district of Краснодарский край


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        # where the post is: у нас в…, домой в…, переехали в…
        ("В Приморье тайфун, у знакомых крыши снесло. У нас в Магадане пока тихо", None, "49"),
        ("У сестры в Краснодарском крае затопило дом, а у нас-то тут в Вуктыле спокойно", None, "11"),
        ("Отдохнули, Анапа — сказка. Приезжаем домой в Кирово-Чепецк, а в подъезде вонь", None, "43"),
        ("Мы переехали в Бузулук из Самары, ищем друзей детям", None, "56"),
        # where someone else is, what it is compared with, where someone goes
        ("Дочь в Москве трубку не берёт, соседка третий день не открывает", "Подслушано Ипатово", "26"),
        ("Смотрели, как в Саратове берег съехал. У нас пока держится", "Подслушано Серафимович", "34"),
        ("Дочка поступила в Питер, горжусь!", "Мамы Пскова", "60"),
        ("Верхотурье. Отцу отказали в пенсии, а в Воркуту он не поедет, ему 74", None, "66"),
        # a small town beside the big city near it
        ("Живём под Москвой, в Балабаново: станцию так и не отремонтировали", None, "40"),
        ("Электричка на Москву опять опоздала на 20 минут. Александров, ну хоть раз бы вовремя", None, "33"),
    ],
)
def test_the_place_of_the_problem(text: str, hint: str | None, code: str) -> None:
    assert resolve(text, hint)[0] == code


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        ("В квартире на Пугачёва окно не закрывается", None, None),  # a street named after a person
        ("Взяла шаурму на Первомайской — три кусочка мяса. У кого в Грозном вкуснее?", None, "20"),
        ("Вода отключена по улицам Октябрьской, Ефремова и Гагарина. Ульяновск", None, "73"),
        ("Жалоба от жителей ул. Кирова, Анадырь: стая собак у гаражей", None, "87"),
        ("Платим, а МСК-НТ молчит", "Подольск сегодня", "50"),  # an organisation, not Moscow
        ("Домофон сломан", "Чат дома Ленинградский 12 Вытегра", "35"),  # a house on a street
        ("Скорая говорит, машина в Красногорском. Звенигово", None, "12"),  # no instrumental after «в»
        ("Мост через Терек опять завален мусором. Моздок, Кирова", None, "15"),  # the river, weakly
        ("Обращаюсь к Вам я, Смирнова Анна Фёдоровна, живу в деревне под Устюжной", None, "35"),
        # both streets of a crossing, the second after no street word
        ("На перекрёстке Ленина — Кирова кусты закрыли знак. Краснохолмские водители, осторожнее", None, "69"),
        ("Светофор на углу Мира и Кирова не работает", None, None),
        ("На перекрёстке улиц Ленина и Калинина опять авария", None, None),
        # a great river after «через» is the river, not the region named after it
        ("Кто сегодня через Колыму на переправе ехал — лёд трещит. Среднеколымск", None, "14"),
        ("На Колыме опять морозы под пятьдесят", None, "49"),
        # Moscow's okrugs (not ЗАО: a company's legal form)
        ("Ищу однушку, ЮЗАО, до 45к, без комиссии", None, "77"),
        # a town's feminine adjective alone after «на» is a street; before its noun, the town
        ("Кто на Первомайской разметку рисует прямо по ямам? Хвалынские дорожники, вы серьёзно?", None, "64"),
        ("На Вельской трассе опять яма на яме", None, "29"),
        # a town's name in quotes after a business is the business (гостиница «Онега» in Пудож)
        ("Жили в гостинице «Онега» две ночи: душ еле тёплый", "Отзывы Пудож", "10"),
        ("В ТЦ «Москва» опять не работает эскалатор", None, None),
        # a neighbourhood's adjective, a two-word town's adjective
        ("Спасибо ребятам из эжвинской теплосети, к вечеру дали тепло", None, "11"),
        ("Богослужение в Псково-Печерском монастыре начнётся в 23:00", None, "60"),
        # a big city's station named after its neighbourhood; a place «у них» is someone else's
        ("Нашла паспорт у метро Выхино, оставила на посту полиции", None, "77"),
        ("Сестра из Казахстана пишет — у них в Петропавловске паводок", "Подслушано Макушино", "45"),
        # a river a thing is dumped «в», the Urals: they settle a namesake
        ("В Кирове опять кто-то слил в Песочню что-то маслянистое", None, "40"),
        ("В Михайловске на Урале вчера упал столб", None, "66"),
        ("Н.Ладога, есть на соседа управа?", None, "47"),
        # people of a пгт or a town, named by the region they settle
        ("Кавалеровцы! Кто потерял связку ключей у рынка", None, "25"),
        ("Белинцы, кто знает, в ДК концерт во сколько?", None, "58"),
        ("Газель, грузчики, недорого. Ахтари и район", None, "23"),
        ("Вуктыльчане, вечером у гаражей поодиночке не ходите", None, "11"),
        # a two-word town shortened, a town's old German name, a river after «берег»
        ("Мар.Посад, Николаева — на кухне из стояка течёт", None, "21"),
        ("В Кранце после шторма с пляжа вывезли водоросли", None, "39"),
        ("Соцзащиту в Никольске перевели на тот берег Юга, а маме 80 лет", None, "35"),
        # a river of one region, the only place a post names, gives the region (not a town)
        ("на Шелони у моста пацаны бегают по льду, он серый и хрустит", None, "53"),
        ("Отдыхали на Юге, вернулись загорелые", None, None),
        # «с» before a name is the preposition unless written «с.» (село) or after one
        ("Ушёл после обеда от бабушки с Набережной в сторону реки", "Подслушано Нариманов", "30"),
        ("Юридическая помощь в спорах с УК, звоните", None, None),
        # a common word in lower case is the word (королева), not a town's case form
        ("Глава сегодня в красном пальто прям королева, речь трогательная", "Администрация г. Любим", "76"),
        ("Кто-нибудь знает прогноз для Верхотурья? Мешки с песком готовить?", None, "66"),
        ("Спасибо дальнереченским спасателям, вчера сняли рыбаков со льдины", None, "25"),
        ("Сквер у памятника над Шешупе после зимы. Краснознаменск маленький, убрать нельзя?", None, "39"),
        ("ЗАО «Стройинвест» третий месяц задерживает зарплату", None, None),
        # a town's people, a river of one region, a neighbour across the border
        ("щучанцы, автобус на Челябинск в воскресенье ходит?", None, "45"),
        ("Волжане, служебный автобус на Оргсинтез во сколько отходит?", None, "34"),
        ("Открыли мост через Нерчу у старой больницы", None, "75"),
        ("лёд тронулся на Свири!! кто видел сегодня?", None, "47"),
        ("Амур встал! на том берегу Хэйхэ в дымке", None, "28"),
        ("на феодосийской набережной лавки все разломаны", None, "91"),
        ("Переславль сегодня весь в инее", None, "76"),
        ("усольчане, вам тоже сегодня с Химпрома воняет?", None, "38"),
        # «МО» before a municipality's name is the municipality, not Московская область
        ("а улицу Чкалова в отчёт забыли вписать?", "Администрация МО «Город Адыгейск»", "01"),
        ("Пролетарская, провода на дороге искрят", "Короча — жемчужина Белогорья", "31"),
        # a district named outright outweighs a village's name that a city part elsewhere shares
        ("Подрядчик, который строит ФАП в Ростоши, вывалил бой на обочину. Эртильский район, уберите", None, "36"),
        ("Питер, Красносельский район. Сквер у пруда на Ветеранов: сетку сняли", None, "78"),
        # a building's or a street's chat names its street, a co-operative its own name; the town is the other
        ("на 3 этаже газом воняет сильно", "Чат Гагарина 21 (Тотьма)", "35"),
        ("тройка ходит как хочет", "Соседи Кирова | Нариманов", "30"),
        ("фонари не горят от магазина до дома", "Чат Советская ул | Новосиль", "57"),
        ("трава горит за снт, огонь к домам идёт", "СНТ Черёмушки, Шацк", "62"),
        ("яма у въезда", "Чат Тотьма | Объявления", "35"),
        ("Ледоход на Бии с Коммунального моста — видео в комменты", None, "22"),
        # a number before minutes or kilometres is a distance, not a house: the city it names settles a namesake
        ("Живём в Берёзовском, от Екб 15 минут, а к педиатру записи нет", None, "66"),
        ("Туапсинцы, на Приморском бульваре шторм, волны через парапет", None, "23"),
        ("Новорос, где с утра свежую рыбу взять, кроме рынка?", None, "23"),
        ("Вчера на Киренге взяли восемь налимов, у берега лёд уже отходит", None, "38"),
    ],
)
def test_streets_persons_and_organisations(text: str, hint: str | None, code: str | None) -> None:
    assert resolve(text, hint)[0] == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Надымчане, перед зимником заправьте полный бак", "89"),
        ("Дорогие гремячинцы, приглашаем на праздник", "59"),
        ("Кто из елабужан помнит разлив 79-го?", "16"),
        ("Идёт заволжанин по скверу, а фонари не горят", "37"),
    ],
)
def test_more_demonyms(text: str, code: str) -> None:
    assert resolve(text)[0] == code


@pytest.mark.parametrize(
    ("text", "code", "city"),
    [
        # the adjectives of towns of two words or a hyphen (data/places.yaml `town_adjectives`), whose
        # last word alone is another town's (судженский: Суджа, лабинский: Лабинск) or no one's
        ("В аптеке при спас-деменской ЦРБ нет инсулина", "40", "Спас-Деменск"),
        ("Плотину на верхнетагильском пруду кто-то проверяет?", "66", "Верхний Тагил"),
        ("В гаврилово-посадской администрации отменили приём", "37", "Гаврилов Посад"),
        ("Анжеро-судженские дороги хуже всех", "42", "Анжеро-Судженск"),
        ("В горно-алтайской больнице нет терапевта", "04", "Горно-Алтайск"),
        ("С крыши катав-ивановской поликлиники сошла глыба", "74", "Катав-Ивановск"),
        ("Усть-лабинская управляйка трубку не берёт", "23", "Усть-Лабинск"),
    ],
)
def test_adjectives_of_towns_of_two_words(text: str, code: str, city: str) -> None:
    assert resolve(text) == (code, city)


@pytest.mark.parametrize(
    ("text", "hint", "code"),
    [
        # a namesake settled by a smaller river (Никольск on the Юг, Озёрск on the Анграпа, Михайловск on the
        # Серга, which the dictionary does not decline) or by a district's adjective alone in the hint
        ("Вдоль Юга бегают собаки. У нас в Никольске отлов вообще существует?", None, "35"),
        ("Пишут, что в Озёрске на Анграпе мальчишка провалился под лёд", None, "39"),
        ("В Михайловске ремонтируют мост через Сергу", None, "66"),
        ("Месяц не можем получить справку в администрации", "Покровск Хангаласский", "14"),
        # a district's adjective that is also a town's case form settles nothing of its own (Гурьевском)
        ("В Малом Исакове под Гурьевском собаки бегают стаей", None, "39"),
        # a district's centre named like an adjective, after «в» (not «за Садовой», «в Северной Ривьере»)
        ("В Вёшенской на центральной улице фонари не горят", None, "61"),
        ("За Садовой кто-то каждый вечер жжёт мусор", None, None),
        # a footbridge over a river named like a town (через Сергу) is the river's
        ("Серги, мостик через Сергу на Володарского подмыло", None, "66"),
        # kin before a first name: a person (дяде Коле), not Кола
        ("За соседа пишу, дяде Коле 79 лет. Новоржев", None, "60"),
        # nicknames
        ("В Марпосаде в школе кусок потолка рухнул", None, "21"),
        ("В Комсе водитель маршрутки курит в салоне", None, "27"),
        ("В Н. Тагиле опять выбросы", None, "66"),
        ("Знак главной погнули на перекрёстке", "Кр. Холм | Подслушано", "69"),
        ("Вытегоры, на рынок привезли онежского сига", None, "35"),
        # a village «под» a town of the table: the town says where (not the village's namesakes elsewhere)
        ("Ушёл за черникой за деревню Сосновка под Тюкалинском", None, "55"),
        ("В ФАПе в деревне Луговой под Макушином нет фельдшера", None, "45"),
        # a big city's neighbourhoods
        ("На Древлянке ночью во дворе загорелась машина", None, "10"),
        ("На Остряках наконец залатали яму", None, "92"),
        # half the town (пол-Порхова), a town's adjective before its beach or its people, its people addressed
        ("Шелонь вышла из берегов и затопила пол-Порхова", None, "60"),
        ("После выходных на щёлкинском пляже гора бутылок", None, "91"),
        ("Таштыпские, кто продаёт кедровый орех?", None, "19"),
        # a region's people (Кузбассовцы) and a grandson elsewhere (внук в Москве)
        ("Кузбассовцы, кто ещё говорит «вехотка»? Москвичи на работе не понимают", None, "42"),
        (
            "Дед третий день не открывает. Внук в Москве трубку не берёт. Спасск-Рязанский, кто может помочь?",
            None,
            "62",
        ),
    ],
)
def test_clues_centres_and_nicknames(text: str, hint: str | None, code: str | None) -> None:
    assert resolve(text, hint)[0] == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        # «из X»: where someone or something came from, not where the trouble is …
        ("Пишу из Питера. У бабушки в Пудоже пенсию с почты не несут вторую неделю", "10"),
        ("Посылка из Москвы шла пять дней, а в нашем отделении в Курильске ожидает вручения неделю", "65"),
        # … but the author's own place when a way from it follows, or its people are asked
        ("Ищу попутку из Цивильска до Казани в субботу", "21"),
        ("Может, кто-то из Козловки прочитает? Тётя лежачая, соцработник не ходит", "21"),
    ],
)
def test_a_place_someone_came_from(text: str, code: str) -> None:
    assert resolve(text)[0] == code
