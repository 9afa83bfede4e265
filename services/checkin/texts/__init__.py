"""What a person reads and hears, in their language: one TOML file per language, the
same texts for SMS replies and voice prompts. Every file must have exactly the keys
and ``{placeholders}`` of ``en.toml``; a file that differs fails at load, not when a
person is waiting for an answer."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

DEFAULT = "en"
_LISTS = {"weekdays": 7, "months": 12}


def _placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


@dataclass(frozen=True)
class Language:
    code: str
    texts: dict[str, object]

    @property
    def name(self) -> str:
        return str(self.texts["name"])

    @property
    def voice(self) -> str:
        return str(self.texts["voice"])

    @property
    def voice_language(self) -> str:
        return str(self.texts["voice_language"])

    def say(self, key: str, **values: object) -> str:
        return str(self.texts[key]).format(**values)

    def when(self, moment: datetime) -> str:
        """A local moment as a person says it: "Monday 7 December at 09:00"."""
        return self.say("when", **self._date(moment), time=moment.strftime("%H:%M"))

    def window(self, opens: datetime, closes: datetime) -> str:
        """A local window: "Monday 7 December, 09:00 to 19:00"."""
        return self.say("window", **self._date(opens), opens=opens.strftime("%H:%M"),
                        closes=closes.strftime("%H:%M"))

    def _date(self, moment: datetime) -> dict[str, object]:
        weekdays, months = self.texts["weekdays"], self.texts["months"]
        return {"weekday": weekdays[moment.weekday()], "day": moment.day,  # type: ignore[index]
                "month": months[moment.month - 1]}  # type: ignore[index]


def load(code: str, text: str, reference: dict[str, object] | None = None) -> Language:
    """Parse one language file and check it against the reference (English) texts."""
    texts = tomllib.loads(text)
    if reference is not None:
        missing, unknown = set(reference) - set(texts), set(texts) - set(reference)
        if missing or unknown:
            raise ValueError(f"texts/{code}.toml: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for key, value in texts.items():
            expected = reference[key]
            if isinstance(expected, list):
                if not isinstance(value, list) or len(value) != _LISTS.get(key, len(expected)):
                    raise ValueError(f"texts/{code}.toml: {key} must list {len(expected)} names")
            elif not isinstance(value, str) or _placeholders(value) != _placeholders(str(expected)):
                raise ValueError(f"texts/{code}.toml: {key} must use the placeholders "
                                 f"{sorted(_placeholders(str(expected)))}")
    return Language(code=code, texts=texts)


@cache
def languages() -> dict[str, Language]:
    """Every language shipped in this folder, English first."""
    folder = resources.files(__package__)
    english = load(DEFAULT, (folder / f"{DEFAULT}.toml").read_text(encoding="utf-8"))
    found = {DEFAULT: english}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml") and entry.name != f"{DEFAULT}.toml":
            code = entry.name.removesuffix(".toml")
            found[code] = load(code, entry.read_text(encoding="utf-8"), english.texts)
    return found


def language(code: str | None) -> Language:
    """The texts for ``code``, or English when there are none for it."""
    return languages().get(code or DEFAULT) or languages()[DEFAULT]
