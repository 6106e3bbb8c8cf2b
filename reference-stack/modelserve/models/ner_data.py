"""Generated NER training sentences: news-style templates filled with Faker entities.

Each template has slots: ``{PER}`` person, ``{LAST}`` a surname alone (PER), ``{ORG}``,
``{LOC}`` (cities, countries, regions, rivers...), MISC as ``{NAT}`` (nationalities,
religions), ``{LANG}`` (languages) and ``{EVENT}`` (events, prizes, wars), and untagged
fillers (``{NUM}``, ``{DAY}``, ``{MONTH}``, ``{YEAR}``, ``{MONEY}``, ``{PCT}``). Filling is
seeded, so the same seed gives the same sentences. The hand-written evaluation set
(``data/ner_eval.jsonl``) is never read here; a test checks the two share no sentence.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LABELS", "TEMPLATES", "Sentence", "generate", "vocabulary_words"]

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@dataclass(frozen=True)
class Sentence:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, PER|ORG|LOC|MISC)


TEMPLATES = [
    # people, organisations and places in reporting
    "{PER} said on {DAY} that {ORG} would cut {NUM} jobs in {LOC}.",
    "{ORG} shares fell {PCT} after {PER} resigned as chief executive.",
    "{PER}, a spokesman for {ORG}, declined to comment.",
    '"We are very pleased with the result," {LAST} told reporters in {LOC}.',
    "The {NAT} government has asked {ORG} to delay the project.",
    "{PER} will travel to {LOC} next week for talks with {PER}.",
    "In {LOC}, police arrested {NUM} people after protests outside the offices of {ORG}.",
    "{ORG} agreed to buy {ORG} for {MONEY}, the companies said on {DAY}.",
    "{LAST} scored twice as {ORG} beat {ORG} {NUM}-{NUM} in {LOC}.",
    "{PER} of {LOC} won the {EVENT} in {YEAR}.",
    "Prime Minister {PER} met {NAT} officials in {LOC} on {DAY}.",
    "{ORG} reported a {PCT} rise in quarterly profit on {DAY}.",
    "Floods in {LOC} have forced thousands of people from their homes.",
    "The {NAT} team arrived in {LOC} ahead of the {EVENT}.",
    "{PER}, who joined {ORG} in {YEAR}, will become its chairman in {MONTH}.",
    "Officials from {ORG} and {ORG} met in {LOC} to discuss the merger.",
    "{LAST}'s lawyer said the case against his client had collapsed.",
    "{PER} speaks {LANG}, {LANG} and {LANG}.",
    "The festival draws visitors from {LOC}, {LOC} and {LOC} every {MONTH}.",
    "{ORG}, based in {LOC}, makes parts for cars and trucks.",
    "According to {ORG}, inflation in {LOC} slowed to {PCT} in {MONTH}.",
    "{PER} was born in {LOC} in {YEAR} and studied at the {ORG}.",
    "Troops crossed the border between {LOC} and {LOC} overnight, {ORG} reported.",
    "A {LOC}-based start-up backed by {ORG} raised {MONEY} this week.",
    "{NAT} voters go to the polls on {DAY}.",
    "Coach {PER} named {NUM} new players for the match against {LOC}.",
    "{PER} and {PER} shared the {EVENT} for their work on batteries.",
    "The ruling by the {ORG} could affect millions of {NAT} workers.",
    "Rescue teams from {ORG} reached the village near {LOC} on {DAY}.",
    '"This is a great day for {LOC}," said {PER}.',
    "{ORG} chief economist {PER} expects growth of {PCT} next year.",
    "{PER} ({ORG}) finished third behind {PER} and {PER}.",
    "Heavy snow closed roads across northern {LOC} on {DAY}.",
    "{ORG} said it had hired {PER} from {ORG}.",
    "The {NAT} ambassador in {LOC} was summoned by the foreign ministry.",
    "Fans of {ORG} celebrated in the streets of {LOC} until dawn.",
    "{PER} told the {ORG} that the company had done nothing wrong.",
    "{LOC} and {LOC} signed a trade agreement worth {MONEY}.",
    "Tickets for the {EVENT} in {LOC} sold out within hours.",
    "{PER} has been appointed ambassador to {LOC}.",
    "Investigators from {ORG} are examining the wreckage in {LOC}.",
    "{ORG} will open a new plant outside {LOC} in {YEAR}, creating {NUM} jobs.",
    "The book, translated into {LANG}, made {LAST} famous.",
    "On {DAY}, {PER} visited a hospital in {LOC}.",
    "Analysts at {ORG} cut their forecast for {LOC} to {PCT}.",
    "{PER} defeated {PER} {NUM}-{NUM}, {NUM}-{NUM} to reach the final.",
    "Both {NAT} and {NAT} leaders attended the summit in {LOC}.",
    "The river {LOC} burst its banks after days of rain.",
    "{ORG} denied the report in a statement on {DAY}.",
    "{LAST} joined {ORG} after leaving {ORG} in {YEAR}.",
    "Dr {PER}, a researcher at the {ORG}, led the study.",
    "Mr {LAST} said he would appeal against the decision.",
    "Ms {LAST} has run the charity since {YEAR}.",
    "President {PER} arrived in {LOC} on a two-day visit.",
    "Police in {LOC} said {PER}, {NUM}, was arrested at the airport.",
    "{ORG} fined {ORG} {MONEY} for breaking competition rules.",
    "The {NAT}-born singer {PER} will tour {LOC} in {MONTH}.",
    "Exports from {LOC} to {LOC} rose {PCT} last year.",
    "{PER} will lead the {NAT} delegation at the {ORG} meeting in {LOC}.",
    "Thousands marched through {LOC} to mark the anniversary of the {EVENT}.",
    "A spokeswoman for {ORG} said the flights to {LOC} would resume on {DAY}.",
    "{ORG} is the largest employer in {LOC}.",
    "He moved from {LOC} to {LOC} to work for {ORG}.",
    "{PER}'s new film premiered at the {EVENT}.",
    "Most {NAT} people still believe the economy is weak, a poll by {ORG} showed.",
    "{LAST} ran the marathon in two hours and {NUM} minutes.",
    "The {ORG} raised interest rates by a quarter point on {DAY}.",
    "{PER} became the first {NAT} woman to climb the mountain.",
    "Earthquake hits {LOC}, killing at least {NUM}.",
    "{ORG} to cut {NUM} jobs as sales slump.",
    "{PER} wins {EVENT} title in {LOC}.",
    "{LOC} beat {LOC} {NUM}-{NUM} in the final on {DAY}.",
    "{ORG}, {ORG} and {ORG} bid for the contract.",
    "Sources close to {PER} said she had not decided whether to run.",
    "The deal must still be approved by regulators in {LOC} and the {ORG}.",
    "{PER} and her husband {PER} live in {LOC}.",
    "Ambulances took the injured to hospitals in {LOC}, a {ORG} official said.",
    "Asked about {LAST}, the minister said he had never met him.",
    "{NAT} President {PER} will visit {LOC} in {MONTH}.",
    "{NAT} striker {PER} signed a new contract with {ORG}.",
    "The {NAT} skier {PER} crashed during training in {LOC}.",
    "{NAT} Foreign Minister {PER} flew to {LOC} for emergency talks.",
    "Queen {FIRST} and King {FIRST} attended the ceremony in {LOC}.",
    "Prince {FIRST} spoke about mental health at a charity event.",
    "Pope {FIRST} called for peace in {LOC}.",
    "{LOC}'s economy grew by {PCT} last year.",
    "{LOC}'s prime minister, {PER}, survived a vote of confidence.",
    "{ORG}'s new chief executive is {PER}.",
    "{PER}'s daughter works for {ORG} in {LOC}.",
    "{ORG} said it would raise prices for customers in {LOC}.",
    "Shares in {ORG} rose after the company beat forecasts.",
    "{ORG} launched a new phone on {DAY}, its first in two years.",
    "Crowds gathered outside {FAC} to watch the ceremony.",
    "The concert at {FAC} was cancelled because of the storm.",
    "{PER} will be buried at {FAC} next week.",
    "The {EVENT} attracted record crowds this year.",
    "{PER} finished second at the {EVENT} behind {PER}.",
    "Millions of people watched the {EVENT} on television.",
    "Members of the {ORG} voted to suspend {PER}.",
    "Lawyers for {PER} told the {ORG} that the evidence was flawed.",
    "{PER}, the head of the {ORG}, warned of further delays.",
    "The {ORG} in {LOC} has reopened after a two-year renovation.",
    # sentences with no entity: capitals at the start, titles, months and days stay O
    "Shares fell sharply on {DAY} after the company warned of lower profits.",
    "The minister said the new law would come into force in {MONTH}.",
    "Prices rose {PCT} in {MONTH}, the fastest pace in {NUM} years.",
    "Police said two men had been arrested and charged with robbery.",
    "The president is expected to announce his decision next week.",
    "Officials said the bridge would remain closed until further notice.",
    "It was the third time this year that the committee had rejected the plan.",
    "Doctors warned that the number of cases could double by {MONTH}.",
    "The company said it expected sales to rise by about {PCT}.",
    "Neither side was willing to make concessions, a senior official said.",
    "Most of the victims were women and children.",
    "On {DAY} the board voted {NUM} to {NUM} in favour of the proposal.",
    "Rain is expected to continue for the rest of the week.",
    "The chief executive will step down at the end of {MONTH}.",
    "Witnesses said the fire started shortly after midnight.",
    "Analysts had expected a much smaller loss.",
    "Voters rejected the proposal by a narrow margin.",
    "The prime minister called for calm.",
]

_TITLES_FIRST = ["", "", "", "", "Mr ", "Mrs ", "Dr ", "Professor ", "General ", "Senator "]
_ORG_SUFFIX = [
    "Holdings", "Group", "Bank", "Airlines", "Motors", "Energy", "Pharmaceuticals", "Systems",
    "Capital", "Foods", "Telecom", "Media", "Insurance", "Partners", "Technologies", "Logistics",
    "Steel", "Mining", "Chemicals", "Electric", "Software", "Industries", "Shipping", "Brewery",
]  # fmt: skip
_CLUB = ["United", "City", "FC", "Rovers", "Athletic", "Wanderers", "Rangers", "Town"]
_ORG_FIXED = [
    "United Nations", "European Union", "NATO", "World Bank", "International Monetary Fund",
    "Red Cross", "World Health Organisation", "Federal Reserve", "European Central Bank", "OPEC",
    "UNICEF", "Greenpeace", "Interpol", "FIFA", "UEFA", "Supreme Court", "Bank of England",
    "African Union", "Amnesty International", "World Trade Organisation", "Labour Party",
    "Conservative Party", "Social Democrats", "Green Party", "Reuters", "BBC", "Parliament",
    "Senate", "Congress", "Kremlin", "Pentagon", "Bundesbank", "Ministry of Defence",
    "Ministry of Health", "Foreign Office", "Microsoft", "Siemens", "Toyota", "Nestle",
    "Volkswagen", "Shell", "Google", "Samsung", "Airbus", "Boeing", "Unilever", "Nokia",
]  # fmt: skip
_LOC_FIXED = [
    "Europe", "Asia", "Africa", "South America", "North America", "Middle East", "Balkans",
    "Scandinavia", "Siberia", "Sahara", "Himalayas", "Alps", "Andes", "Amazon", "Danube",
    "Rhine", "Nile", "Thames", "Mississippi", "Pacific", "Atlantic", "Mediterranean",
    "Caribbean", "Gulf", "Baltic", "Kashmir", "Gaza", "West Bank", "Hong Kong", "New York",
    "Los Angeles", "Rio de Janeiro", "Buenos Aires", "Cape Town", "New Delhi", "Tel Aviv",
    "Germany", "France", "Brazil", "China", "India", "Japan", "Nigeria", "Canada", "Australia",
    "Italy", "Spain", "Poland", "Sweden", "Turkey", "Egypt", "Mexico", "Russia", "Ukraine",
    "Britain", "Ireland", "Greece", "Argentina", "Kenya", "Pakistan", "Iran", "Israel",
]  # fmt: skip
_NATIONALITIES = [
    "German", "French", "British", "American", "Italian", "Spanish", "Dutch", "Japanese",
    "Chinese", "Russian", "Brazilian", "Indian", "Australian", "Canadian", "Mexican", "Swedish",
    "Polish", "Turkish", "Greek", "Irish", "Scottish", "Korean", "Egyptian", "Nigerian",
    "Kenyan", "Argentine", "Chilean", "Portuguese", "Belgian", "Swiss", "Austrian", "Norwegian",
    "Danish", "Finnish", "Czech", "Hungarian", "Ukrainian", "Israeli", "Iranian", "Saudi",
    "Pakistani", "Vietnamese", "Thai", "Indonesian", "European", "African", "Asian", "Arab",
    "Muslim", "Christian", "Catholic", "Jewish", "Buddhist", "Hindu", "Palestinian", "Iraqi",
]  # fmt: skip
_LANGUAGES = [
    "English", "French", "German", "Spanish", "Arabic", "Mandarin", "Hindi", "Swahili",
    "Portuguese", "Russian", "Japanese", "Italian", "Dutch", "Turkish", "Polish", "Korean",
]  # fmt: skip
_EVENTS = [
    "World Cup", "Olympic Games", "Tour de France", "Champions League", "Super Bowl",
    "Davis Cup", "Ryder Cup", "Nobel Peace Prize", "Eurovision Song Contest", "Cold War",
    "Second World War", "First World War", "Australian Open", "US Open", "Grand National",
    "Cannes Film Festival", "Oscars", "Nobel Prize in Chemistry", "Six Nations", "Euro 2024",
    "Commonwealth Games", "Paralympics", "Holocaust", "Reformation", "Industrial Revolution",
]  # fmt: skip

_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
]  # fmt: skip
_BODIES = [
    "Football Association", "Olympic Committee", "City Council", "Chamber of Commerce",
    "Court of Appeal", "National Assembly", "Central Bank", "Medical Association",
    "Electoral Commission", "Broadcasting Corporation", "Institute of Technology",
]  # fmt: skip
_SYLLABLES = [
    "zen", "trix", "vo", "la", "ro", "nex", "qua", "ly", "tel", "mar", "sio", "ka", "dor",
    "fi", "nu", "pex", "gra", "min", "sol", "vi", "ta", "bel", "cor", "xa",
]  # fmt: skip
# Lower-case stand-ins for an entity slot, tagged O: the same sentence frames with a common
# noun where the entity was teach that the frame alone does not make an entity (without
# them the model tags "software" or "the moon" where the templates had an ORG or LOC).
_COMMON = {
    "PER": ["the minister", "a spokesman", "the coach", "his lawyer", "the chairman", "she",
            "the driver", "a neighbour", "the defender", "the author", "a senior official"],
    "ORG": ["the company", "the bank", "the union", "the government", "the airline", "the club",
            "the committee", "the ministry", "the regulator", "the police", "the hospital",
            "the software maker", "the retailer", "the charity", "the court", "the board"],
    "LOC": ["the region", "the capital", "the city", "the north", "the country", "the area",
            "the border region", "the coast", "the village", "the valley", "the suburbs",
            "the moon", "the island", "the desert"],
    "NAT": ["local", "foreign", "national", "regional", "northern", "rural", "senior"],
    "LANG": ["sign language", "three languages", "the local dialect"],
    "EVENT": ["the final", "the tournament", "the championship", "the race", "the festival",
              "the pandemic", "the war", "the election", "the summit", "the strike"],
}  # fmt: skip
_COMMON["LAST"] = _COMMON["PER"]
_COMMON["FAC"] = ["the stadium", "the cathedral", "the old palace", "the park", "the arena"]
NEGATIVE_SLOT_RATE = 0.25
_WORD = re.compile(r"^[a-z]{3,12}$")

_SLOT = re.compile(r"\{([A-Z]+)\}")


class _Filler:
    def __init__(self, seed: int, words: Sequence[str]) -> None:
        from faker import Faker

        self.words = list(words)
        self.rng = random.Random(seed)
        self.fakes = []
        for i, locale in enumerate(["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]):
            fake = Faker(locale)
            fake.seed_instance(seed + i)
            self.fakes.append(fake)
        self._city_fakes = [f for f in self.fakes if "it_IT" not in f.locales]

    def fake(self) -> Any:
        return self.rng.choice(self.fakes)

    def city(self) -> str:
        # it_IT's city() depends on PYTHONHASHSEED (it iterates a set), which made two
        # builds of the same inputs differ: draw cities from the other locales only.
        return str(self.rng.choice(self._city_fakes).city())

    def per(self) -> str:
        f = self.fake()
        r = self.rng.random()
        if r < 0.6:
            return f"{f.first_name()} {f.last_name()}"
        if r < 0.75:
            first, last = f.first_name(), f.last_name()
            return f"{first} {self.rng.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        if r < 0.85:
            return str(f.name())
        return f"{f.first_name()} {f.last_name()}-{f.last_name()}"

    def first(self) -> str:
        return str(self.fake().first_name())

    def fac(self) -> str:
        f, rng = self.fake(), self.rng
        kind = rng.choice(["Stadium", "Abbey", "Cathedral", "Palace", "Castle", "Arena", "Park"])
        return rng.choice([f"{f.last_name()} {kind}", f"{self.city()} {kind}"])

    def last(self) -> str:
        return str(self.fake().last_name())

    def org(self) -> str:
        f, r, rng = self.fake(), self.rng.random(), self.rng
        if r < 0.25:
            return str(f.company()).replace(",", "")
        if r < 0.45:
            return f"{f.last_name()} {rng.choice(_ORG_SUFFIX)}"
        if r < 0.55:
            return f"{self.city()} {rng.choice(_CLUB)}"
        if r < 0.62:
            city = self.city()
            return rng.choice([f"University of {city}", f"{city} University"])
        if r < 0.7:
            acronym = "".join(
                rng.choice("ABCDEFGHIKLMNPRSTUVWXZ") for _ in range(rng.randint(2, 4))
            )
            return rng.choice([acronym, f"{acronym} Corp", f"{acronym} Group"])
        if r < 0.74:
            return f"{self.city()} {rng.choice(['Times', 'Herald', 'Gazette', 'Post'])}"
        if r < 0.8:
            return self.brand()
        if r < 0.86:
            body = rng.choice(_BODIES)
            return rng.choice([f"{f.country()} {body}", f"{self.city()} {body}"])
        return rng.choice(_ORG_FIXED)

    def brand(self) -> str:
        """A one-word company name: made up (Zentrix) or a capitalised word (Apple, Shell)."""
        rng = self.rng
        if self.words and rng.random() < 0.5:
            return rng.choice(self.words).capitalize()
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
        return word.capitalize()

    def negative(self, slot: str) -> str:
        """A lower-case stand-in (tagged O): a common phrase or any lower-case word, so the
        model learns that a new word in an entity's place is not an entity unless its case
        says so (the uncased vocabulary hides it; the case feature carries it)."""
        if self.words and self.rng.random() < 0.6:
            words = " ".join(self.rng.choice(self.words) for _ in range(self.rng.randint(1, 2)))
            return self.rng.choice(["", "the ", "a "]) + words
        return self.rng.choice(_COMMON[slot])

    def loc(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.city()
        if r < 0.75:
            return str(self.rng.choice(self.fakes[:2]).country())  # English country names
        if r < 0.82:
            return str(self.fakes[0].state())
        return self.rng.choice(_LOC_FIXED)

    def nat(self) -> str:
        return self.rng.choice(_NATIONALITIES)

    def lang(self) -> str:
        return self.rng.choice(_LANGUAGES)

    def event(self) -> str:
        if self.rng.random() < 0.75:
            return self.rng.choice(_EVENTS)
        city, nat = self.city(), self.nat()
        return self.rng.choice(
            [
                f"{city} Marathon",
                f"{city} Film Festival",
                f"{city} Open",
                f"{city} Olympics",
                f"{nat} Grand Prix",
                f"{nat} Open",
                f"{nat} Cup",
            ]
        )

    def filler(self, slot: str) -> str:
        rng = self.rng
        if slot == "NUM":
            return str(rng.choice([rng.randint(2, 12), rng.randint(13, 999)]))
        if slot == "DAY":
            return rng.choice(_DAYS)
        if slot == "MONTH":
            return rng.choice(_MONTHS)
        if slot == "YEAR":
            return str(rng.randint(1950, 2025))
        if slot == "MONEY":
            return rng.choice(
                [
                    f"${rng.randint(2, 900)} million",
                    f"{rng.randint(1, 40)} billion euros",
                    f"£{rng.randint(5, 500)}m",
                ]
            )
        if slot == "PCT":
            return f"{rng.randint(1, 30)}.{rng.randint(0, 9)} percent"
        raise KeyError(slot)


_SLOTS: dict[str, tuple[str, Callable[[_Filler], str]]] = {
    "PER": ("PER", _Filler.per),
    "LAST": ("PER", _Filler.last),
    "FIRST": ("PER", _Filler.first),
    "FAC": ("LOC", _Filler.fac),
    "ORG": ("ORG", _Filler.org),
    "LOC": ("LOC", _Filler.loc),
    "NAT": ("MISC", _Filler.nat),
    "LANG": ("MISC", _Filler.lang),
    "EVENT": ("MISC", _Filler.event),
}


def vocabulary_words(vocab_txt: Path) -> list[str]:
    """Plain lower-case words of a WordPiece ``vocab.txt`` (no pieces, digits or marks)."""
    lines = vocab_txt.read_text(encoding="utf-8").splitlines()
    return [w for w in lines if _WORD.match(w)]


def generate(n: int, seed: int, words: Sequence[str] = ()) -> list[Sentence]:
    """``n`` sentences; templates are cycled in a seeded order so each is used evenly.

    ``words`` (lower-case common words, e.g. :func:`vocabulary_words`) feed the negative
    slots and one-word brand names; without them only the fixed lists are used.
    """
    filler = _Filler(seed, words)
    out: list[Sentence] = []
    order: list[str] = []
    while len(out) < n:
        if not order:
            order = list(TEMPLATES)
            filler.rng.shuffle(order)
        template = order.pop()
        text, spans, pos = "", [], 0
        for m in _SLOT.finditer(template):
            text += template[pos : m.start()]
            slot = m.group(1)
            kind, make = _SLOTS.get(slot, ("", lambda f, s=slot: f.filler(s)))
            if kind and slot in _COMMON and filler.rng.random() < NEGATIVE_SLOT_RATE:
                value = filler.negative(slot)
                kind = ""
                if text.endswith("the ") and value.startswith("the "):
                    value = value[4:]
            else:
                value = make(filler)
            if kind:
                spans.append((len(text), len(text) + len(value), kind))
            text += value
            pos = m.end()
        text += template[pos:]
        if text and text[0].islower():
            text = text[0].upper() + text[1:]
        out.append(Sentence(text, tuple(spans)))
    return out
