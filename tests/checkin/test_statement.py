"""The person's attendance statement (``GET /v1/cases/{id}/statement``): CSV, printable
HTML and PDF, English beside the person's language (Arabic here, right to left).

The history, built through the service's own paths on a stopped clock: a weekly case,
Mondays 09:00-19:00 in London (GMT in winter) with 24 hours' grace, from 7 December
2026; the statement is produced on Monday 4 January 2027 at 12:00.

- 7 Dec: an SMS check-in at 10:00, on time;
- Wed 9 Dec: a keypad call, outside any window (an unscheduled contact);
- 14 Dec: an in-person check-in on Tuesday 15 Dec at 10:00, in the grace period: late;
- 21 Dec: excused beforehand by the caseworker, "Hospital appointment";
- 28 Dec: nobody came; the job marks it missed;
- 4 Jan: open when the statement is produced: pending. Later windows are not listed.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import uuid
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from checkin.enums import Channel, Outcome, Timing
from checkin.models import CaseCopy
from checkin.texts import languages
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from pypdf.generic import ByteStringObject, ContentStream, TextStringObject

from tests.checkin.helpers import (
    CASEWORKER,
    OFFICER,
    SUPERVISOR,
    add_case,
    apply,
    auth,
    expected,
    issue_pin,
    rows,
    run_jobs,
    sms,
)
from tests.checkin.test_erasure import erased
from tests.checkin.test_voice import Call

PRODUCED = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
REASON = "Hospital appointment"
OUTCOMES = ["on_time", "late", "excused", "missed", "pending"]
ARABIC = re.compile("[\u0600-\u06ff]")
DEJAVU_SANS = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # fonts-dejavu-core


@pytest.fixture
async def history(checkin_app, checkin, clock) -> uuid.UUID:
    case_id = await add_case(checkin_app, language="ar")
    pin = await issue_pin(checkin, case_id)
    third = (await expected(checkin_app, case_id))[2]
    excused = await checkin.post(f"/v1/expected-checkins/{third.id}/excusal",
                                 json={"reason": REASON}, headers=CASEWORKER)
    assert excused.status_code == 200, excused.text
    clock.move_to(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    assert (await sms(checkin, pin)).status_code == 200
    clock.move_to(datetime(2026, 12, 9, 12, 0, tzinfo=UTC))
    call = Call(checkin)
    await call.press(await call.start(), pin)
    clock.move_to(datetime(2026, 12, 15, 10, 0, tzinfo=UTC))
    visit = await checkin.post("/v1/checkins", headers=OFFICER, json={
        "case_id": str(case_id), "reporting_centre": "Croydon",
        "identity_confirmed_by": "document"})
    assert visit.status_code == 201, visit.text
    clock.move_to(datetime(2026, 12, 30, 12, 0, tzinfo=UTC))
    await run_jobs(checkin_app)
    clock.move_to(PRODUCED)
    return case_id


async def statement(checkin, case_id, *, headers=CASEWORKER, **params):
    return await checkin.get(f"/v1/cases/{case_id}/statement", headers=headers, params=params)


def parse_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # the mark that makes a spreadsheet read UTF-8
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


# --- content ----------------------------------------------------------------------------


async def test_the_csv_lists_every_window_excusal_and_check_in_in_both_languages(
        checkin_app, checkin, history):
    response = await statement(checkin, history, format="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    [copy] = await rows(checkin_app, CaseCopy)
    assert response.headers["content-disposition"] == (
        f'attachment; filename="statement_{copy.reference}_2027-01-04.csv"')
    assert "\r\n" in response.text  # RFC 4180 line ends
    records = parse_csv(response.text)
    assert {r["reference"] for r in records} == {copy.reference}
    assert {r["produced_at"] for r in records} == {"2027-01-04T12:00:00+00:00"}

    windows = [r for r in records if r["record"] == "expected_checkin"]
    assert [w["outcome"] for w in windows] == OUTCOMES  # 11 January is still to come
    assert [w["opens_at"] for w in windows] == [
        f"{day}T09:00:00+00:00" for day in
        ("2026-12-07", "2026-12-14", "2026-12-21", "2026-12-28", "2027-01-04")]
    assert windows[0]["closes_at"] == "2026-12-07T19:00:00+00:00"
    assert windows[0]["grace_ends_at"] == "2026-12-08T19:00:00+00:00"
    assert [w["excusal_reason"] for w in windows] == ["", "", REASON, "", ""]
    assert windows[0]["when_en"] == "Monday, 7 December 2026, 09:00 to 19:00"
    assert windows[0]["when_ar"] == "الاثنين، 7 ديسمبر 2026، من 9:00 ص إلى 7:00 م"
    assert [w["outcome_en"] for w in windows] == [
        "On time", "Late (in the grace period), attended", "Excused", "Missed",
        "Not decided yet"]
    assert [w["outcome_ar"] for w in windows] == [
        "في الموعد", "متأخر (ضمن مهلة السماح)، محسوب حضوراً", "معفى", "فائت", "لم يُحسم بعد"]

    received = [r for r in records if r["record"] == "checkin"]
    assert [(c["received_at"], c["channel"], c["timing"]) for c in received] == [
        ("2026-12-07T10:00:00+00:00", "sms", "on_time"),
        ("2026-12-09T12:00:00+00:00", "voice", "unscheduled"),
        ("2026-12-15T10:00:00+00:00", "in_person", "late")]
    assert [c["channel_en"] for c in received] == [
        "Text message", "Phone call (keypad)", "In person"]
    assert [c["channel_ar"] for c in received] == [
        "رسالة نصية", "مكالمة هاتفية (لوحة المفاتيح)", "حضور شخصي"]
    assert received[1]["timing_en"] == "Outside any window"
    assert received[2]["when_en"] == "Tuesday, 15 December 2026 at 10:00"
    assert received[2]["when_ar"] == "الثلاثاء، 15 ديسمبر 2026 الساعة 10:00 ص"
    assert no_staff_or_personal_data(response.text)


def no_staff_or_personal_data(text: str) -> bool:
    """Who recorded or excused, where, and the person's number: none of it."""
    return not any(word in text for word in ("alice", "olu", "Croydon", "document", "7911"))


