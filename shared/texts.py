"""The mechanism behind every text a person reads or hears: dates, times, numbers and
plural forms from CLDR (through Babel), for the CLDR locale a language file names.

A language file holds words only. It never lists weekday or month names, and never
builds a date by hand: a template names what it needs (``{opens_date}``,
``{opens_time}``, ``{closes_time}``...) and this module fills each with what CLDR
says for that locale, so a sentence that expects a time never receives a date.

A text that counts something (``{tries}``, ``{minutes}``) is a table with one variant
per CLDR plural category of the language (English ``one``/``other``; Arabic
``zero``/``one``/``two``/``few``/``many``/``other``): exactly those, no fewer and no
more, checked when the file is loaded. The variant is chosen by the locale's plural
rule for the count. A variant may leave the count itself out (Arabic says "twice"
with a word, not "2 times"), never another placeholder.

Numbers, dates and times are written as Babel writes them: Latin digits (Babel does not
transliterate into a locale's native digits) and the Gregorian calendar (the only one
it knows), with the locale's own weekday and month names, order and clock.

``WAYMARK_TEXTS_DIR`` names a folder of extra language files, read at start-up by the
services that speak to people (see ``extra_files``): adding or correcting a language is a
data change, not a release.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time, match_skeleton
from babel.numbers import format_decimal

TEXTS_DIR_ENV = "WAYMARK_TEXTS_DIR"
OTHER = "other"
# Weekday, day and month: "Monday 7 December", "lunes, 7 de diciembre", "الاثنين، 7 ديسمبر".
DATE_SKELETON = "MMMMEEEEd"

Text = str | Mapping[str, str]  # one template, or one per plural category


class TextError(ValueError):
    """A language file that cannot be used; raised at load, never at a send."""


def placeholders(template: str) -> frozenset[str]:
    try:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)
    except ValueError as exc:
        raise TextError(f"malformed placeholder: {exc}") from None


def text_placeholders(text: Text) -> frozenset[str]:
    """Every placeholder a text uses, across its plural variants."""
    if isinstance(text, str):
        return placeholders(text)
    return frozenset().union(*(placeholders(v) for v in text.values() if isinstance(v, str)))


def _wide_weekday(pattern: str) -> str:
    # Babel's skeleton matching keeps the matched pattern's widths ("mer." for "EEEE");
    # ICU widens them. Only outside quoted literals.
    parts = pattern.split("'")
    parts[::2] = [re.sub(r"(?<!E)E{1,3}(?!E)", "EEEE", part) for part in parts[::2]]
    return "'".join(parts)


@dataclass(frozen=True)
class Cldr:
    """What CLDR says for one locale: dates, times, numbers and plural categories."""

    locale: Locale
    _date_pattern: str = field(repr=False)

    @classmethod
    def parse(cls, tag: str) -> Cldr:
        return _cldr(tag)

    @property
    def categories(self) -> frozenset[str]:
        """The plural categories the language uses, ``other`` included."""
        return frozenset(self.locale.plural_form.tags) | {OTHER}

    def plural(self, count: int) -> str:
        return self.locale.plural_form(count)

    def date(self, moment: datetime) -> str:
        """Weekday, day and month of a local moment, as the locale writes them."""
        return format_datetime(moment, self._date_pattern, locale=self.locale)

    def full_date(self, moment: datetime) -> str:
        """Weekday, day, month and year of a local moment, the locale's full date
        ("Monday, 7 December 2026", "الاثنين، 7 ديسمبر 2026"): for records that span
        years, where a reminder's date needs no year."""
        return format_date(moment, "full", locale=self.locale)

    @property
    def direction(self) -> str:
        """``ltr`` or ``rtl``: how the locale's script runs (Arabic and Persian: ``rtl``)."""
        return self.locale.text_direction

    def time(self, moment: datetime) -> str:
        """The local time of day, the locale's short form ("09:00", "9:00", "9:00 ص")."""
        return format_time(moment, "short", locale=self.locale)

    def number(self, count: int) -> str:
        # No grouping: counts here are small, and French groups with a narrow no-break
        # space that would turn a whole SMS into UCS-2 (half the characters per segment).
        return format_decimal(count, locale=self.locale, group_separator=False)


