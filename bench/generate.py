"""The synthetic garrison: 21 units, their cells and staff, and years of registers and cases.

    python -m bench.generate --years 1 --items-per-year 500000 --cases-per-year 200000
    python -m bench.generate --years 10 --scale 0.01          # 5,000 items a year

It builds its own organisation (units from units.csv, ~13-17 cells per unit
with nesting, 30-60 staff per unit with every role, a JRWA scheme with ~55
terminal classes) and does not need `garnizon seed`; when the seed has run it
reuses the seed's units, cells and active JRWA scheme. Rows go in with COPY on
PostgreSQL and with executemany on SQLite, in one transaction per chunk; the
gapless counters in `common_sequence` are set to match, so registrations made
afterwards through the services continue the numbering without a gap.

On a non-empty incoming register it refuses to run unless --append is given;
--append puts the new years *before* the oldest item already loaded (so
`--years 1` then `--years 9 --append` gives ten years), continuing each
counter from its current value.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime
import random
import sys
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from garnizon.audit.services import audit_record
from garnizon.cases.deadlines import DeadlineKind, compute_deadline
from garnizon.cases.holidays import is_working_day
from garnizon.cases.models import Assignment, Case, CaseRecordEntry
from garnizon.jrwa.models import Classification, ClassificationScheme
from garnizon.org.models import Cell, CellDesignation, Person, Position, Role, Substitution, Unit
from garnizon.registry.models import Correspondent, IncomingItem

UTC = datetime.UTC
LOCAL = ZoneInfo(settings.TIME_ZONE)
SRC_UNITS_CSV = Path(__file__).resolve().parents[1] / "src" / "garnizon" / "org" / "data"
UNITS_CSV_CANDIDATES = (SRC_UNITS_CSV / "units.csv", Path("/work/shared/data/units.csv"))
BENCH_SCHEME_NAME = "JRWA syntetyczny (benchmark)"
BENCH_USER_PREFIX = "bench."

K = DeadlineKind

# --- the organisation ----------------------------------------------------------------


@dataclass(frozen=True)
class CellTemplate:
    symbol: str
    name: str
    domains: tuple[str, ...]
    weight: float
    children: tuple[CellTemplate, ...] = ()
    head: bool = False  # gets a cell head
    kinds: tuple[str, ...] = ("regional_hq", "city", "county")


def _c(symbol, name, domains, weight, children=(), head=False, kinds=None) -> CellTemplate:
    return CellTemplate(
        symbol,
        name,
        tuple(domains.split()),
        weight,
        tuple(children),
        head,
        tuple(kinds.split()) if kinds else ("regional_hq", "city", "county"),
    )


REGIONAL_CELLS = (
    _c("GK", "Gabinet Komendanta Wojewódzkiego Policji", "general", 2),
    _c(
        "I",
        "Wydział Kontroli",
        "complaints",
        1.5,
        [_c("SWP", "Zespół Skarg, Wniosków i Petycji", "complaints info", 3)],
        head=True,
    ),
    _c("PR", "Wydział Prezydialny", "general", 1, [_c("KAN", "Kancelaria", "registry", 0.3)]),
    _c(
        "WK",
        "Wydział Kryminalny",
        "crime",
        2,
        [
            _c("1", "Sekcja do walki z Przestępczością przeciwko Mieniu", "crime", 3),
            _c("2", "Sekcja do walki z Przestępczością Narkotykową", "crime", 2),
        ],
        head=True,
    ),
    _c(
        "WRD",
        "Wydział Ruchu Drogowego",
        "traffic",
        3,
        [_c("1", "Zespół Nadzoru nad Ruchem Drogowym", "traffic", 2)],
        head=True,
    ),
    _c("WP", "Wydział Prewencji", "prevention", 3, head=True),
    _c("KS", "Wydział Kadr i Szkolenia", "hr", 3, head=True),
    _c("WKS", "Wydział Komunikacji Społecznej", "info", 2, head=True),
    _c("ARCH", "Archiwum", "archive", 0.7),
    _c("WLI", "Wydział Łączności i Informatyki", "it", 1.5, head=True),
    _c("WF", "Wydział Finansów", "finance", 2.5, head=True),
    _c("WZ", "Wydział Zaopatrzenia", "logistics", 2, head=True),
)

LOCAL_CELLS = (
    _c("KIER", "Kierownictwo Komendy", "general complaints info", 2.5),
    _c("KAN", "Kancelaria", "registry", 0.3),
    _c(
        "WK",
        "Wydział Kryminalny",
        "crime",
        2,
        [
            _c("1", "Zespół do walki z Przestępczością przeciwko Mieniu", "crime", 3),
            _c("2", "Zespół do walki z Przestępczością Gospodarczą", "crime", 1.5, kinds="city"),
        ],
        head=True,
    ),
    _c("WDS", "Wydział Dochodzeniowo-Śledczy", "crime", 3, head=True, kinds="city"),
    _c("WRD", "Wydział Ruchu Drogowego", "traffic", 3.5, head=True),
    _c(
        "WP",
        "Wydział Prewencji",
        "prevention",
        2,
        [
            _c("RD", "Rewir Dzielnicowych", "prevention", 2.5),
            _c("OPI", "Ogniwo Patrolowo-Interwencyjne", "prevention", 1.5),
        ],
        head=True,
    ),
    _c("ZK", "Zespół Kadr", "hr", 1.5, head=True),
    _c("ARCH", "Archiwum", "archive", 0.5),
    _c("ZLI", "Zespół Łączności i Informatyki", "it", 1, head=True),
    _c("ZF", "Zespół Finansów", "finance", 1.5, head=True),
    _c("ZZ", "Zespół Zaopatrzenia", "logistics", 1.5, head=True),
)

# Share of the garrison's traffic and head count per unit.
UNIT_WEIGHT = {"KWP": 13.0, "KMP-LU": 17.0, "city": 6.0, "county": 3.25}
UNIT_STAFF = {"KWP": 60, "KMP-LU": 60, "city": 40, "county": 30}
CLERKS = {"KWP": 4, "KMP-LU": 4, "city": 3, "county": 2}

# --- the JRWA scheme (used when no scheme is active yet) ------------------------------

DOMAIN_HEADINGS = {
    "0": ("general", "Zarządzanie i organizacja"),
    "1": ("hr", "Kadry i szkolenie"),
    "2": ("logistics", "Zaopatrzenie i logistyka"),
    "3": ("finance", "Finanse"),
    "4": ("info", "Informacja i komunikacja społeczna"),
    "5": ("prevention", "Prewencja"),
    "6": ("it", "Łączność i informatyka"),
    "7": ("crime", "Służba kryminalna i dochodzeniowa"),
    "8": ("traffic", "Ruch drogowy"),
    "9": ("archive", "Archiwum i dokumentacja"),
}
TERMINAL_CLASSES = (
    ("000", "Regulaminy i schematy organizacyjne", "A"),
    ("001", "Zarządzenia, decyzje i polecenia komendanta", "A"),
    ("002", "Upoważnienia i pełnomocnictwa", "B10"),
    ("010", "Plany pracy i sprawozdania", "A"),
    ("011", "Analizy stanu bezpieczeństwa", "A"),
    ("020", "Współdziałanie z samorządem terytorialnym", "B10"),
    ("021", "Współpraca z innymi instytucjami", "B10"),
    ("050", "Skargi na funkcjonariuszy i pracowników", "A"),
    ("051", "Skargi na działalność jednostki", "A"),
    ("052", "Wnioski obywateli", "A"),
    ("053", "Petycje", "A"),
    ("054", "Zgłoszenia sygnalistów", "A"),
    ("055", "Skargi przekazane według właściwości", "B5"),
    ("100", "Nabór do służby", "B50"),
    ("101", "Akta osobowe funkcjonariuszy", "B50"),
    ("102", "Akta osobowe pracowników", "B50"),
    ("103", "Urlopy i zwolnienia od służby", "B5"),
    ("104", "Szkolenia i doskonalenie zawodowe", "B10"),
    ("105", "Nagrody i wyróżnienia", "B10"),
    ("106", "Postępowania dyscyplinarne", "B50"),
    ("200", "Zamówienia publiczne", "B10"),
    ("201", "Zaopatrzenie materiałowe", "B5"),
    ("202", "Transport i eksploatacja pojazdów", "B5"),
    ("203", "Nieruchomości i remonty", "B10"),
    ("300", "Planowanie budżetu", "A"),
    ("301", "Faktury i rachunki", "B10"),
    ("302", "Rozliczenia i należności", "B10"),
    ("400", "Kontakty z mediami", "BE5"),
    ("401", "Wnioski o udostępnienie informacji publicznej", "B10"),
    ("402", "Odmowy udostępnienia informacji publicznej", "B10"),
    ("403", "Biuletyn Informacji Publicznej i strona internetowa", "B5"),
    ("500", "Służba patrolowa i interwencyjna", "B5"),
    ("501", "Dzielnicowi i programy prewencyjne", "B10"),
    ("502", "Imprezy masowe", "B10"),
    ("503", "Zgromadzenia publiczne", "B10"),
    ("504", "Pozwolenia na broń", "B50"),
    ("505", "Przeciwdziałanie przemocy domowej", "B25"),
    ("506", "Demoralizacja i przestępczość nieletnich", "B25"),
    ("600", "Systemy informatyczne", "B10"),
    ("601", "Uprawnienia do systemów", "B5"),
    ("602", "Łączność radiowa i telefoniczna", "B5"),
    ("700", "Zawiadomienia o przestępstwach", "B25"),
    ("701", "Czynności sprawdzające", "B10"),
    ("702", "Pomoc prawna i wnioski prokuratury", "B10"),
    ("703", "Poszukiwania osób zaginionych", "B50"),
    ("704", "Przestępczość narkotykowa", "B25"),
    ("705", "Przestępczość przeciwko mieniu", "B25"),
    ("706", "Przestępczość gospodarcza", "B25"),
    ("707", "Dowody rzeczowe", "B10"),
    ("800", "Zdarzenia drogowe", "B10"),
    ("801", "Wykroczenia drogowe", "B5"),
    ("802", "Zatrzymane prawa jazdy", "B5"),
    ("803", "Opinie w sprawie organizacji ruchu", "B10"),
    ("804", "Zaświadczenia o zdarzeniach drogowych", "B5"),
    ("900", "Przekazywanie akt do archiwum", "A"),
    ("901", "Udostępnianie dokumentacji archiwalnej", "B10"),
    ("902", "Brakowanie dokumentacji niearchiwalnej", "A"),
)
COMPLAINT_CLASSES = {"050", "051", "052", "053", "054", "055"}

# --- vocabulary ---------------------------------------------------------------------

# Places with their locative ("w Lublinie"), so subjects read as Polish does.
PLACES_IN = {
    "Lublin": "w Lublinie", "Biała Podlaska": "w Białej Podlaskiej", "Chełm": "w Chełmie",
    "Zamość": "w Zamościu", "Biłgoraj": "w Biłgoraju", "Hrubieszów": "w Hrubieszowie",
    "Janów Lubelski": "w Janowie Lubelskim", "Kraśnik": "w Kraśniku",
    "Krasnystaw": "w Krasnymstawie", "Lubartów": "w Lubartowie", "Łęczna": "w Łęcznej",
    "Łuków": "w Łukowie", "Opole Lubelskie": "w Opolu Lubelskim", "Parczew": "w Parczewie",
    "Puławy": "w Puławach", "Radzyń Podlaski": "w Radzyniu Podlaskim", "Świdnik": "w Świdniku",
    "Ryki": "w Rykach", "Tomaszów Lubelski": "w Tomaszowie Lubelskim", "Włodawa": "we Włodawie",
    "Bełżyce": "w Bełżycach", "Bychawa": "w Bychawie", "Kock": "w Kocku",
    "Nałęczów": "w Nałęczowie", "Poniatowa": "w Poniatowej", "Szczebrzeszyn": "w Szczebrzeszynie",
    "Terespol": "w Terespolu", "Dęblin": "w Dęblinie", "Piaski": "w Piaskach",
    "Międzyrzec Podlaski": "w Międzyrzecu Podlaskim", "Kazimierz Dolny": "w Kazimierzu Dolnym",
    "Józefów": "w Józefowie", "Tarnogród": "w Tarnogrodzie", "Zwierzyniec": "w Zwierzyńcu",
}  # fmt: skip
PLACES = tuple(PLACES_IN)
STREETS = (
    "ul. Lipowa", "ul. Narutowicza", "al. Racławickie", "ul. Kościuszki", "ul. Mickiewicza",
    "ul. Zamojska", "ul. Piłsudskiego", "ul. Polna", "ul. Kolejowa", "ul. Ogrodowa",
    "ul. Szkolna", "ul. Długa", "ul. Kwiatowa", "ul. Słoneczna", "ul. Leśna", "ul. Żeromskiego",
    "ul. Sienkiewicza", "ul. Partyzancka", "ul. Lubelska", "ul. Warszawska", "ul. Kraśnicka",
)  # fmt: skip
CRIMES = (
    "kradzieży roweru", "kradzieży z włamaniem do piwnicy", "oszustwa internetowego",
    "oszustwa metodą „na wnuczka”", "uszkodzenia mienia", "kradzieży paliwa",
    "znęcania się nad zwierzętami", "groźby karalnej", "naruszenia nietykalności cielesnej",
    "prowadzenia pojazdu w stanie nietrzeźwości", "przywłaszczenia telefonu",
    "wyłudzenia kredytu", "posiadania środków odurzających", "uporczywego nękania",
    "podrobienia dokumentu", "kradzieży katalizatora", "włamania do samochodu",
    "oszustwa przy sprzedaży internetowej", "kradzieży w sklepie", "zniszczenia elewacji",
)  # fmt: skip
TOPICS = (
    "liczby interwencji domowych w {year} r.", "wydatków na paliwo w {year} r.",
    "stanu etatowego jednostki", "liczby wypadków drogowych na terenie powiatu",
    "monitoringu wizyjnego w miejscowości {place}", "zakupu radiowozów w {year} r.",
    "kosztów szkoleń funkcjonariuszy", "liczby zatrzymanych praw jazdy",
    "statystyki przestępczości w gminie {place}", "czasu dojazdu patroli do interwencji",
    "wyników kontroli prędkości na drodze krajowej", "nagród przyznanych w {year} r.",
)  # fmt: skip
GOODS = (
    "paliwa", "materiałów biurowych", "tonerów do drukarek", "umundurowania", "opon zimowych",
    "sprzętu komputerowego", "środków czystości", "alkomatów", "kamizelek odblaskowych",
    "usług serwisowych radiowozów", "amunicji szkoleniowej", "mebli biurowych",
)  # fmt: skip
EVENTS = (
    "obchody Święta Policji", "debatę społeczną o bezpieczeństwie",
    "konferencję o bezpieczeństwie ruchu drogowego", "ćwiczenia zarządzania kryzysowego",
    "spotkanie z sołtysami gminy", "festyn rodzinny", "akcję „Bezpieczne wakacje”",
)  # fmt: skip
SUBJECTS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "crime": (
        ("Zawiadomienie o podejrzeniu popełnienia przestępstwa {crime}", K.CRIME_NOTIFICATION, 5),
        ("Pismo Prokuratury Rejonowej {in_place} w sprawie {crime}", K.NONE, 3),
        ("Postanowienie o zleceniu czynności w sprawie {crime}", K.NONE, 2),
        ("Wniosek o udzielenie informacji o osobie", K.NONE, 1),
        ("Informacja o zaginięciu osoby w miejscowości {place}", K.NONE, 1),
        ("Wezwanie sądu do doręczenia korespondencji", K.NONE, 1),
    ),
    "traffic": (
        ("Wniosek o zaświadczenie o zdarzeniu drogowym, {street} {in_place}", K.CERTIFICATE, 3),
        ("Zawiadomienie o kolizji drogowej, {street} {in_place}", K.NONE, 3),
        ("Wniosek o zwrot zatrzymanego prawa jazdy", K.KPA_INVESTIGATION, 2),
        ("Odwołanie od decyzji w sprawie zatrzymania prawa jazdy", K.KPA_APPEAL, 1),
        ("Wniosek o opinię do projektu organizacji ruchu {in_place}", K.KPA_INVESTIGATION, 1),
        ("Prośba o kontrolę prędkości na {street} {in_place}", K.COMPLAINT, 2),
        ("Wniosek o udostępnienie nagrania z wideorejestratora", K.NONE, 1),
    ),
    "prevention": (
        ("Prośba o częstsze patrole na {street} {in_place}", K.COMPLAINT, 3),
        ("Zgłoszenie zakłócania ciszy nocnej, {street} {in_place}", K.NONE, 2),
        ("Wniosek o opinię dotyczącą imprezy masowej {in_place}", K.KPA_INVESTIGATION, 1),
        ("Zawiadomienie o zgromadzeniu publicznym {in_place}", K.NONE, 1),
        ("Wniosek o wydanie pozwolenia na broń", K.KPA_COMPLEX, 1),
        ("Formularz „Niebieska Karta” z miejscowości {place}", K.KPA_IMMEDIATE, 2),
        ("Informacja szkoły {in_place} o zagrożeniu demoralizacją nieletnich", K.NONE, 1),
    ),
    "complaints": (
        ("Skarga na postępowanie funkcjonariusza podczas interwencji {in_place}", K.COMPLAINT, 4),
        ("Skarga na przewlekłość postępowania", K.COMPLAINT, 2),
        ("Skarga posła na Sejm RP w sprawie mieszkańca gminy {place}", K.COMPLAINT_MP, 1),
        ("Wniosek w sprawie poprawy bezpieczeństwa {in_place}", K.COMPLAINT, 2),
        ("Petycja mieszkańców gminy {place} w sprawie posterunku Policji", K.PETITION, 1),
        ("Skarga przekazana według właściwości przez Urząd Wojewódzki", K.COMPLAINT_FORWARD, 1),
    ),
    "info": (
        (
            "Wniosek o udostępnienie informacji publicznej w sprawie {topic}",
            K.PUBLIC_INFORMATION,
            5,
        ),
        ("Pytania dziennikarza dotyczące {topic}", K.NONE, 2),
    ),
    "hr": (
        ("Podanie o przyjęcie do służby w Policji", K.KPA_INVESTIGATION, 2),
        ("Wniosek o wydanie zaświadczenia o zatrudnieniu", K.CERTIFICATE, 2),
        ("Zwolnienie lekarskie funkcjonariusza", K.NONE, 3),
        ("Skierowanie na szkolenie specjalistyczne", K.NONE, 2),
        ("Odwołanie od rozkazu personalnego", K.KPA_APPEAL, 1),
    ),
    "finance": (
        ("Faktura VAT nr FV/{n}/{year}", K.NONE, 5),
        ("Wezwanie do zapłaty nr {n}/{year}", K.NONE, 1),
        ("Nota księgowa nr {n}/{year}", K.NONE, 1),
        ("Informacja banku o saldzie rachunku", K.NONE, 1),
    ),
    "logistics": (
        ("Oferta dostawy {goods}", K.NONE, 3),
        ("Protokół odbioru {goods}", K.NONE, 2),
        ("Zapytanie ofertowe na dostawę {goods}", K.NONE, 1),
        ("Reklamacja dostawy {goods}", K.NONE, 1),
    ),
    "it": (
        ("Zgłoszenie awarii łączności radiowej w miejscowości {place}", K.NONE, 2),
        ("Wniosek o nadanie uprawnień do systemu KSIP", K.NONE, 2),
        ("Informacja o aktualizacji oprogramowania", K.NONE, 1),
    ),
    "general": (
        ("Zaproszenie na {event}", K.NONE, 3),
        ("Pismo Urzędu Wojewódzkiego w Lublinie", K.NONE, 2),
        ("Pismo Urzędu Gminy {place} w sprawie współpracy", K.NONE, 2),
        ("Porozumienie o współpracy z gminą {place}", K.NONE, 1),
    ),
    "archive": (
        ("Wniosek o udostępnienie dokumentacji archiwalnej", K.NONE, 2),
        ("Kwerenda archiwalna dotycząca miejscowości {place}", K.NONE, 1),
        ("Protokół przekazania akt do archiwum", K.NONE, 1),
    ),
    "registry": (("Korespondencja ogólna", K.NONE, 1),),
}
FOLLOW_UPS = (
    ("Uzupełnienie wniosku w sprawie {sign}", K.NONE, 4),
    ("Odpowiedź na wezwanie w sprawie {sign}", K.NONE, 3),
    ("Ponaglenie w sprawie {sign}", K.NONE, 1),
    ("Pismo w sprawie {sign}", K.NONE, 4),
    ("Zażalenie w sprawie {sign}", K.KPA_APPEAL, 0.3),
)
WHISTLEBLOWER = ("Zgłoszenie naruszenia prawa (sygnalista)", K.WHISTLEBLOWER_ACK)
CHANNELS = (
    ("paper", 34), ("email", 20), ("epuap", 14), ("edoreczenia", 14),
    ("fax", 4), ("portal", 8), ("in_person", 6),
)  # fmt: skip
MALE = (
    "Adam", "Andrzej", "Bartosz", "Dariusz", "Grzegorz", "Jakub", "Jan", "Kamil", "Krzysztof",
    "Łukasz", "Marcin", "Marek", "Michał", "Paweł", "Piotr", "Robert", "Tomasz", "Wojciech",
    "Zbigniew", "Stanisław", "Henryk", "Mateusz", "Sebastian", "Rafał",
)  # fmt: skip
FEMALE = (
    "Agnieszka", "Anna", "Barbara", "Ewa", "Iwona", "Joanna", "Justyna", "Katarzyna",
    "Magdalena", "Małgorzata", "Marta", "Monika", "Natalia", "Renata", "Sylwia", "Urszula",
    "Zofia", "Beata", "Dorota", "Elżbieta", "Aleksandra",
)  # fmt: skip
SURNAMES = (
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kamiński", "Lewandowski", "Zieliński",
    "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Mazur", "Jankowski", "Kwiatkowski",
    "Krawczyk", "Piotrowski", "Grabowski", "Pawlak", "Michalski", "Król", "Wieczorek",
    "Jabłoński", "Wróbel", "Nowakowski", "Majewski", "Olszewski", "Stępień", "Jaworski",
    "Malinowski", "Adamczyk", "Dudek", "Nowicki", "Sowa", "Kania", "Mróz", "Bielecki",
    "Zając", "Pietrzak", "Sobczak", "Czarnecki", "Kołodziej", "Szewczyk", "Ostrowski",
)  # fmt: skip
INSTITUTIONS = (
    ("public_body", "Prokuratura Rejonowa {in_place}"),
    ("public_body", "Sąd Rejonowy {in_place}"),
    ("public_body", "Urząd Gminy {place}"),
    ("public_body", "Starostwo Powiatowe {in_place}"),
    ("public_body", "Miejski Ośrodek Pomocy Społecznej {in_place}"),
    ("public_body", "Zakład Ubezpieczeń Społecznych, Oddział {in_place}"),
    ("institution", "Szkoła Podstawowa nr {n} {in_place}"),
    ("institution", "Szpital Powiatowy {in_place}"),
    ("institution", "Ochotnicza Straż Pożarna {in_place}"),
    ("institution", "Stowarzyszenie Mieszkańców Gminy {place}"),
    ("company", "{surname} Sp. z o.o."),
    ("company", "PHU {surname}"),
    ("company", "Transport {surname} s.c."),
    ("company", "Auto-Serwis {surname}"),
)


def feminine(surname: str) -> str:
    return surname[:-1] + "a" if surname.endswith(("ski", "cki", "dzki")) else surname


def person_name(rng: random.Random) -> tuple[str, str]:
    surname = rng.choice(SURNAMES)
    if rng.random() < 0.5:
        return rng.choice(FEMALE), feminine(surname)
    return rng.choice(MALE), surname


def fill(template: str, rng: random.Random, year: int, **extra: str) -> str:
    place = extra.pop("place", None) or rng.choice(PLACES)
    values = {
        "place": place,
        "in_place": PLACES_IN[place],
        "street": rng.choice(STREETS),
        "crime": rng.choice(CRIMES),
        "goods": rng.choice(GOODS),
        "event": rng.choice(EVENTS),
        "n": str(rng.randint(1, 2400)),
        "year": str(year),
        "surname": rng.choice(SURNAMES),
        **extra,
    }
    if "{topic}" in template:
        values["topic"] = rng.choice(TOPICS).format(**values)
    return template.format(**values)


class Picker:
    """Weighted choice by bisecting cumulative weights (faster than rng.choices per call)."""

    def __init__(self, items: list[Any], weights: list[float]) -> None:
        self.items = items
        self.cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)
        self.total = total

    def __call__(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


# --- organisation objects ----------------------------------------------------------------


@dataclass
class CellInfo:
    id: int
    unit_id: int
    label: str  # default designation, KWP-WK-1
    domains: tuple[str, ...]
    weight: float
    workers: list[int] = field(default_factory=list)  # people who handle matters here
    head: int | None = None
    classes: Picker | None = None


@dataclass
class UnitInfo:
    id: int
    symbol: str
    weight: float
    cells: list[CellInfo] = field(default_factory=list)
    clerks: list[int] = field(default_factory=list)
    by_domain: dict[str, Picker] = field(default_factory=dict)
    domains: Picker | None = None
    complaints_cell: CellInfo | None = None


@dataclass
class Org:
    units: list[UnitInfo]
    unit_picker: Picker
    people: dict[int, tuple[str, str, str]]  # id -> (full name, position title, initials)
    classes: dict[int, str]  # classification id -> symbol
    scheme: ClassificationScheme


def units_csv() -> Path:
    for path in UNITS_CSV_CANDIDATES:
        if path.exists():
            return path
    raise SystemExit("units.csv not found in " + ", ".join(map(str, UNITS_CSV_CANDIDATES)))


def build_units() -> list[Unit]:
    with units_csv().open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    units: dict[str, Unit] = {}
    for row in rows:  # the file lists each superior before its subordinates
        unit, _ = Unit.objects.get_or_create(
            symbol=row["symbol"].strip(),
            defaults={
                "name": row["name"].strip(),
                "kind": row["kind"].strip(),
                "seat": row["seat"].strip(),
                "superior": units.get(row["superior"].strip()),
                "latitude": row["lat"] or None,
                "longitude": row["lon"] or None,
            },
        )
        units[unit.symbol] = unit
    return list(units.values())


def build_cells(unit: Unit) -> list[tuple[Cell, CellTemplate]]:
    templates = REGIONAL_CELLS if unit.kind == "regional_hq" else LOCAL_CELLS
    out: list[tuple[Cell, CellTemplate]] = []

    def walk(specs: tuple[CellTemplate, ...], parent: Cell | None) -> None:
        for spec in specs:
            if unit.kind not in spec.kinds:
                continue
            cell = Cell.objects.filter(unit=unit, parent=parent, symbol=spec.symbol).first()
            if cell is None:
                cell = Cell(unit=unit, parent=parent, symbol=spec.symbol, name=spec.name)
                cell.save()
            out.append((cell, spec))
            walk(spec.children, cell)

    walk(templates, None)
    return out


def build_scheme() -> ClassificationScheme:
    """The active scheme, or a synthetic one (activated) when none is active."""
    scheme = ClassificationScheme.objects.filter(is_active=True).first()
    if scheme is not None:
        return scheme
    scheme, _ = ClassificationScheme.objects.get_or_create(
        name=BENCH_SCHEME_NAME,
        version="1",
        defaults={"valid_from": datetime.date(2010, 1, 1), "is_example": True, "is_active": True},
    )
    if not scheme.is_active:
        scheme.is_active = True
        scheme.save(update_fields=["is_active"])
    by_symbol = {c.symbol: c for c in scheme.classes.all()}

    def ensure(symbol: str, heading: str, terminal: bool, category: str) -> None:
        if symbol in by_symbol:
            return
        by_symbol[symbol] = Classification.objects.create(
            scheme=scheme,
            parent=by_symbol.get(symbol[:-1]),
            symbol=symbol,
            heading=heading,
            is_terminal=terminal,
            category_owner=category,
            category_other="Bc" if category else "",
        )

    for symbol, heading, category in TERMINAL_CLASSES:
        ensure(symbol[0], DOMAIN_HEADINGS[symbol[0]][1], False, "")
        ensure(symbol[:2], f"{DOMAIN_HEADINGS[symbol[0]][1]}: grupa {symbol[:2]}", False, "")
        ensure(symbol, heading, True, category)
    return scheme


def domain_of_class(symbol: str, index: int) -> str:
    if symbol in COMPLAINT_CLASSES:
        return "complaints"
    if symbol[0] in DOMAIN_HEADINGS and len(symbol) >= 3:
        return DOMAIN_HEADINGS[symbol[0]][0]
    return list(SUBJECTS)[index % len(SUBJECTS)]


def build_org(rng: random.Random) -> Org:
    """Units, cells, staff and the JRWA scheme: created when missing, else reused."""
    with transaction.atomic():
        units = build_units()
        scheme = build_scheme()
        terminal = list(scheme.classes.filter(is_terminal=True).order_by("symbol"))
        classes_by_domain: dict[str, list[Classification]] = defaultdict(list)
        for index, cls in enumerate(terminal):
            classes_by_domain[domain_of_class(cls.symbol, index)].append(cls)
        existing = set(
            Person.objects.filter(username__startswith=BENCH_USER_PREFIX).values_list(
                "unit_id", flat=True
            )
        )
        unit_infos: list[UnitInfo] = []
        password = make_password(None)  # unusable: bench people never log in
        for unit in units:
            key = unit.symbol if unit.symbol in UNIT_WEIGHT else unit.kind
            info = UnitInfo(id=unit.pk, symbol=unit.symbol, weight=UNIT_WEIGHT[key])
            cells = build_cells(unit)
            for cell, spec in cells:
                cell_info = CellInfo(
                    id=cell.pk,
                    unit_id=unit.pk,
                    label=cell.default_designation(),
                    domains=spec.domains,
                    weight=spec.weight,
                )
                pool = [c for d in spec.domains for c in classes_by_domain.get(d, [])]
                pool = pool or [c for c in terminal if c.symbol[0] == "0"] or terminal
                cell_info.classes = Picker(pool, [rng.random() ** 2 + 0.05 for _ in pool])
                info.cells.append(cell_info)
                if "complaints" in spec.domains and (
                    info.complaints_cell is None or len(spec.domains) < 2
                ):
                    info.complaints_cell = cell_info
            if unit.pk not in existing:
                _create_staff(unit, key, cells, password, rng)
            unit_infos.append(info)
        _create_substitutions(rng)

    people: dict[int, tuple[str, str, str]] = {}
    cell_by_id = {c.id: c for u in unit_infos for c in u.cells}
    unit_by_id = {u.id: u for u in unit_infos}
    positions = Position.objects.active().select_related("person", "cell", "cell__unit")
    for position in positions.order_by("id"):
        person = position.person
        if person.pk not in people:
            people[person.pk] = (
                person.get_full_name() or person.username,
                f"{position.title}, {position.cell.default_designation()}",
                f"{person.first_name[:1]}{person.last_name[:1]}".upper(),
            )
        cell = cell_by_id.get(position.cell_id)
        if cell is None:  # a cell the generator does not fill (e.g. one added by hand)
            continue
        if position.role == Role.REGISTRY_CLERK:
            unit_by_id[cell.unit_id].clerks.append(person.pk)
        elif position.role == Role.CELL_HEAD:
            cell.head = cell.head or person.pk
            cell.workers.append(person.pk)
        elif position.role in (Role.CASE_HANDLER, Role.ARCHIVIST):
            cell.workers.append(person.pk)
    for info in unit_infos:
        info.cells = [c for c in info.cells if c.workers or "registry" in c.domains]
        if not info.clerks:
            raise SystemExit(f"Unit {info.symbol} has no registry clerk")
        handling = [c for c in info.cells if c.workers]
        domain_weights: dict[str, float] = defaultdict(float)
        for domain in SUBJECTS:
            cells = [c for c in handling if domain in c.domains]
            if cells:
                info.by_domain[domain] = Picker(cells, [c.weight for c in cells])
                domain_weights[domain] = sum(c.weight / len(c.domains) for c in cells)
        info.domains = Picker(list(domain_weights), list(domain_weights.values()))
        if info.complaints_cell is None or not info.complaints_cell.workers:
            info.complaints_cell = handling[0]
    return Org(
        units=unit_infos,
        unit_picker=Picker(unit_infos, [u.weight for u in unit_infos]),
        people=people,
        classes={c.pk: c.symbol for c in terminal},
        scheme=scheme,
    )


def _create_staff(
    unit: Unit,
    key: str,
    cells: list[tuple[Cell, CellTemplate]],
    password: str,
    rng: random.Random,
) -> None:
    """Every role in the unit: commander, clerks, heads, archivist, admin, auditor, handlers."""
    regional = unit.kind == "regional_hq"
    top = cells[0][0]  # GK or KIER
    kan = next(cell for cell, spec in cells if spec.symbol == "KAN")
    arch = next(cell for cell, spec in cells if spec.symbol == "ARCH")
    it_cell = next(cell for cell, spec in cells if "it" in spec.domains)
    audit_cell = next((c for c, s in cells if s.symbol == "I" and c.parent_id is None), top)
    commander = {
        "regional_hq": "Komendant Wojewódzki Policji",
        "city": "Komendant Miejski Policji",
        "county": "Komendant Powiatowy Policji",
    }[unit.kind]
    plan: list[tuple[Cell, str, str, bool]] = [(top, commander, Role.UNIT_COMMANDER, regional)]
    plan += [(kan, "Referent Kancelarii", Role.REGISTRY_CLERK, False)] * CLERKS[key]
    plan += [
        (cell, f"Naczelnik: {cell.name}", Role.CELL_HEAD, False)
        for cell, spec in cells
        if spec.head
    ]
    plan += [
        (arch, "Archiwista", Role.ARCHIVIST, regional),
        (it_cell, "Administrator systemu", Role.ADMINISTRATOR, False),
        (audit_cell, "Audytor wewnętrzny", Role.AUDITOR, regional),
    ]
    handling = [(cell, spec) for cell, spec in cells if "registry" not in spec.domains]
    handling = [(cell, spec) for cell, spec in handling if spec.symbol != "ARCH"]
    left = max(UNIT_STAFF[key] - len(plan), len(handling))
    plan += [(cell, "Specjalista", Role.CASE_HANDLER, False) for cell, _ in handling]
    extra = Picker([c for c, _ in handling], [s.weight for _, s in handling])
    plan += [
        (extra(rng), "Specjalista", Role.CASE_HANDLER, False) for _ in range(left - len(handling))
    ]
    people = []
    for index, _ in enumerate(plan, start=1):
        first, last = person_name(rng)
        people.append(
            Person(
                username=f"{BENCH_USER_PREFIX}{unit.symbol.lower()}.{index:03d}",
                first_name=first,
                last_name=last,
                unit=unit,
                password=password,
                email=f"{unit.symbol.lower()}.{index:03d}@example.policja.gov.pl",
            )
        )
    Person.objects.bulk_create(people)
    people = list(Person.objects.filter(username__in=[p.username for p in people]))
    people.sort(key=lambda p: p.username)
    Position.objects.bulk_create(
        Position(
            person=person,
            cell=cell,
            title=title,
            role=role,
            garrison_wide=wide,
            valid_from=datetime.date(2000, 1, 1),
        )
        for person, (cell, title, role, wide) in zip(people, plan, strict=True)
    )


def _create_substitutions(rng: random.Random) -> None:
    """One current substitution per unit between two handlers of the same cell."""
    if Substitution.objects.filter(absent__username__startswith=BENCH_USER_PREFIX).exists():
        return
    today = timezone.localdate()
    by_cell: dict[int, list[int]] = defaultdict(list)
    for cell_id, person_id in Position.objects.filter(
        role=Role.CASE_HANDLER, person__username__startswith=BENCH_USER_PREFIX
    ).values_list("cell_id", "person_id"):
        by_cell[cell_id].append(person_id)
    seen_units: set[int] = set()
    for cell in Cell.objects.filter(pk__in=list(by_cell)).order_by("id"):
        if cell.unit_id in seen_units or len(by_cell[cell.pk]) < 2:
            continue
        seen_units.add(cell.unit_id)
        absent, substitute = rng.sample(by_cell[cell.pk], 2)
        Substitution.objects.create(
            absent_id=absent,
            substitute_id=substitute,
            date_from=today - datetime.timedelta(days=7),
            date_to=today + datetime.timedelta(days=14),
            reason="urlop wypoczynkowy",
        )


# --- writing rows ------------------------------------------------------------------------

ITEM_COLS = (
    "id", "unit_id", "year", "number", "registration_number", "received_at", "channel",
    "subject", "sender_id", "sender_name", "letter_date", "letter_reference",
    "attachments_count", "kind", "due_date", "deadline_basis", "deadline_explanation",
    "assigned_cell_id", "assigned_person_id", "case_id", "paper_location", "remarks",
    "is_restricted", "registered_by_id", "registered_at", "client_token",
)  # fmt: skip
CASE_COLS = (
    "id", "unit_id", "cell_id", "classification_id", "year", "number", "sign", "subject",
    "correspondent_id", "correspondent_name", "state", "kind", "handler_id", "opened_on",
    "closed_on", "due_date", "deadline_basis", "deadline_explanation", "is_restricted",
    "remarks", "created_by_id", "created_at", "client_token",
)  # fmt: skip
ASSIGN_COLS = (
    "id", "incoming_item_id", "case_id", "to_cell_id", "to_person_id", "method", "deadline",
    "note", "parent_id", "assigned_by_id", "on_behalf_of_id", "assigned_at", "is_current",
)  # fmt: skip
RECORD_COLS = (
    "id", "case_id", "occurred_at", "actor_id", "actor_name", "actor_position",
    "on_behalf_of_id", "on_behalf_of_name", "action", "description", "document_ref",
)  # fmt: skip
CORR_COLS = (
    "id", "kind", "name", "street", "postal_code", "city", "country", "email", "phone",
    "edoreczenia_address", "tax_id", "unit_id", "created_at",
)  # fmt: skip
TABLES = {
    IncomingItem: ITEM_COLS,
    Case: CASE_COLS,
    Assignment: ASSIGN_COLS,
    CaseRecordEntry: RECORD_COLS,
    Correspondent: CORR_COLS,
}


def check_columns() -> None:
    """Fail early if a model gained or lost a column the loader does not know about."""
    for model, cols in TABLES.items():
        actual = {f.column for f in model._meta.concrete_fields}
        if actual != set(cols):
            raise SystemExit(
                f"{model._meta.db_table}: columns changed; missing {actual - set(cols)}, "
                f"unknown {set(cols) - actual}. Update bench/generate.py."
            )


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


class Writer:
    """COPY on PostgreSQL, executemany on SQLite; counts rows per table."""

    def __init__(self) -> None:
        self.vendor = connection.vendor
        self.counts: dict[str, int] = defaultdict(int)
        self.seconds = 0.0

    def write(self, model: type, rows: list[tuple]) -> None:
        if not rows:
            return
        table = model._meta.db_table
        cols = TABLES[model]
        started = time.perf_counter()
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(cols))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                    [tuple(_sqlite_value(v) for v in row) for row in rows],
                )
        self.seconds += time.perf_counter() - started
        self.counts[table] += len(rows)


def next_id(model: type) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {model._meta.db_table}")
        return int(cursor.fetchone()[0]) + 1


# --- the generator -----------------------------------------------------------------------


@dataclass
class RecentCase:
    id: int
    sign: str
    cell: CellInfo
    handler: int | None
    restricted: bool


class Generator:
    def __init__(self, org: Org, args: argparse.Namespace, rng: random.Random) -> None:
        self.org = org
        self.args = args
        self.rng = rng
        self.writer = Writer()
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.deadlines: dict[tuple[str, datetime.date], tuple] = {}
        self.channels = Picker([c for c, _ in CHANNELS], [w for _, w in CHANNELS])
        self.subjects = {d: Picker(list(t), [w for _, _, w in t]) for d, t in SUBJECTS.items()}
        self.follow_ups = Picker(list(FOLLOW_UPS), [w for _, _, w in FOLLOW_UPS])
        self.rpw = self._counters("rpw:")
        self.case_numbers = self._counters("case:")
        self.designations = {
            (cell_id, year): designation
            for cell_id, year, designation in CellDesignation.objects.values_list(
                "cell_id", "year", "designation"
            )
        }
        self.recent: dict[int, deque[RecentCase]] = defaultdict(lambda: deque(maxlen=400))
        self.item_id = next_id(IncomingItem)
        self.case_id = next_id(Case)
        self.assign_id = next_id(Assignment)
        self.record_id = next_id(CaseRecordEntry)
        self.buffers: dict[type, list[tuple]] = {m: [] for m in TABLES}
        self.senders: list[tuple[int, str, str]] = []

    @staticmethod
    def _counters(prefix: str) -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, value FROM common_sequence WHERE name LIKE %s", [prefix + "%"]
            )
            return defaultdict(int, {name: int(value) for name, value in cursor.fetchall()})

    # -- address book ---------------------------------------------------------------------
    def make_correspondents(self, count: int) -> None:
        rng = self.rng
        next_corr = next_id(Correspondent)
        rows = []
        for i in range(count):
            cid = next_corr + i
            street = f"{rng.choice(STREETS)} {rng.randint(1, 120)}"
            postal = f"{rng.randint(20, 24)}-{rng.randint(0, 999):03d}"
            place = rng.choice(PLACES)
            edor = email = tax = phone = ""
            if rng.random() < 0.55:
                first, last = person_name(rng)
                kind, name = "person", f"{first} {last}"
                if rng.random() < 0.4:
                    email = f"{_ascii(first)}.{_ascii(last)}{rng.randint(1, 99)}@example.pl"
                if rng.random() < 0.3:
                    phone = f"+48 {rng.randint(500, 899)} {rng.randint(100, 999)} 0{i % 100:02d}"
            else:
                kind, template = rng.choice(INSTITUTIONS)
                name = fill(template, rng, 2000, place=place)
                email = f"sekretariat{cid}@example.gov.pl"
                if kind == "public_body" or rng.random() < 0.3:
                    edor = (
                        f"AE:PL-{rng.randint(10000, 99999)}-{rng.randint(10000, 99999)}-"
                        f"{''.join(rng.choice('ABCDEFGHJKLMNPRSTUWXYZ') for _ in range(5))}-"
                        f"{rng.randint(10, 99)}"
                    )
                if kind == "company":
                    tax = str(rng.randint(10**9, 10**10 - 1))
            rows.append(
                (
                    cid,
                    kind,
                    name[:300],
                    street,
                    postal,
                    place,
                    "PL",
                    email,
                    phone,
                    edor,
                    tax,
                    None,
                    self.now,
                )
            )
            self.senders.append((cid, name[:300], kind))
        with transaction.atomic():
            self.writer.write(Correspondent, rows)

    # -- deadlines and signs -----------------------------------------------------------------
    def deadline(self, kind: str, start: datetime.date) -> tuple:
        key = (kind, start)
        hit = self.deadlines.get(key)
        if hit is None:
            d = compute_deadline(kind, start)
            hit = self.deadlines[key] = (d.due_date, d.basis, d.explanation)
        return hit

    def sign(self, cell: CellInfo, symbol: str, number: int, year: int, handler: int | None):
        return settings.GARNIZON_CASE_SIGN_TEMPLATE.format(
            CELL=self.designations.get((cell.id, year), cell.label),
            JRWA=symbol,
            NUMBER=number,
            YEAR=year,
            INITIALS=self.org.people[handler][2] if handler else "",
        ).rstrip(".")

    # -- one case ----------------------------------------------------------------------------
    def open_case(
        self,
        unit: UnitInfo,
        cell: CellInfo,
        handler: int | None,
        subject: str,
        kind: str,
        received_at: datetime.datetime,
        sender: tuple[int | None, str],
        restricted: bool,
        item: tuple[int, str] | None,
    ) -> RecentCase:
        rng = self.rng
        start = received_at.astimezone(LOCAL)
        delay = datetime.timedelta(days=rng.choice((0, 0, 1, 1, 2, 3)), hours=rng.randint(1, 5))
        created_at = min(start + delay, self.now)
        if created_at.year != start.year:
            created_at = start
        opened_on = created_at.astimezone(LOCAL).date()
        year = opened_on.year
        cls = cell.classes(rng)
        if restricted:
            complaint = [c for c in cell.classes.items if c.symbol in COMPLAINT_CLASSES]
            cls = complaint[-1] if complaint else cls
        key = f"case:{cell.id}:{cls.symbol}:{year}"
        self.case_numbers[key] += 1
        number = self.case_numbers[key]
        sign = self.sign(cell, cls.symbol, number, year, handler)
        due, basis, explanation = self.deadline(kind, start.date())
        age = (self.today - opened_on).days
        closed_share = 0.93 if age > 120 else 0.6 if age > 30 else 0.15
        r = rng.random()
        closed_on = None
        if r < closed_share:
            state = "closed"
            closed_on = opened_on + datetime.timedelta(days=rng.randint(0, max(0, min(age, 90))))
        elif r < closed_share + 0.03:
            state = "suspended"
        elif r < closed_share + 0.04 and age > 60:
            state = "reopened"
        else:
            state = "open"
        case_id = self.case_id
        self.case_id += 1
        actor = handler or self.rng.choice(cell.workers)
        self.buffers[Case].append(
            (
                case_id,
                unit.id,
                cell.id,
                cls.pk,
                year,
                number,
                sign,
                subject[:500],
                sender[0],
                sender[1],
                state,
                kind,
                handler,
                opened_on,
                closed_on,
                due,
                basis,
                explanation,
                restricted,
                "",
                actor,
                created_at,
                None,
            )
        )
        name, position, _ = self.org.people[actor]
        self._record(
            case_id,
            created_at,
            actor,
            name,
            position,
            "opened",
            f"Wszczęto sprawę {sign}: {subject[:200]}",
            "",
        )
        if item is not None:
            self._record(
                case_id,
                created_at,
                actor,
                name,
                position,
                "item_attached",
                f"Przesyłka {item[1]}",
                item[1],
            )
        recent = RecentCase(case_id, sign, cell, handler, restricted)
        if not restricted:
            self.recent[unit.id].append(recent)
        return recent

    def _record(self, case_id, at, actor, name, position, action, description, ref) -> None:
        self.buffers[CaseRecordEntry].append(
            (self.record_id, case_id, at, actor, name, position, None, "", action, description, ref)
        )
        self.record_id += 1

    # -- one incoming item -------------------------------------------------------------------
    def item(self, received_at: datetime.datetime, p_open: float, p_follow: float) -> None:
        rng = self.rng
        org = self.org
        unit: UnitInfo = org.unit_picker(rng)
        local = received_at.astimezone(LOCAL)
        received_on = local.date()
        year = received_on.year
        key = f"rpw:{unit.id}:{year}"
        self.rpw[key] += 1
        number = self.rpw[key]
        item_id = self.item_id
        self.item_id += 1
        registration_number = f"{unit.symbol}/RPW/{number}/{year}"
        clerk = rng.choice(unit.clerks)
        registered_at = min(received_at + datetime.timedelta(minutes=rng.randint(1, 90)), self.now)

        # sender: from the address book (60 %) or a name typed in
        if self.senders and rng.random() < 0.6:
            sender_id, sender_name, sender_kind = rng.choice(self.senders)
        else:
            first, last = person_name(rng)
            sender_id, sender_name, sender_kind = None, f"{first} {last}", "person"

        restricted = rng.random() < 0.0008
        case_id = None
        r = rng.random()
        follow = None
        if not restricted and r < p_follow and self.recent[unit.id]:
            follow = rng.choice(self.recent[unit.id])
        if restricted:
            cell = unit.complaints_cell
            person = cell.head or rng.choice(cell.workers)
            subject, kind = WHISTLEBLOWER
            opens = True
        elif follow is not None:
            cell, person = follow.cell, follow.handler or rng.choice(follow.cell.workers)
            template, kind, _ = self.follow_ups(rng)
            subject = template.format(sign=follow.sign)
            case_id = follow.id
            opens = False
        else:
            domain = unit.domains(rng)
            template, kind, _ = self.subjects[domain](rng)
            subject = fill(template, rng, year)
            opens = r < p_follow + p_open
            if not opens and rng.random() < 0.08:
                cell = person = None  # registered only (for information, no handling)
            else:
                cell = unit.by_domain[domain](rng)
                person = rng.choice(cell.workers) if opens or rng.random() < 0.6 else None
        due, basis, explanation = self.deadline(kind, received_on)
        if opens:
            case = self.open_case(
                unit,
                cell,
                person,
                subject,
                kind,
                received_at,
                (sender_id, sender_name),
                restricted,
                (item_id, registration_number),
            )
            case_id = case.id
        elif follow is not None:
            at = min(registered_at + datetime.timedelta(hours=rng.randint(2, 48)), self.now)
            actor = person
            name, position, _ = org.people[actor]
            self._record(
                case_id,
                at,
                actor,
                name,
                position,
                "item_attached",
                f"Przesyłka {registration_number}",
                registration_number,
            )

        channel = self.channels(rng)
        letter_date = None
        if sender_kind != "person" or rng.random() < 0.4:
            letter_date = received_on - datetime.timedelta(days=rng.randint(0, 10))
        letter_reference = ""
        if sender_kind != "person":
            prefix = rng.choice(("WA", "OR", "PR 1 Ds.", "SO", "GK"))
            letter_reference = f"{prefix}.{rng.randint(1, 9999)}.{year}"
        paper_location = ""
        if channel == "paper" and rng.random() < 0.3:
            paper_location = f"Kancelaria, segregator {rng.randint(1, 60)}/{year}"
        self.buffers[IncomingItem].append(
            (
                item_id,
                unit.id,
                year,
                number,
                registration_number,
                received_at,
                channel,
                subject[:500],
                sender_id,
                sender_name,
                letter_date,
                letter_reference,
                rng.choice((None, 0, 0, 1, 1, 2, 3)),
                kind,
                due,
                basis,
                explanation,
                cell.id if cell else None,
                person,
                case_id,
                paper_location,
                "",
                restricted,
                clerk,
                registered_at,
                None,
            )
        )
        if cell is not None:
            at = min(registered_at + datetime.timedelta(minutes=rng.randint(5, 240)), self.now)
            first_id = self.assign_id
            self.buffers[Assignment].append(
                (
                    first_id,
                    item_id,
                    None,
                    cell.id,
                    None,
                    "handle",
                    None,
                    "",
                    None,
                    clerk,
                    None,
                    at,
                    person is None,
                )
            )
            self.assign_id += 1
            if person is not None:
                by = cell.head or clerk
                self.buffers[Assignment].append(
                    (
                        self.assign_id,
                        item_id,
                        None,
                        cell.id,
                        person,
                        "handle",
                        None,
                        "Proszę o załatwienie." if rng.random() < 0.3 else "",
                        first_id,
                        by,
                        None,
                        min(at + datetime.timedelta(hours=2), self.now),
                        True,
                    )
                )
                self.assign_id += 1
            if not restricted and rng.random() < 0.04 and len(cell.workers) > 1:
                other = rng.choice(cell.workers)
                self.buffers[Assignment].append(
                    (
                        self.assign_id,
                        item_id,
                        None,
                        cell.id,
                        other,
                        "inform",
                        None,
                        "",
                        None,
                        cell.head or clerk,
                        None,
                        at,
                        True,
                    )
                )
                self.assign_id += 1

    def ex_officio(self, at: datetime.datetime) -> None:
        rng = self.rng
        unit: UnitInfo = self.org.unit_picker(rng)
        domain = unit.domains(rng)
        template, _kind, _ = self.subjects[domain](rng)
        cell = unit.by_domain[domain](rng)
        subject = "Z urzędu: " + fill(template, rng, at.year)
        self.open_case(
            unit, cell, rng.choice(cell.workers), subject, K.NONE, at, (None, ""), False, None
        )

    # -- the stream --------------------------------------------------------------------------
    def flush(self) -> None:
        with transaction.atomic():
            if connection.vendor == "postgresql" and self.args.fast:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL session_replication_role = replica")
            for model in (Case, IncomingItem, Assignment, CaseRecordEntry):
                self.writer.write(model, self.buffers[model])
                self.buffers[model] = []

    def run(self, start: datetime.date, end: datetime.date, items: int, cases: int) -> None:
        """Items and cases for the local days [start, end), chronologically."""
        rng = self.rng
        days = [start + datetime.timedelta(days=i) for i in range((end - start).days)]
        weights = [
            (1.15 if d.weekday() == 0 else 0.9 if d.weekday() == 4 else 1.0)
            if is_working_day(d)
            else 0.04
            for d in days
        ]
        total_w = sum(weights)
        # cases: 90 % opened from an item, 10 % ex officio; 70 % of items end up in a case
        ex_share = 0.1
        p_open = cases * (1 - ex_share) / max(items, 1)
        p_follow = max(0.0, 0.7 - p_open)
        p_ex = cases * ex_share / max(items, 1)
        done = 0
        acc = 0.0
        started = time.perf_counter()
        last_report = started
        for day, w in zip(days, weights, strict=True):
            acc += items * w / total_w
            n = round(acc) - done
            if n <= 0:
                continue
            done += n
            day_start = datetime.datetime.combine(day, datetime.time(7, 0), LOCAL)
            span = 9 * 3600 if is_working_day(day) else 6 * 3600
            for second in sorted(rng.randrange(span) for _ in range(n)):
                at = (day_start + datetime.timedelta(seconds=second)).astimezone(UTC)
                if at > self.now:
                    continue
                self.item(at, p_open, p_follow)
                if rng.random() < p_ex:
                    self.ex_officio(at)
            if len(self.buffers[IncomingItem]) >= self.args.chunk:
                self.flush()
                now = time.perf_counter()
                if now - last_report > 10:
                    last_report = now
                    rate = sum(self.writer.counts.values()) / (now - started)
                    print(f"  {day}: {done:,} items, {rate:,.0f} rows/s", flush=True)
        self.flush()


def _ascii(text: str) -> str:
    table = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
    return text.translate(table).lower()


# --- after loading ---------------------------------------------------------------------


def set_sequences() -> int:
    """Set every rpw:/case: counter to the highest number loaded (never lowering one)."""
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT unit_id, year, MAX(number) FROM registry_incomingitem GROUP BY unit_id, year"
        )
        rows = [(f"rpw:{u}:{y}", n) for u, y, n in cursor.fetchall()]
        cursor.execute(
            "SELECT c.cell_id, j.symbol, c.year, MAX(c.number) FROM cases_case c "
            "JOIN jrwa_classification j ON j.id = c.classification_id "
            "GROUP BY c.cell_id, j.symbol, c.year"
        )
        rows += [(f"case:{c}:{s}:{y}", n) for c, s, y, n in cursor.fetchall()]
        cursor.executemany(
            "INSERT INTO common_sequence (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = "
            f"{greatest}(common_sequence.value, excluded.value)",
            rows,
        )
    return len(rows)


def reset_identities() -> None:
    if connection.vendor != "postgresql":
        return  # SQLite's AUTOINCREMENT follows explicit ids by itself
    statements = connection.ops.sequence_reset_sql(no_style(), list(TABLES))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def check_gapless() -> list[str]:
    """Numbers 1..max with no gap and no duplicate per (unit, year) and per case list."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT unit_id, year, COUNT(*), COUNT(DISTINCT number), MAX(number) "
            "FROM registry_incomingitem GROUP BY unit_id, year"
        )
        for unit_id, year, count, distinct, top in cursor.fetchall():
            if not count == distinct == top:
                problems.append(
                    f"rpw {unit_id}/{year}: {count} rows, {distinct} numbers, max {top}"
                )
        cursor.execute(
            "SELECT cell_id, classification_id, year, COUNT(*), COUNT(DISTINCT number), "
            "MAX(number) FROM cases_case GROUP BY cell_id, classification_id, year"
        )
        for cell_id, cls, year, count, distinct, top in cursor.fetchall():
            if not count == distinct == top:
                problems.append(f"case {cell_id}/{cls}/{year}: {count}, {distinct}, max {top}")
    return problems


