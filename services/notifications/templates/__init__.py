"""Reminder templates as data: one TOML file per language, with an SMS and a voice text
for each kind of reminder. Each kind has a fixed set of named placeholders; a
template that leaves one out or uses another fails the load (at start-up), never a
send. Adding a language is adding a file."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

from notifications.enums import Channel, ReminderKind

DEFAULT = "en"
CHANNELS = tuple(Channel)
# The placeholders each kind of reminder must use, and may only use.
PLACEHOLDERS: dict[ReminderKind, frozenset[str]] = {
    ReminderKind.evening_before: frozenset({"window", "number"}),
    ReminderKind.window_opens: frozenset({"closes", "number"}),
    ReminderKind.nudge: frozenset({"grace_ends", "number"}),
}
_DATES = {"window": frozenset({"weekday", "day", "month", "opens", "closes"}),
          "when": frozenset({"weekday", "day", "month", "time"})}


class TemplateError(ValueError):
    """A template file that cannot be used."""


def placeholders(text: str) -> frozenset[str]:
    try:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
    except ValueError as exc:
        raise TemplateError(f"malformed placeholder: {exc}") from None


@dataclass(frozen=True)
class Templates:
    code: str
    voice: str
    voice_language: str
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    window_format: str
    when_format: str
    press_one: str  # offered at the end of a voice reminder
    texts: dict[str, dict[str, str]]  # channel -> kind -> text

    def window(self, opens: datetime, closes: datetime) -> str:
        """A local window as the person reads it: "Monday 7 December, 09:00 to 19:00"."""
        return self.window_format.format(
            weekday=self.weekdays[opens.weekday()], day=opens.day,
            month=self.months[opens.month - 1], opens=f"{opens:%H:%M}", closes=f"{closes:%H:%M}")

    def when(self, moment: datetime) -> str:
        """A local moment: "Tuesday 8 December at 19:00"."""
        return self.when_format.format(
            weekday=self.weekdays[moment.weekday()], day=moment.day,
            month=self.months[moment.month - 1], time=f"{moment:%H:%M}")

    def render(self, channel: str, kind: str, **values: object) -> str:
        return self.texts[channel][kind].format(**values)


def parse(code: str, text: str) -> Templates:
    """Load one language's file, checking every template's placeholders."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"templates/{code}.toml: {exc}") from None
    where = f"templates/{code}.toml"
    try:
        weekdays, months = tuple(data["weekdays"]), tuple(data["months"])
        window_format, when_format = data["window"], data["when"]
        voice, voice_language = data["voice_name"], data["voice_language"]
        press_one = data["press_one"]
    except KeyError as exc:
        raise TemplateError(f"{where}: missing {exc}") from None
    if len(weekdays) != 7 or len(months) != 12:
        raise TemplateError(f"{where}: 7 weekdays and 12 months are needed")
    for name, fmt in (("window", window_format), ("when", when_format)):
        if placeholders(fmt) != _DATES[name]:
            raise TemplateError(f"{where}: {name} must use {sorted(_DATES[name])}")
    if placeholders(press_one):
        raise TemplateError(f"{where}: press_one takes no placeholders")
    texts: dict[str, dict[str, str]] = {}
    for channel in CHANNELS:
        section = data.get(channel)
        if not isinstance(section, dict) or set(section) != set(PLACEHOLDERS):
            raise TemplateError(f"{where}: [{channel}] must have exactly {sorted(PLACEHOLDERS)}")
        for kind, template in section.items():
            used, needed = placeholders(template), PLACEHOLDERS[kind]
            if used != needed:
                raise TemplateError(
                    f"{where}: {channel}.{kind} missing {sorted(needed - used)}, "
                    f"unknown {sorted(used - needed)}")
        texts[channel] = dict(section)
    return Templates(code=code, voice=voice, voice_language=voice_language, weekdays=weekdays,
                     months=months, window_format=window_format, when_format=when_format,
                     press_one=press_one, texts=texts)


@cache
def all_templates() -> dict[str, Templates]:
    """Every language shipped in this folder."""
    folder = resources.files(__package__)
    return {entry.name.removesuffix(".toml"): parse(entry.name.removesuffix(".toml"),
                                                    entry.read_text(encoding="utf-8"))
            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".toml")}


def templates(code: str | None) -> Templates:
    """The templates for ``code``, or English when there are none for it."""
    return all_templates().get(code or DEFAULT) or all_templates()[DEFAULT]
