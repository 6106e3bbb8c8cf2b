"""Generated training sentences for the two small text classifiers (seeded, reproducible).

Templates filled from word lists: enough variety that a linear head on MiniLM sentence
embeddings learns the task, not the templates. The hand-written evaluation sets in
``data/*_eval.jsonl`` are never used for training.
"""

from __future__ import annotations

import random

__all__ = ["LABELS", "generate"]

LABELS: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "positive"),
    "topic": ("business", "health", "sports", "technology"),
}

_THINGS = (
    "phone",
    "hotel",
    "restaurant",
    "service",
    "delivery",
    "car",
    "flight",
    "movie",
    "book",
    "course",
    "apartment",
    "camera",
    "support team",
    "app",
    "meal",
    "shop",
    "bike",
    "game",
    "jacket",
    "doctor's office",
    "train",
    "gym",
    "website",
    "coffee",
    "printer",
    "concert",
    "mattress",
    "school",
    "bank",
    "plumber",
    "tour",
    "sofa",
    "keyboard",
    "museum",
    "salon",
)
_POS_ADJ = (
    "excellent",
    "wonderful",
    "fantastic",
    "great",
    "superb",
    "lovely",
    "amazing",
    "brilliant",
    "delightful",
    "perfect",
    "outstanding",
    "pleasant",
    "reliable",
    "comfortable",
    "friendly",
    "impressive",
    "helpful",
    "beautiful",
    "fast",
    "clean",
)
_NEG_ADJ = (
    "terrible",
    "awful",
    "horrible",
    "disappointing",
    "poor",
    "useless",
    "dreadful",
    "rude",
    "broken",
    "slow",
    "dirty",
    "unreliable",
    "overpriced",
    "uncomfortable",
    "noisy",
    "buggy",
    "boring",
    "cheap and flimsy",
    "frustrating",
    "miserable",
)
_POS_TEMPLATES = (
    "The {t} was {a}.",
    "I really enjoyed the {t}, it was {a}.",
    "What a {a} {t}, I would recommend it to anyone.",
    "Our experience with the {t} was {a} from start to finish.",
    "Absolutely {a}! The {t} exceeded my expectations.",
    "I am very happy with the {t}; everything was {a}.",
    "Thanks to the {a} {t}, our day was a joy.",
    "Five stars: the {t} is {a} and worth every penny.",
    "The staff made the {t} feel {a}, thank you.",
    "I love this {t}, it works perfectly.",
    "We were delighted with the {t} and will come back.",
    "The {t} made me smile, it was simply {a}.",
)
_NEG_TEMPLATES = (
    "The {t} was {a}.",
    "I hated the {t}, it was {a}.",
    "What a {a} {t}, avoid it at all costs.",
    "Our experience with the {t} was {a} from start to finish.",
    "Never again: the {t} was {a} and a waste of money.",
    "I am very unhappy with the {t}; everything was {a}.",
    "The {a} {t} ruined our day.",
    "One star: the {t} is {a} and not worth the price.",
    "I complained twice and the {t} is still {a}.",
    "I regret choosing this {t}, it stopped working.",
    "We were let down by the {t} and asked for a refund.",
    "The {t} made me angry, it was simply {a}.",
)