def check_references(first_ids: dict[type, int]) -> list[str]:
    """Foreign keys of the loaded rows (they went in with the triggers off)."""
    problems = []
    with connection.cursor() as cursor:
        for model, first_id in first_ids.items():
            table = model._meta.db_table
            for f in model._meta.concrete_fields:
                if not f.is_relation or not f.db_constraint:
                    continue
                ref = f.related_model._meta.db_table
                cursor.execute(
                    f"SELECT COUNT(*) FROM {table} t LEFT JOIN {ref} r ON r.id = t.{f.column} "
                    f"WHERE t.id >= %s AND t.{f.column} IS NOT NULL AND r.id IS NULL",
                    [first_id],
                )
                if missing := cursor.fetchone()[0]:
                    problems.append(f"{table}.{f.column}: {missing} dangling")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=float, default=1.0)
    parser.add_argument("--items-per-year", type=int, default=500_000)
    parser.add_argument("--cases-per-year", type=int, default=200_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies both rates")
    parser.add_argument("--append", action="store_true", help="add years before existing data")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--chunk", type=int, default=50_000, help="items per transaction")
    parser.add_argument(
        "--safe",
        dest="fast",
        action="store_false",
        help="PostgreSQL: keep foreign-key triggers on while loading (slower)",
    )
    args = parser.parse_args(argv)
    check_columns()
    rng = random.Random(args.seed)
    items_per_year = int(args.items_per_year * args.scale)
    cases_per_year = int(args.cases_per_year * args.scale)
    total_items = int(items_per_year * args.years)
    total_cases = int(cases_per_year * args.years)

    oldest = IncomingItem.objects.order_by("received_at").values_list("received_at", flat=True)
    oldest = oldest.first()
    if oldest is not None and not args.append:
        print(
            f"The incoming register already holds {IncomingItem.objects.count():,} items; "
            "use --append to add years before them, or start from an empty database.",
            file=sys.stderr,
        )
        return 2
    vendor = connection.vendor
    print(f"Database: {vendor} {connection.settings_dict['NAME']}")
    t0 = time.perf_counter()
    org = build_org(rng)
    print(
        f"Organisation: {len(org.units)} units, {sum(len(u.cells) for u in org.units)} cells, "
        f"{len(org.people)} people with positions, scheme {org.scheme} "
        f"({len(org.classes)} terminal classes) [{time.perf_counter() - t0:.1f} s]"
    )
    end = timezone.localdate(oldest) if oldest is not None else timezone.localdate()
    if oldest is None:
        end += datetime.timedelta(days=1)  # include today up to now
    start = end - datetime.timedelta(days=round(365.25 * args.years))
    gen = Generator(org, args, rng)
    first_ids = {m: next_id(m) for m in TABLES}
    gen.make_correspondents(min(100_000, max(300, total_items // 50)))
    print(
        f"Generating {start} .. {end - datetime.timedelta(days=1)}: ~{total_items:,} items, "
        f"~{total_cases:,} cases"
    )
    t1 = time.perf_counter()
    gen.run(start, end, total_items, total_cases)
    load_s = time.perf_counter() - t1
    total_rows = sum(gen.writer.counts.values())
    print(f"Loaded in {load_s:.1f} s ({gen.writer.seconds:.1f} s in the database):")
    for table, count in gen.writer.counts.items():
        print(f"  {table:28} {count:>10,} rows")
    print(f"  {'total':28} {total_rows:>10,} rows, {total_rows / load_s:,.0f} rows/s")
    t2 = time.perf_counter()
    with transaction.atomic():
        reset_identities()
        counters = set_sequences()
        audit_record(
            actor=None,
            action="import",
            object_type="bench.generate",
            details={
                "years": args.years,
                "items": gen.writer.counts.get("registry_incomingitem", 0),
                "cases": gen.writer.counts.get("cases_case", 0),
                "seed": args.seed,
            },
        )
    problems = check_gapless()
    print(f"Counters set: {counters:,}; gapless check: {'OK' if not problems else problems[:5]}")
    if args.fast and connection.vendor == "postgresql":
        dangling = check_references(first_ids)
        print(f"Reference check: {dangling or 'OK'}")
        problems += dangling
    analyze()
    print(
        f"Sequences, checks and ANALYZE: {time.perf_counter() - t2:.1f} s; "
        f"total {time.perf_counter() - t0:.1f} s"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
