"""What a person reads and hears, in their language: one TOML file per language, the
same texts for SMS replies and voice prompts. Every file must have exactly the keys
and ``{placeholders}`` of ``en.toml``; a file that differs fails at load, not when a
person is waiting for an answer.

Dates, times and numbers come from CLDR for the file's ``locale`` (see
``shared.texts``): ``when`` names ``{date}`` and ``{time}``; ``window`` names
``{opens_date}``, ``{opens_time}`` and ``{closes_time}``. A text that counts
(``{tries}``, ``{minutes}``) has one variant per plural category of that locale.

Files in ``$WAYMARK_TEXTS_DIR/checkin/`` add languages (or replace shipped ones)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

from shared.texts import Cldr, Text, TextError, check_text, extra_files, render, text_placeholders

DEFAULT = "en"
# Placeholders that count something: their texts vary by plural category.
COUNTS = frozenset({"tries", "minutes"})
# Settings of a language, not texts: no placeholders, no plural forms.
_SETTINGS = ("name", "voice", "voice_language", "locale")


@dataclass(frozen=True)
class Language:
    code: str
    texts: dict[str, Text]
    cldr: Cldr

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
        """The text ``key`` filled in; with a count, the variant CLDR asks for it."""
        return render(self.texts[key], cldr=self.cldr, counts=COUNTS, **values)

    def when(self, moment: datetime) -> str:
        """A local moment as a person says it: "Monday 7 December at 09:00"."""
        return self.say("when", date=self.cldr.date(moment), time=self.cldr.time(moment))

    def window(self, opens: datetime, closes: datetime) -> str:
        """A local window: "Monday 7 December, 09:00 to 19:00"."""
        return self.say("window", opens_date=self.cldr.date(opens),
                        opens_time=self.cldr.time(opens), closes_time=self.cldr.time(closes))


def load(code: str, text: str, reference: Mapping[str, Text] | None = None) -> Language:
    """Parse one language file and check it against the reference (English) texts:
    the same keys, the same placeholders, and one variant per plural category of its
    own locale for a text that counts."""
    where = f"texts/{code}.toml"
    try:
        texts = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TextError(f"{where}: {exc}") from None
    for key in _SETTINGS:
        if not isinstance(texts.get(key), str):
            raise TextError(f"{where}: {key} must be given")
    cldr = Cldr.parse(str(texts["locale"]))
    reference = reference if reference is not None else texts
    missing, unknown = set(reference) - set(texts), set(texts) - set(reference)
    if missing or unknown:
        raise TextError(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    checked: dict[str, Text] = {}
    for key, value in texts.items():
        if key in _SETTINGS:
            checked[key] = value
            continue
        try:
            expected = text_placeholders(reference[key])  # type: ignore[arg-type]
        except TextError as exc:
            raise TextError(f"texts/{DEFAULT}.toml: {key}: {exc}") from None
        checked[key] = check_text(f"{where}: {key}", value, cldr=cldr, expected=expected,
                                  counts=COUNTS)
    return Language(code=code, texts=checked, cldr=cldr)


@cache
def languages() -> dict[str, Language]:
    """Every language shipped in this folder, English first, then those added by
    ``$WAYMARK_TEXTS_DIR/checkin/`` (a file there with a shipped code replaces it in its
    place). The order is the voice menu's: an added language comes last, so the keys
    callers already know do not move."""
    shipped = resources.files(__package__)
    files = {entry.name.removesuffix(".toml"): entry.read_text(encoding="utf-8")
             for entry in sorted(shipped.iterdir(), key=lambda e: e.name)
             if entry.name.endswith(".toml")}
    files |= {path.stem: path.read_text(encoding="utf-8") for path in extra_files("checkin")}
    english = load(DEFAULT, files.pop(DEFAULT))
    found = {DEFAULT: english}
    for code, text in files.items():
        found[code] = load(code, text, english.texts)
    return found


def language(code: str | None) -> Language:
    """The texts for ``code``, or English when there are none for it."""
    return languages().get(code or DEFAULT) or languages()[DEFAULT]
