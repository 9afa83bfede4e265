"""Reminder templates as data: one TOML file per language, with an SMS and a voice text
for each kind of reminder. Each kind has a fixed set of named placeholders; a
template that leaves one out or uses another fails the load (at start-up), never a
send. Adding a language is adding a file (shipped here, or in
``$WAYMARK_TEXTS_DIR/notifications/``, which adds languages or replaces shipped ones).

Dates and times come from CLDR for the file's ``locale`` (see ``shared.texts``), and a
template names exactly what it says: ``{opens_date}`` (weekday, day and month),
``{opens_time}``, ``{closes_time}``, ``{grace_ends_date}``, ``{grace_ends_time}``. A
sentence that expects a time ("until 19:00") can therefore never be given a date."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

from notifications.enums import Channel, ReminderKind
from shared.texts import Cldr, Text, TextError, check_text, extra_files, placeholders, render

DEFAULT = "en"
CHANNELS = tuple(Channel)
# The placeholders each kind of reminder must use, and may only use.
PLACEHOLDERS: dict[ReminderKind, frozenset[str]] = {
    ReminderKind.evening_before: frozenset({"opens_date", "opens_time", "closes_time", "number"}),
    ReminderKind.window_opens: frozenset({"closes_time", "number"}),
    ReminderKind.nudge: frozenset({"grace_ends_date", "grace_ends_time", "number"}),
}
# None of the reminders counts anything yet; a count placed here gets plural variants.
COUNTS: frozenset[str] = frozenset()


class TemplateError(TextError):
    """A template file that cannot be used."""


@dataclass(frozen=True)
class Templates:
    code: str
    voice: str
    voice_language: str
    cldr: Cldr
    press_one: str  # offered at the end of a voice reminder
    texts: dict[str, dict[str, Text]]  # channel -> kind -> text

    def values(self, *, opens: datetime, closes: datetime, grace_ends: datetime,
               number: str) -> dict[str, str]:
        """Every value a reminder may name, from local moments, as CLDR writes them."""
        return {"opens_date": self.cldr.date(opens), "opens_time": self.cldr.time(opens),
                "closes_time": self.cldr.time(closes),
                "grace_ends_date": self.cldr.date(grace_ends),
                "grace_ends_time": self.cldr.time(grace_ends), "number": number}

    def render(self, channel: str, kind: str, **values: object) -> str:
        """The template filled with the values its kind names (others are ignored)."""
        needed = PLACEHOLDERS[ReminderKind(kind)]
        return render(self.texts[channel][kind], cldr=self.cldr, counts=COUNTS,
                      **{name: value for name, value in values.items() if name in needed})


def parse(code: str, text: str) -> Templates:
    """Load one language's file, checking every template's placeholders."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"templates/{code}.toml: {exc}") from None
    where = f"templates/{code}.toml"
    try:
        voice, voice_language = data["voice_name"], data["voice_language"]
        press_one, locale = data["press_one"], data["locale"]
    except KeyError as exc:
        raise TemplateError(f"{where}: missing {exc}") from None
    unknown = set(data) - {"voice_name", "voice_language", "press_one", "locale", *CHANNELS}
    if unknown:
        raise TemplateError(f"{where}: unknown {sorted(unknown)}")
    try:
        cldr = Cldr.parse(str(locale))
        if placeholders(press_one):
            raise TemplateError(f"{where}: press_one takes no placeholders")
        texts: dict[str, dict[str, Text]] = {}
        for channel in CHANNELS:
            section = data.get(channel)
            if not isinstance(section, dict) or set(section) != set(PLACEHOLDERS):
                raise TemplateError(f"{where}: [{channel}] must have exactly {sorted(PLACEHOLDERS)}")
            texts[channel] = {
                kind: check_text(f"{where}: {channel}.{kind}", template, cldr=cldr,
                                 expected=PLACEHOLDERS[ReminderKind(kind)], counts=COUNTS)
                for kind, template in section.items()}
    except TemplateError:
        raise
    except TextError as exc:
        raise TemplateError(str(exc)) from None
    return Templates(code=code, voice=voice, voice_language=voice_language, cldr=cldr,
                     press_one=press_one, texts=texts)


@cache
def all_templates() -> dict[str, Templates]:
    """Every language shipped in this folder, then those added (or replaced) by
    ``$WAYMARK_TEXTS_DIR/notifications/``."""
    shipped = resources.files(__package__)
    files = {entry.name.removesuffix(".toml"): entry.read_text(encoding="utf-8")
             for entry in shipped.iterdir() if entry.name.endswith(".toml")}
    files |= {path.stem: path.read_text(encoding="utf-8") for path in extra_files("notifications")}
    return {code: parse(code, files[code]) for code in sorted(files)}


def templates(code: str | None) -> Templates:
    """The templates for ``code``, or English when there are none for it."""
    return all_templates().get(code or DEFAULT) or all_templates()[DEFAULT]
