"""Every text of every language, rendered as people get it: checkin's SMS replies and
voice prompts, notifications' reminders. Dates span a whole year (every weekday, every
month, short and long clock times); counts hit every CLDR plural category of the
language, found from Babel's plural rule, never listed here per language. Checked: no
placeholder left, the plural variant is the one CLDR asks for, every SMS within two
segments, weekday and month names as CLDR writes them, and none kept by hand."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import checkin.texts
import notifications.templates
import pytest
from babel import Locale
from babel.dates import format_date
from checkin.texts import COUNTS, languages
from notifications.enums import Channel, ReminderKind
from notifications.planner import spoken_number
from notifications.segments import encode
from notifications.templates import all_templates

from shared.texts import sample_counts, text_placeholders

LONGEST_NUMBER = "+" + "9" * 15  # E.164 allows 15 digits
YEAR = [date(2027, 1, 1) + timedelta(days=n) for n in range(365)]
# 09:00-19:00, and the longest clock times there are (10:45 / 22:45, "10:45 م" in Arabic).
HOURS = [(time(9), time(19)), (time(10, 45), time(22, 45))]
MOMENTS = [(datetime.combine(day, opens, UTC), datetime.combine(day, closes, UTC))
           for day in YEAR for opens, closes in HOURS]
LEFTOVER = re.compile(r"[{}]")
SETTINGS = {"name", "voice", "voice_language", "locale"}

CHECKIN_FILES = {p.stem: tomllib.loads(p.read_text(encoding="utf-8"))
                 for p in Path(checkin.texts.__file__).parent.glob("*.toml")}
TEMPLATE_FILES = {p.stem: tomllib.loads(p.read_text(encoding="utf-8"))
                  for p in Path(notifications.templates.__file__).parent.glob("*.toml")}


def names(text: str, name: str) -> bool:
    """Whether ``text`` has ``name`` as a word ("mai" is not in "maintenant")."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def weekday(day: date, locale: str) -> str:
    return format_date(day, "EEEE", locale=locale)


def month(day: date, locale: str) -> str:
    return format_date(day, "MMMM", locale=locale)


def test_every_shipped_language_is_tested():
    assert set(CHECKIN_FILES) == set(languages()) == set(TEMPLATE_FILES) == set(all_templates())
    assert {"en", "fr", "es", "ar"} <= set(CHECKIN_FILES)


@pytest.mark.parametrize("files", [CHECKIN_FILES, TEMPLATE_FILES], ids=["checkin", "reminders"])
def test_no_weekday_or_month_name_is_kept_by_hand(files):
    for code, data in files.items():
        assert not {"weekdays", "months"} & set(data), code
        written = repr(data)
        for day in YEAR[:7] + [date(2027, m, 1) for m in range(1, 13)]:
            for name in (weekday(day, data["locale"]), month(day, data["locale"])):
                assert not names(written, name), (code, name)


# --- checkin: SMS replies and voice prompts ----------------------------------------


@pytest.mark.parametrize("code", sorted(CHECKIN_FILES))
def test_counts_hit_every_plural_category_and_get_the_variant_cldr_asks_for(code):
    raw, lang = CHECKIN_FILES[code], languages()[code]
    rule = Locale.parse(raw["locale"]).plural_form
    samples = sample_counts(lang.cldr)
    assert set(samples) == set(rule.tags) | {"other"}  # every category is reached
    counted = [key for key, text in raw.items()
               if key not in SETTINGS and text_placeholders(text) & COUNTS]
    assert {"sms_wrong_pin", "sms_locked", "voice_wrong_pin", "voice_locked"} <= set(counted)
    for key in counted:
        [count] = text_placeholders(raw[key]) & COUNTS
        assert set(raw[key]) == set(rule.tags) | {"other"}, key
        for category, n in samples.items():
            assert rule(n) == category
            said = lang.say(key, **{count: n})
            assert said == raw[key][category].format(**{count: lang.cldr.number(n)})
            assert not LEFTOVER.search(said)
            if key.startswith("sms_"):
                assert encode(said).segments <= 2, (code, key, n, said)


