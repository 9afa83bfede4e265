"""The demo's synthetic people and programmes (``waymark demo``): made up, from a seeded
random generator, so the same ``--seed`` gives the same people and the same behaviour.

Phone numbers are North American 555-01xx numbers, which are reserved for fiction and
reach nobody, in several area codes; the demo sends nothing anyway (the ``log``
provider keeps each reminder in the notifications database instead).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

# (name, weekday, window opens, window hours, grace hours): whole hours, so every
# reminder falls on an hour the simulated clock stops at.
PROGRAMMES: tuple[tuple[str, str, time, int, int], ...] = (
    ("community_case_management", "MO", time(9), 10, 24),
    ("family_support", "TU", time(10), 8, 24),
    ("legal_pathways", "WE", time(12), 6, 24),
    ("youth_support", "TH", time(15), 4, 48),
)
CASEWORKERS = ("alice", "bilal", "carmen", "dmitri")
OFFICER, SUPERVISOR, AUTHORITY = "olu", "sam", "analyst"
TIMEZONE = "Europe/London"
AREA_CODES = (202, 212, 213, 312, 415, 617, 713, 305)

# The languages Waymark speaks, with names and nationalities that go with them.
LANGUAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"given": ("James", "Grace", "Daniel", "Mary", "Samuel", "Joy", "David", "Esther"),
           "family": ("Okafor", "Mensah", "Boateng", "Adeyemi", "Owusu", "Nwosu"),
           "nationality": ("NG", "GH", "GM", "SL", "LR", "JM")},
    "ar": {"given": ("Amina", "Omar", "Fatima", "Yusuf", "Layla", "Hassan", "Mariam", "Khalid"),
           "family": ("Haddad", "Mahmoud", "Nasser", "Saleh", "Abdi", "Karim"),
           "nationality": ("SD", "SY", "IQ", "YE", "LY", "EG")},
    "fr": {"given": ("Aïcha", "Mamadou", "Fatou", "Jean", "Marie", "Ibrahima", "Awa", "Pierre"),
           "family": ("Diallo", "Traoré", "Kouassi", "Mbemba", "Camara", "Bamba"),
           "nationality": ("CD", "GN", "CI", "SN", "CM", "HT")},
    "es": {"given": ("Carlos", "María", "José", "Ana", "Luis", "Gabriela", "Jorge", "Valentina"),
           "family": ("García", "Rodríguez", "Hernández", "Pérez", "Morales", "Castillo"),
           "nationality": ("VE", "CO", "HN", "SV", "NI", "CU")},
}
LANGUAGE_WEIGHTS = {"en": 3, "ar": 3, "fr": 2, "es": 2}
SEXES = {"female": 45, "male": 50, "other": 2, "unknown": 3}
OTHER_FLAGS = ("family_with_children", "pregnant", "disability", "serious_medical_condition",
               "mental_health")

# The people with a part to play, by index (the rest behave at random):
DEMO_PERSON = 0  # English, every channel, never stopped nor excused: printed at the end
STOPS = 1  # texts STOP after the first window: SMS and in person only, so reminders stop
EXCUSED = 2  # the caseworker excuses the second window the day before
MISSES = 3  # misses the first window
LATE = 4  # late for the first window
IN_PERSON = 5  # reports at the centre for the first window


@dataclass
class Person:
    """One synthetic person; ``case_id`` and ``pin`` are filled in as the demo runs."""

    index: int
    number: str
    language: str
    programme: str
    channels: list[str]
    caseworker: str
    body: dict[str, Any]
    case_id: str = ""
    reference: str = ""
    keypad_reference: str = ""
    pin: str = ""
    windows_seen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def number(index: int) -> str:
    area = AREA_CODES[index // 100 % len(AREA_CODES)]
    return f"+1{area}55501{index % 100:02d}"


def people(rng: random.Random, *, count: int, starts_on: date, today: date) -> list[Person]:
    """``count`` people (at most 800: the fictional numbers run out), each with the
    registry's request body for their case."""
    if not 1 <= count <= 100 * len(AREA_CODES):
        raise ValueError(f"between 1 and {100 * len(AREA_CODES)} cases")
    made = []
    languages = list(LANGUAGE_WEIGHTS)
    for index in range(count):
        language = "en" if index == DEMO_PERSON else rng.choices(
            languages, weights=list(LANGUAGE_WEIGHTS.values()))[0]
        names = LANGUAGES[language]
        programme, weekday, opens, hours, grace = PROGRAMMES[index % len(PROGRAMMES)]
        draw = rng.random()
        channels = (["sms", "voice", "in_person"] if index == DEMO_PERSON or draw < 0.65
                    else ["sms", "in_person"] if index == STOPS or draw < 0.85
                    else ["voice", "in_person"])
        age = rng.choices((rng.randint(16, 17), rng.randint(18, 64), rng.randint(65, 79)),
                          weights=(4, 88, 8))[0]
        born = date(today.year - age - 1, rng.randint(1, 12), rng.randint(1, 28))
        flags = {"child"} if age < 18 else {"older_person"} if age >= 65 else set()
        if age < 18 and rng.random() < 0.5:
            flags.add("unaccompanied_child")
        if rng.random() < 0.15:
            flags.add(rng.choice(OTHER_FLAGS))
        nationality = "XX" if rng.random() < 0.03 else rng.choice(names["nationality"])
        caseworker = CASEWORKERS[index % len(CASEWORKERS)]
        phone = number(index)
        body = {
            "person": {"given_name": rng.choice(names["given"]),
                       "family_name": rng.choice(names["family"]),
                       "date_of_birth": born.isoformat(),
                       "sex": rng.choices(list(SEXES), weights=list(SEXES.values()))[0],
                       "nationality": nationality, "preferred_language": language,
                       "phone": phone},
            "programme": programme, "vulnerabilities": sorted(flags),
            "reporting": {"channels": channels, "rrule": f"FREQ=WEEKLY;BYDAY={weekday}",
                          "window_opens": opens.strftime("%H:%M"), "window_hours": hours,
                          "grace_hours": grace, "timezone": TIMEZONE,
                          "starts_on": starts_on.isoformat()},
            "review_due": (today + timedelta(days=90 + rng.randint(0, 60))).isoformat(),
        }
        made.append(Person(index=index, number=phone, language=language, programme=programme,
                           channels=channels, caseworker=caseworker, body=body))
    return made