@cache
def _cldr(tag: str) -> Cldr:
    try:
        locale = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as exc:
        raise TextError(f"unknown CLDR locale {tag!r}: {exc}") from None
    skeleton = match_skeleton(DATE_SKELETON, locale.datetime_skeletons) or "MMMMEd"
    pattern = _wide_weekday(locale.datetime_skeletons[skeleton].pattern)
    return Cldr(locale=locale, _date_pattern=pattern)


def check_text(where: str, text: object, *, cldr: Cldr, expected: frozenset[str],
               counts: frozenset[str]) -> Text:
    """A text as loaded from a file, checked: a string using exactly ``expected``; or,
    when ``expected`` holds a count, a table of exactly the locale's plural categories
    whose variants use ``expected`` (each may leave out the count)."""
    counted = expected & counts
    if not counted:
        if not isinstance(text, str):
            raise TextError(f"{where} must be a text")
        used = placeholders(text)
        if used != expected:
            raise TextError(f"{where} must use the placeholders {sorted(expected)}: missing "
                            f"{sorted(expected - used)}, unknown {sorted(used - expected)}")
        return text
    if len(counted) > 1:
        raise TextError(f"{where} counts more than one thing: {sorted(counted)}")
    if not isinstance(text, Mapping) or not all(isinstance(v, str) for v in text.values()):
        raise TextError(f"{where} counts {{{next(iter(counted))}}}: it needs one text per plural "
                        f"category of {cldr.locale}: {sorted(cldr.categories)}")
    if set(text) != cldr.categories:
        raise TextError(f"{where} must have exactly the plural categories of {cldr.locale}: "
                        f"{sorted(cldr.categories)}, not {sorted(text)}")
    for category, variant in text.items():
        used = placeholders(variant)
        if not expected - counted <= used <= expected:
            raise TextError(f"{where}.{category} must use the placeholders {sorted(expected)} "
                            f"(the count may be left out)")
    return dict(text)


def variant(text: Text, *, cldr: Cldr, counts: frozenset[str], values: Mapping[str, object]) -> str:
    """The template to fill: the text itself, or the variant CLDR asks for its count."""
    if isinstance(text, str):
        return text
    [count] = [values[name] for name in counts if name in values]
    return text[cldr.plural(int(count))]  # type: ignore[call-overload]


def render(text: Text, *, cldr: Cldr, counts: frozenset[str], **values: object) -> str:
    """Fill a text: counts are written as the locale writes numbers, and a plural text
    uses the variant of the locale's plural category for its count."""
    written = {name: cldr.number(value) if name in counts and isinstance(value, int) else value
               for name, value in values.items()}
    return variant(text, cldr=cldr, counts=counts, values=values).format(**written)


def sample_counts(cldr: Cldr, *, upto: int = 1000) -> dict[str, int]:
    """The smallest count in ``0..upto`` of each plural category the locale uses, found by
    its plural rule (a category reached only by larger or decimal numbers is absent)."""
    found: dict[str, int] = {}
    for n in range(upto + 1):
        found.setdefault(cldr.plural(n), n)
    for n in (10**6, 10**9):  # "many" in French and Spanish starts at a million
        found.setdefault(cldr.plural(n), n)
    return found


def extra_files(service: str) -> Iterator[Path]:
    """Language files ``$WAYMARK_TEXTS_DIR/<service>/<code>.toml``, by code: each adds a
    language to those shipped with the service, or replaces the shipped file of the same
    code. A folder that does not exist fails the start (a mistyped path must not silently
    leave people without their language); a service without a sub-folder adds nothing."""
    root = os.environ.get(TEXTS_DIR_ENV)
    if not root:
        return
    if not Path(root).is_dir():
        raise TextError(f"{TEXTS_DIR_ENV}: {root} is not a folder")
    yield from sorted((Path(root) / service).glob("*.toml"))
