"""Checkin's language files are checked when loaded: the keys and placeholders of
English, a CLDR locale, and one variant per plural category of that locale for a text
that counts. (Every text rendered in every language: tests/contracts/test_texts.py.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import checkin.texts
import pytest
from checkin.texts import languages, load

from shared.texts import TextError

ENGLISH = (Path(checkin.texts.__file__).parent / "en.toml").read_text(encoding="utf-8")
REFERENCE = languages()["en"].texts


@pytest.mark.parametrize(("old", "new", "complaint"), [
    # A count in one sentence for every number: "You can try 1 more times".
    ('voice_wrong_pin.one = "That PIN is not right. You can try {tries} more time."\n'
     'voice_wrong_pin.other = "That PIN is not right. You can try {tries} more times."',
     'voice_wrong_pin = "That PIN is not right. You can try {tries} more times."',
     "one text per plural category of en_GB"),
    ('voice_wrong_pin.one = "That PIN is not right. You can try {tries} more time."\n', '',
     "exactly the plural categories of en_GB"),
    ('voice_wrong_pin.one = "That PIN is not right. You can try {tries} more time."',
     'voice_wrong_pin.one = "That PIN is not right. You can try {tries} more time."\n'
     'voice_wrong_pin.few = "That PIN is not right. You can try {tries} more times."',
     "exactly the plural categories of en_GB"),
    ('voice_wrong_pin.one = "That PIN is not right. You can try {tries} more time."',
     'voice_wrong_pin.one = "That PIN is not right. You can try {minutes} more time."',
     "must use the placeholders ['tries']"),
    ('window = "{opens_date}, {opens_time} to {closes_time}"',
     'window = "{opens_date}, {opens_time} to {closes_date}"', "unknown ['closes_date']"),
    ('locale = "en_GB"', 'locale = "xx_NOWHERE"', "unknown CLDR locale"),
    ('locale = "en_GB"', 'locale = "en_GB"\nweekdays = ["Monday"]', "unknown ['weekdays']"),
])
def test_a_broken_file_fails_the_load(old, new, complaint):
    assert old in ENGLISH
    with pytest.raises(TextError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        load("xx", ENGLISH.replace(old, new, 1), REFERENCE)


def test_a_counted_text_has_the_categories_of_its_own_locale():
    # Arabic as English's structure: the Arabic locale asks for six variants, not two.
    text = ENGLISH.replace('locale = "en_GB"', 'locale = "ar"')
    with pytest.raises(TextError, match=r"sms_wrong_pin must have exactly the plural categories of ar: "
                       r"\['few', 'many', 'one', 'other', 'two', 'zero'\], not \['one', 'other'\]"):
        load("xx", text, REFERENCE)


def test_dates_and_times_come_from_cldr_for_the_files_locale():
    english = languages()["en"]
    opens, closes = datetime(2026, 12, 7, 9, tzinfo=UTC), datetime(2026, 12, 7, 19, tzinfo=UTC)
    assert english.window(opens, closes) == "Monday 7 December, 09:00 to 19:00"
    assert english.when(closes) == "Monday 7 December at 19:00"
    american = load("xx", ENGLISH.replace('locale = "en_GB"', 'locale = "en_US"'), REFERENCE)
    assert american.window(opens, closes) == "Monday, December 7, 9:00\u202fAM to 7:00\u202fPM"
    assert languages()["es"].window(opens, closes) == "lunes, 7 de diciembre, de 9:00 a 19:00"
    assert languages()["fr"].when(closes) == "lundi 7 décembre à 19:00"
