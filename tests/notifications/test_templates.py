"""Reminder templates: checked when loaded, and every default SMS, in every language,
costs at most two segments even with the longest date and number."""

from __future__ import annotations

from datetime import datetime

import pytest
from notifications.segments import encode
from notifications.templates import PLACEHOLDERS, TemplateError, all_templates, parse

LONGEST_NUMBER = "+" + "9" * 15  # E.164 allows 15 digits


def worst_values(templates) -> dict[str, dict[str, str]]:
    """The longest weekday and month a language has, on the 30th at 19:00."""
    weekday = max(range(7), key=lambda d: len(templates.weekdays[d]))
    month = max(range(12), key=lambda m: len(templates.months[m]))
    # Find a date with that weekday in that month (any year will do).
    day = next(datetime(year, month + 1, 28) for year in range(2026, 2040)
               if datetime(year, month + 1, 28).weekday() == weekday)
    opens, closes = day.replace(hour=9), day.replace(hour=19)
    return {"evening_before": {"window": templates.window(opens, closes)},
            "window_opens": {"closes": "19:00"},
            "nudge": {"grace_ends": templates.when(closes)}}


@pytest.mark.parametrize("code", ["en", "fr", "es", "ar"])
def test_every_default_sms_fits_in_two_segments(code):
    templates = all_templates()[code]
    for kind, values in worst_values(templates).items():
        text = templates.render("sms", kind, number=LONGEST_NUMBER, **values)
        assert encode(text).segments <= 2, (kind, len(text), text)


def test_english_and_french_reminders_stay_in_gsm_7():
    for code in ("en", "fr"):
        templates = all_templates()[code]
        for kind, values in worst_values(templates).items():
            text = templates.render("sms", kind, number=LONGEST_NUMBER, **values)
            assert encode(text).encoding == "GSM-7", (code, kind, text)


def test_arabic_is_counted_as_ucs_2():
    text = all_templates()["ar"].render("sms", "window_opens", closes="19:00",
                                        number="+447700900000")
    result = encode(text)
    assert result.encoding == "UCS-2"
    assert result.units == len(text)  # all in the Basic Multilingual Plane
    assert result.segments == (1 if len(text) <= 70 else -(-len(text) // 67))


@pytest.mark.parametrize(("text", "encoding", "segments"), [
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("€" * 80, "GSM-7", 1),  # an extension character takes two septets
    ("€" * 81, "GSM-7", 2),
    ("é" * 160, "GSM-7", 1),  # é is in the GSM basic set
    ("ç" + "a" * 69, "UCS-2", 1),  # ç is not: the whole message becomes UCS-2
    ("ç" + "a" * 70, "UCS-2", 2),
    ("ç" + "a" * 133, "UCS-2", 2),
    ("ç" + "a" * 134, "UCS-2", 3),
    ("🙂" * 35, "UCS-2", 1),  # outside the BMP: two UTF-16 units each
    ("🙂" * 36, "UCS-2", 2),
    ("", "GSM-7", 1),
])
def test_segment_boundaries(text, encoding, segments):
    result = encode(text)
    assert (result.encoding, result.segments) == (encoding, segments)


VALID = """
voice_name = "Polly.Amy"
voice_language = "en-GB"
weekdays = ["M", "T", "W", "T", "F", "S", "S"]
months = ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"]
window = "{weekday} {day} {month}, {opens} to {closes}"
when = "{weekday} {day} {month} at {time}"
press_one = "Press 1."
[sms]
evening_before = "Tomorrow {window}, {number}"
window_opens = "Open until {closes}, {number}"
nudge = "Until {grace_ends}, {number}"
[voice]
evening_before = "Tomorrow {window}, {number}"
window_opens = "Open until {closes}, {number}"
nudge = "Until {grace_ends}, {number}"
"""


def test_a_valid_file_loads():
    assert parse("xx", VALID).render("sms", "nudge", grace_ends="Fri", number="1") == "Until Fri, 1"


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ('nudge = "Until {grace_ends}, {number}"\n[voice]', 'nudge = "Until {grace_ends}"\n[voice]',
     "missing ['number']"),
    ('window_opens = "Open until {closes}, {number}"\nnudge = "Until {grace_ends}, {number}"\n',
     'window_opens = "Open until {closes}, {number} {name}"\nnudge = "Until {grace_ends}, {number}"\n',
     "unknown ['name']"),
    ('[voice]\nevening_before = "Tomorrow {window}, {number}"\n', '[voice]\n', "must have exactly"),
    ('window = "{weekday} {day} {month}, {opens} to {closes}"',
     'window = "{weekday} {day} {month}"', "window must use"),
    ('months = ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"]',
     'months = ["J"]', "12 months"),
    ('nudge = "Until {grace_ends}, {number}"\n[voice]', 'nudge = "Until {grace_ends, {number}"\n[voice]',
     "placeholder"),
])
def test_a_broken_template_fails_the_load_not_a_send(old, new, complaint):
    assert old in VALID
    with pytest.raises(TemplateError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        parse("xx", VALID.replace(old, new, 1))


def test_every_language_has_every_kind_on_both_channels():
    for templates in all_templates().values():
        assert set(templates.texts) == {"sms", "voice"}
        for channel in templates.texts.values():
            assert set(channel) == set(PLACEHOLDERS)
