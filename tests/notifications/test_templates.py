"""Reminder templates: checked when loaded; how segments are counted. That every
reminder of every language fits in two segments, on every day of a year, is
tests/contracts/test_texts.py."""

from __future__ import annotations

from datetime import datetime

import pytest
from notifications.segments import encode
from notifications.templates import PLACEHOLDERS, TemplateError, all_templates, parse


def test_arabic_is_counted_as_ucs_2():
    text = all_templates()["ar"].render("sms", "window_opens", closes_time="19:00",
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
locale = "en_GB"
press_one = "Press 1."
[sms]
evening_before = "Tomorrow {opens_date}, {opens_time}-{closes_time}, {number}"
window_opens = "Open until {closes_time}, {number}"
nudge = "Until {grace_ends_date} {grace_ends_time}, {number}"
[voice]
evening_before = "Tomorrow {opens_date}, {opens_time}-{closes_time}, {number}"
window_opens = "Open until {closes_time}, {number}"
nudge = "Until {grace_ends_date} {grace_ends_time}, {number}"
"""


def test_a_valid_file_loads():
    templates = parse("xx", VALID)
    values = templates.values(opens=datetime(2026, 12, 7, 9), closes=datetime(2026, 12, 7, 19),
                              grace_ends=datetime(2026, 12, 8, 19), number="1")
    assert templates.render("sms", "nudge", **values) == "Until Tuesday 8 December 19:00, 1"


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ('nudge = "Until {grace_ends_date} {grace_ends_time}, {number}"\n[voice]',
     'nudge = "Until {grace_ends_date} {grace_ends_time}"\n[voice]', "missing ['number']"),
    ('window_opens = "Open until {closes_time}, {number}"\nnudge',
     'window_opens = "Open until {closes_time}, {number} {name}"\nnudge', "unknown ['name']"),
    # A sentence that expects a time cannot be handed a date (the Spanish bug).
    ('window_opens = "Open until {closes_time}, {number}"\nnudge',
     'window_opens = "Open until {grace_ends_date}, {number}"\nnudge',
     "unknown ['grace_ends_date']"),
    ('[voice]\nevening_before = "Tomorrow {opens_date}, {opens_time}-{closes_time}, {number}"\n',
     '[voice]\n', "must have exactly"),
    ('locale = "en_GB"', 'locale = "xx_NOWHERE"', "unknown CLDR locale"),
    ('locale = "en_GB"\n', '', "missing 'locale'"),
    ('locale = "en_GB"', 'locale = "en_GB"\nweekdays = ["M"]', "unknown ['weekdays']"),
    ('nudge = "Until {grace_ends_date} {grace_ends_time}, {number}"\n[voice]',
     'nudge = "Until {grace_ends_date {grace_ends_time}, {number}"\n[voice]', "placeholder"),
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