def test_the_english_and_arabic_counts_read_right():
    en, ar = languages()["en"], languages()["ar"]
    assert en.say("sms_wrong_pin", tries=1) == (
        "That PIN is not right. You can try 1 more time. Send your 6-digit PIN.")
    assert "You can try 2 more times." in en.say("voice_wrong_pin", tries=2)
    assert "for 15 minutes." in en.say("sms_locked", minutes=15)
    assert "مرة واحدة" in ar.say("sms_wrong_pin", tries=1)  # once, not "1 مرات"
    assert "مرتين" in ar.say("sms_wrong_pin", tries=2)  # the dual
    assert "3 مرات" in ar.say("sms_wrong_pin", tries=3)  # few: 3-10
    assert "11 مرة" in ar.say("sms_wrong_pin", tries=11)  # many: 11-99
    assert "1 مرات" not in ar.say("voice_wrong_pin", tries=1)


@pytest.mark.parametrize("code", sorted(CHECKIN_FILES))
def test_every_checkin_text_renders_on_every_day_of_a_year(code):
    raw, lang = CHECKIN_FILES[code], languages()[code]
    locale = raw["locale"]
    rows = [{"next": lang.window(opens, closes), "last": lang.when(closes)}
            for opens, closes in MOMENTS]
    rows.append({"next": lang.say("next_none"), "last": lang.say("last_none")})
    for (opens, _), row in zip(MOMENTS, rows, strict=False):
        for phrase in row.values():  # weekday and month as CLDR writes them for the language
            assert weekday(opens.date(), locale) in phrase and month(opens.date(), locale) in phrase
        assert lang.cldr.time(opens) in row["next"]
    keys = [key for key in raw if key not in SETTINGS | {"when", "window"}
            and not text_placeholders(raw[key]) & COUNTS]
    for key in keys:
        used = text_placeholders(raw[key])
        for row in rows if used & {"next", "last"} else [{}]:
            said = lang.say(key, digit=len(languages()), **{k: v for k, v in row.items() if k in used})
            assert not LEFTOVER.search(said), (key, said)
            if key.startswith("sms_"):
                assert encode(said).segments <= 2, (code, key, encode(said), said)


# --- notifications: reminders --------------------------------------------------------


@pytest.mark.parametrize("code", sorted(TEMPLATE_FILES))
def test_every_reminder_renders_on_every_day_of_a_year(code):
    templates, locale = all_templates()[code], TEMPLATE_FILES[code]["locale"]
    for opens, closes in MOMENTS:
        grace_ends = closes + timedelta(hours=24)
        for channel in Channel:
            number = LONGEST_NUMBER if channel == Channel.sms else spoken_number(LONGEST_NUMBER)
            values = templates.values(opens=opens, closes=closes, grace_ends=grace_ends,
                                      number=number)
            said = {kind: templates.render(channel, kind, **values) for kind in ReminderKind}
            for kind, text in said.items():
                assert not LEFTOVER.search(text), (kind, text)
                if channel == Channel.sms:
                    assert encode(text).segments <= 2, (code, kind, encode(text), text)
            for kind, day in ((ReminderKind.evening_before, opens), (ReminderKind.nudge, grace_ends)):
                assert weekday(day.date(), locale) in said[kind]
                assert month(day.date(), locale) in said[kind]
            # "Open now until ..." expects a time: it gets the time, never a date.
            assert templates.cldr.time(closes) in said[ReminderKind.window_opens]
            assert not names(said[ReminderKind.window_opens], weekday(closes.date(), locale))
            assert not names(said[ReminderKind.window_opens], month(closes.date(), locale))


def test_the_spanish_window_sentence_gets_a_time():
    spanish = all_templates()["es"]
    opens, closes = datetime(2026, 12, 2, 9, tzinfo=UTC), datetime(2026, 12, 2, 21, 18, tzinfo=UTC)
    values = spanish.values(opens=opens, closes=closes, grace_ends=closes + timedelta(days=1),
                            number="+34600000000")
    text = spanish.render("sms", "window_opens", **values)
    assert "hasta las 21:18." in text
    assert "miércoles" not in text


def test_english_reminders_stay_in_gsm_7_all_year():
    templates = all_templates()["en"]
    for opens, closes in MOMENTS:
        values = templates.values(opens=opens, closes=closes, grace_ends=closes, number=LONGEST_NUMBER)
        for kind in ReminderKind:
            assert encode(templates.render("sms", kind, **values)).encoding == "GSM-7"