class Cells(HTMLParser):
    """The text of each table cell carrying ``lang``, with its ``dir``."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None, str | None]] = []
        self.found: list[tuple[str | None, str | None, str]] = []
        self.texts: list[list[str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("meta", "br"):
            return
        self.stack.append((tag, attrs.get("lang"), attrs.get("dir")))
        self.texts.append([])

    def handle_endtag(self, tag):
        tag, lang, direction = self.stack.pop()
        text = "".join(self.texts.pop())
        if self.texts:
            self.texts[-1].append(text)
        if lang is not None and tag in ("td", "th"):
            self.found.append((lang, direction, text))

    def handle_data(self, data):
        if self.texts:
            self.texts[-1].append(data)


async def test_the_html_sets_arabic_beside_english_right_to_left(checkin, history):
    response = await statement(checkin, history)  # no format, no Accept: HTML
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-disposition"].startswith("inline; ")
    page = Cells()
    page.feed(response.text)
    by_lang: dict[str, list[str]] = {}
    for lang, direction, text in page.found:
        if lang == "ar":
            assert direction == "rtl", text
        elif lang == "en" and text.strip():
            assert direction in ("ltr", None) and not ARABIC.search(text), text
        by_lang.setdefault(lang, []).append(text)
    english, arabic = " ".join(by_lang["en"]), " ".join(by_lang["ar"])
    for words in ("Attendance statement", "Monday, 7 December 2026, 09:00 to 19:00", "Missed",
                  "Reason for the excusal", REASON, "Text message", "Outside any window"):
        assert words in english, words
    for words in ("كشف الحضور", "الاثنين، 7 ديسمبر 2026، من 9:00 ص إلى 7:00 م", "فائت",
                  "سبب الإعفاء", REASON, "رسالة نصية", "خارج أي موعد"):
        assert words in arabic, words
    assert "Thursday" not in response.text  # nothing from after the statement (no 7 Jan)
    assert "<script" not in response.text
    assert no_staff_or_personal_data(response.text)


def pdf_text(content: bytes) -> str:
    """The PDF's text as pypdf extracts it, NFKC-normalised.

    pypdf gives each Arabic word in its logical letter order (WeasyPrint maps each shaped
    glyph run back to its letters), but it joins what shares a baseline in visual order:
    cells side by side run together ("منفائت"), right-to-left words come reversed, and
    what wraps in a cell is broken. So each word of a phrase is looked for, not the
    phrase. NFKC folds any Arabic presentation form back to its letter, should an
    extractor hand one back."""
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    return unicodedata.normalize("NFKC", text)


def has_words(text: str, phrase: str) -> bool:
    return all(word in text for word in phrase.split())


def glyphs_drawn(content: bytes, font: str, path: Path) -> set[str]:
    """The names, in the font file at ``path``, of the glyphs the PDF draws in ``font``.

    WeasyPrint embeds a subset that keeps the font's glyph ids (checked here, glyph by
    glyph, on their metrics) and writes
    text as 2-byte glyph ids (Identity-H): so the ids drawn name the very glyphs that
    HarfBuzz chose, contextual forms included."""
    original = TTFont(path)
    order = original.getGlyphOrder()
    drawn: set[str] = set()
    for page in PdfReader(io.BytesIO(content)).pages:
        fonts = {name: ref.get_object() for name, ref in page["/Resources"]["/Font"].items()}
        current = None
        for operands, operator in ContentStream(page.get_contents(), None).operations:
            if operator == b"Tf":
                current = fonts[operands[0]]
            elif operator in (b"Tj", b"TJ") and current["/BaseFont"].endswith("+" + font):
                [descendant] = current["/DescendantFonts"]
                embedded = TTFont(io.BytesIO(
                    descendant.get_object()["/FontDescriptor"]["/FontFile2"].get_data()))
                items = operands[0] if operator == b"TJ" else [operands[0]]
                for item in items:
                    if isinstance(item, ByteStringObject | TextStringObject):
                        raw = item.original_bytes
                        for gid in (int.from_bytes(raw[i:i + 2], "big")
                                    for i in range(0, len(raw), 2)):
                            # The same glyph: the subset kept the id (same advance).
                            assert (embedded["hmtx"][embedded.getGlyphOrder()[gid]]
                                    == original["hmtx"][order[gid]])
                            drawn.add(order[gid])
    return drawn


async def test_the_pdf_reads_back_in_both_languages_with_arabic_shaped(checkin, history):
    response = await statement(checkin, history, headers=CASEWORKER | {
        "Accept": "application/pdf"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = pdf_text(response.content)
    [copy_reference] = re.findall(r"[0-9A-Z]{4}-[0-9A-Z]{3}", text)[:1]
    assert text.count(copy_reference) >= 3  # English, Arabic, and each page's footer
    for phrase in ("Attendance statement", "Monday 7 December 2026", "Hospital appointment",
                   "Missed", "Excused", "Not decided yet", "keypad", "Outside any window"):
        assert has_words(text, phrase), phrase
    for phrase in ("كشف الحضور", "ديسمبر", "فائت", "معفى", "في الموعد", "رسالة نصية",
                   "سبب الإعفاء", "مكالمة هاتفية", "خارج أي موعد"):
        assert has_words(text, phrase), (phrase, text)
    assert no_staff_or_personal_data(text)
    # Shaped: "كشف" is drawn with kaf's initial, sheen's medial and feh's final forms
    # (DejaVu Sans names them by their presentation-form code points), not the letters'
    # isolated forms side by side.
    drawn = glyphs_drawn(response.content, "DejaVu-Sans", DEJAVU_SANS)
    assert {"uniFEDB", "uniFEB8", "uniFED2"} <= drawn
    assert not {"uni0643", "uni0634", "uni0641"} & drawn


async def test_an_english_speakers_statement_is_in_english_alone(checkin_app, checkin, clock):
    case_id = await add_case(checkin_app, language="en")
    clock.move_to(datetime(2026, 12, 7, 12, 0, tzinfo=UTC))
    response = await statement(checkin, case_id, format="csv")
    [window] = parse_csv(response.text)
    assert (window["outcome"], window["outcome_en"]) == ("pending", "Not decided yet")
    assert not [name for name in window if name.endswith("_ar")]
    html = (await statement(checkin, case_id, format="html")).text
    assert 'dir="rtl"' not in html and 'lang="ar"' not in html
    assert '<td lang="en" dir="ltr">None</td>' in html  # no check-in received yet


def test_every_outcome_channel_and_timing_has_its_words_in_every_language():
    for lang in languages().values():
        for prefix, vocabulary in (("outcome", Outcome), ("channel", Channel),
                                   ("timing", Timing)):
            for member in vocabulary:
                assert lang.say(f"statement_{prefix}_{member}"), (lang.code, member)


# --- formats ----------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "accept", "media"), [
    ({}, None, "text/html"),
    ({}, "*/*", "text/html"),
    ({}, "application/json", "text/html"),
    ({}, "text/csv", "text/csv"),
    ({}, "text/csv;q=0.5, application/pdf;q=0.9", "application/pdf"),
    ({}, "application/pdf;q=0, text/csv", "text/csv"),
    ({"format": "csv"}, "application/pdf", "text/csv"),  # format= wins
    ({"format": "pdf"}, None, "application/pdf"),
])
async def test_the_format_comes_from_format_or_accept(checkin, history, params, accept, media):
    headers = CASEWORKER | ({"Accept": accept} if accept else {})
    response = await statement(checkin, history, headers=headers, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media
    assert response.headers["vary"] == "Accept"


async def test_an_unknown_format_is_a_422_naming_format(checkin, history):
    response = await statement(checkin, history, format="docx")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["format"]


# --- who, and which cases ---------------------------------------------------------------


async def test_a_case_outside_the_caseload_is_as_unknown_as_a_missing_one(checkin, history):
    other = auth("caseworker", sub="bob")
    outside = await statement(checkin, history, headers=other)
    unknown = await statement(checkin, uuid.uuid4(), headers=SUPERVISOR)
    assert outside.status_code == unknown.status_code == 404
    assert outside.json()["detail"] == unknown.json()["detail"]
    assert (await statement(checkin, history, headers=SUPERVISOR)).status_code == 200
    for role in ("officer", "authority", "service"):
        assert (await statement(checkin, history, headers=auth(role, sub="x"))).status_code == 403


async def test_an_erased_case_is_gone(checkin_app, checkin, history):
    await apply(checkin_app, erased(history))
    for headers in (CASEWORKER, SUPERVISOR):
        response = await statement(checkin, history, headers=headers, format="pdf")
        assert response.status_code == 410
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 410
    assert "statement.produced" not in [a for a, *_ in await trail(checkin, history)]


async def trail(checkin, case_id) -> list[tuple[str, str, str]]:
    response = await checkin.get("/v1/audit", headers=SUPERVISOR, params={
        "case_id": str(case_id), "from": "2026-11-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    return [(e["action"], e["actor"], e["role"]) for e in reversed(response.json()["items"])]


async def test_producing_a_statement_is_audited(checkin, history):
    before = await trail(checkin, history)
    await statement(checkin, history, format="csv")
    await statement(checkin, history, headers=SUPERVISOR | {"X-Request-ID": "stmt-1"})
    assert (await trail(checkin, history))[len(before):] == [
        ("statement.produced", "alice", "caseworker"),
        ("statement.produced", "sam", "supervisor")]