_TOPIC_SLOTS: dict[str, dict[str, tuple[str, ...]]] = {
    "sports": {
        "who": (
            "the striker",
            "the goalkeeper",
            "the coach",
            "the home team",
            "the champion",
            "the tennis player",
            "the sprinter",
            "the captain",
            "the visitors",
            "the swimmer",
            "the boxer",
            "the cyclist",
            "the quarterback",
        ),
        "what": (
            "scored a late goal",
            "won the final",
            "lost the match",
            "broke the world record",
            "was sent off",
            "signed a new contract with the club",
            "won the title",
            "set a new personal best",
            "beat their rivals",
            "was injured in training",
            "reached the semi-finals",
            "won a gold medal",
        ),
        "where": (
            "in the league",
            "at the stadium",
            "in the championship",
            "at the Olympics",
            "in the cup",
            "on the court",
            "at the tournament",
            "on the track",
        ),
    },
    "business": {
        "who": (
            "the company",
            "the bank",
            "investors",
            "the retailer",
            "the central bank",
            "shareholders",
            "the airline",
            "the startup",
            "the chief executive",
            "the manufacturer",
            "the energy firm",
            "analysts",
        ),
        "what": (
            "reported higher profits",
            "cut hundreds of jobs",
            "raised interest rates",
            "announced a merger",
            "saw its shares fall",
            "raised new funding",
            "warned about weak sales",
            "paid a bigger dividend",
            "expanded into new markets",
            "missed revenue forecasts",
            "agreed a takeover",
            "posted record earnings",
        ),
        "where": (
            "this quarter",
            "on the stock market",
            "in its annual report",
            "this year",
            "after the results",
            "amid rising inflation",
            "in the trading update",
        ),
    },
    "technology": {
        "who": (
            "the software company",
            "engineers",
            "the chipmaker",
            "researchers",
            "the developers",
            "the smartphone maker",
            "hackers",
            "the cloud provider",
            "the startup",
            "the open source project",
            "programmers",
            "the robotics lab",
        ),
        "what": (
            "released a new operating system",
            "launched a faster processor",
            "fixed a security vulnerability",
            "built a new artificial intelligence model",
            "unveiled a new smartphone",
            "stole user passwords",
            "shipped a software update",
            "open sourced their code",
            "announced a quantum computer",
            "added encryption to the app",
            "moved their servers to the cloud",
            "designed a new robot",
        ),
        "where": (
            "for developers",
            "on its website",
            "at the tech conference",
            "for laptops",
            "in the new version",
            "for mobile devices",
            "in the data centre",
        ),
    },
    "health": {
        "who": (
            "doctors",
            "the hospital",
            "patients",
            "nurses",
            "researchers",
            "the clinic",
            "health officials",
            "the surgeon",
            "scientists",
            "the medical team",
            "the pharmacy",
            "dentists",
        ),
        "what": (
            "tested a new vaccine",
            "warned about the flu outbreak",
            "recommended more exercise",
            "treated patients with the new drug",
            "found that sleep lowers blood pressure",
            "performed a heart operation",
            "studied the effects of diet on diabetes",
            "reported fewer infections",
            "advised people to stop smoking",
            "ran a cancer screening programme",
            "prescribed antibiotics",
            "improved mental health care",
        ),
        "where": (
            "in the hospital",
            "in the clinical trial",
            "for older patients",
            "in the medical journal",
            "during the winter",
            "at the clinic",
            "for children",
        ),
    },
}
_TOPIC_TEMPLATES = (
    "{who} {what} {where}.",
    "Yesterday {who} {what}.",
    "According to reports, {who} {what} {where}.",
    "{who} {what}, and more news is expected {where}.",
    "News: {who} {what}.",
    "It emerged that {who} {what} {where}.",
)


def _sentiment(rng: random.Random, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        positive = i % 2 == 0
        tmpl = rng.choice(_POS_TEMPLATES if positive else _NEG_TEMPLATES)
        adj = rng.choice(_POS_ADJ if positive else _NEG_ADJ)
        out.append(
            (tmpl.format(t=rng.choice(_THINGS), a=adj), "positive" if positive else "negative")
        )
    return out


def _topic(rng: random.Random, n: int) -> list[tuple[str, str]]:
    labels = LABELS["topic"]
    out = []
    for i in range(n):
        label = labels[i % len(labels)]
        slots = _TOPIC_SLOTS[label]
        text = rng.choice(_TOPIC_TEMPLATES).format(
            who=rng.choice(slots["who"]),
            what=rng.choice(slots["what"]),
            where=rng.choice(slots["where"]),
        )
        out.append((text[0].upper() + text[1:], label))
    return out


def generate(task: str, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (text, label) pairs for ``task`` ("sentiment" or "topic"), balanced, seeded."""
    rng = random.Random(seed)
    if task == "sentiment":
        return _sentiment(rng, n)
    if task == "topic":
        return _topic(rng, n)
    raise ValueError(f"unknown task {task!r}; have {sorted(LABELS)}")
