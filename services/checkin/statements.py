"""A person's attendance statement: the plain record they (or their lawyer) can take
away, as CSV, printable HTML or PDF.

Guarantees:

- **What it holds.** The case reference, the moment it was produced (the service's
  clock, in the case's time zone), every expected check-in that had opened by then
  with its window and outcome (an excused one with the caseworker's reason), and every
  check-in received by then with its channel and how it counted. Windows still to
  open are left out: a statement records what happened. Nothing else: no name, phone
  number, date of birth or other person (checkin holds none of these), no staff
  notes, follow-ups, identity checks, reporting centres or who recorded or excused
  what.
- **Two languages side by side.** English, and beside it the person's language
  (``CaseCopy.language``), each column complete on its own, in the language's own
  direction: a right-to-left language (Arabic, Persian: CLDR says which) has
  ``dir="rtl"`` and its columns run from the right. The words are texts of
  ``checkin.texts`` (``statement_*``, required in every language file like every
  other text), dates and times CLDR's through Babel, with the year. A person whose
  language is English, or one checkin has no texts for, gets English alone.
- **One content, three formats.** The CSV (RFC 4180, UTF-8 with a byte-order mark so
  that a spreadsheet shows Arabic as Arabic) has one row per window or check-in:
  machine columns (ISO 8601 local times with their offset, vocabulary codes) and, per
  language, the same words the HTML prints. The PDF is the HTML, laid out by
  WeasyPrint (Pango and HarfBuzz shape Arabic; DejaVu Sans covers it), with nothing
  fetched from anywhere.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from checkin.checkins import list_checkins
from checkin.enums import StatementFormat
from checkin.models import CaseCopy, Checkin, ExpectedCheckin
from checkin.texts import DEFAULT, Language, language, languages
from shared.errors import ServiceUnavailable
from shared.negotiation import accept_quality

MEDIA_TYPES = {StatementFormat.html: "text/html", StatementFormat.csv: "text/csv",
               StatementFormat.pdf: "application/pdf"}
# Without a format or an Accept naming one: printable HTML, which a browser shows and
# prints as it is, and which is what the PDF is made from.
DEFAULT_FORMAT = StatementFormat.html
CSV_MACHINE_COLUMNS = ("reference", "produced_at", "record", "opens_at", "closes_at",
                       "grace_ends_at", "received_at", "outcome", "channel", "timing",
                       "excusal_reason")
CSV_WORD_COLUMNS = ("when", "outcome", "channel", "timing")
BOM = "\ufeff"


def choose_format(format: StatementFormat | None, accept: str | None) -> StatementFormat:
    """``format`` when given; otherwise the format the ``Accept`` header ranks highest
    (ties: the first named), and ``DEFAULT_FORMAT`` when it names none of them (``*/*``,
    nothing, or only types not made here)."""
    if format is not None:
        return format
    by_type = {media: fmt for fmt, media in MEDIA_TYPES.items()}
    ranked = [(q, by_type[media]) for media, q in accept_quality(accept).items()
              if media in by_type and q > 0]
    if not ranked:
        return DEFAULT_FORMAT
    top = max(q for q, _ in ranked)
    return next(fmt for q, fmt in ranked if q == top)


@dataclass(frozen=True, slots=True)
class Statement:
    """What a statement says, before it is written in any format."""

    reference: str
    produced_at: datetime  # in the case's time zone
    zone: ZoneInfo
    expected: Sequence[ExpectedCheckin]
    checkins: Sequence[Checkin]
    languages: tuple[Language, ...]  # English first

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)


def languages_for(code: str | None) -> tuple[Language, ...]:
    """English, then the person's language when it is another one checkin speaks."""
    english = languages()[DEFAULT]
    theirs = language(code)
    return (english,) if theirs.code == DEFAULT else (english, theirs)


async def gather(session: AsyncSession, *, case: CaseCopy, now: datetime) -> Statement:
    """The record of ``case`` up to ``now``: windows opened and check-ins received."""
    expected, checkins = await list_checkins(session, case_id=case.case_id, since=None,
                                             until=now)
    zone = ZoneInfo(case.timezone)
    return Statement(reference=case.reference, produced_at=now.astimezone(zone), zone=zone,
                     expected=expected, checkins=checkins,
                     languages=languages_for(case.language))


# --- the words, per language -----------------------------------------------------------


def when(lang: Language, moment: datetime) -> str:
    return lang.say("when", date=lang.cldr.full_date(moment), time=lang.cldr.time(moment))


def window_words(lang: Language, statement: Statement, row: ExpectedCheckin) -> dict[str, str]:
    opens, closes = statement.local(row.opens_at), statement.local(row.closes_at)
    return {"when": lang.say("window", opens_date=lang.cldr.full_date(opens),
                             opens_time=lang.cldr.time(opens),
                             closes_time=lang.cldr.time(closes)),
            "outcome": lang.say(f"statement_outcome_{row.status}")}


def checkin_words(lang: Language, statement: Statement, row: Checkin) -> dict[str, str]:
    return {"when": when(lang, statement.local(row.received_at)),
            "channel": lang.say(f"statement_channel_{row.channel}"),
            "timing": lang.say(f"statement_timing_{row.timing}")}


# --- CSV -------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else ""


def to_csv(statement: Statement) -> str:
    """RFC 4180 (CRLF line ends, quoted where needed) after a UTF-8 byte-order mark: a
    header row, then one row per window (``record`` = ``expected_checkin``) and per
    check-in (``checkin``), each with its words in every language of the statement
    (``when_en``, ``outcome_en``, ..., ``when_ar``, ...)."""
    header = [*CSV_MACHINE_COLUMNS,
              *(f"{name}_{lang.code}" for lang in statement.languages
                for name in CSV_WORD_COLUMNS)]
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\r\n", restval="")
    writer.writeheader()
    common = {"reference": statement.reference, "produced_at": _iso(statement.produced_at)}
    for window in statement.expected:
        row = {**common, "record": "expected_checkin",
               "opens_at": _iso(statement.local(window.opens_at)),
               "closes_at": _iso(statement.local(window.closes_at)),
               "grace_ends_at": _iso(statement.local(window.grace_ends_at)),
               "outcome": window.status, "excusal_reason": window.excusal_reason or ""}
        for lang in statement.languages:
            row |= {f"{k}_{lang.code}": v for k, v in window_words(lang, statement, window).items()}
        writer.writerow(row)
    for checkin in statement.checkins:
        row = {**common, "record": "checkin",
               "received_at": _iso(statement.local(checkin.received_at)),
               "channel": checkin.channel, "timing": checkin.timing}
        for lang in statement.languages:
            row |= {f"{k}_{lang.code}": v
                    for k, v in checkin_words(lang, statement, checkin).items()}
        writer.writerow(row)
    return BOM + out.getvalue()


# --- HTML ------------------------------------------------------------------------------

STYLE = """
@page { size: A4; margin: 14mm 12mm;
        @bottom-center { content: var(--footer) " · " counter(page) " / " counter(pages);
                         font-size: 8pt; color: #444; } }
html { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #000; }
table { width: 100%; border-collapse: collapse; margin: 0 0 6mm; }
th, td { border: 0.5pt solid #777; padding: 2pt 4pt; vertical-align: top; text-align: start; }
thead th { background: #eee; }
tr { break-inside: avoid; }
h1 { font-size: 14pt; margin: 0 0 2pt; }
dl { margin: 2pt 0; } dt { font-weight: bold; } dd { margin: 0 0 2pt; }
.reason { display: block; margin-top: 2pt; font-size: 8pt; }
.reason b { display: block; }
.first { border-left: 1.5pt solid #000; }  /* between the languages, whatever their direction */
"""


def _attrs(lang: Language, extra: str = "") -> str:
    classes = f' class="{extra}"' if extra else ""
    return f' lang="{escape(lang.code)}" dir="{lang.cldr.direction}"{classes}'


Cells = Sequence[tuple[Language, list[str]]]  # one row: each language's cells, in order


def _row(cells: Cells, tag: str = "td") -> str:
    """One row: each language's cells, in its own reading order (a right-to-left
    language's first column at the right), a rule between languages."""
    out = []
    for index, (lang, texts) in enumerate(cells):
        ordered = texts if lang.cldr.direction == "ltr" else texts[::-1]
        # The rule goes on the side of the previous language: the cell written first.
        for position, text in enumerate(ordered):
            edge = "first" if index and position == 0 else ""
            out.append(f"<{tag}{_attrs(lang, edge)}>{text}</{tag}>")
    return "<tr>" + "".join(out) + "</tr>"


def _section(statement: Statement, title: str, columns: Sequence[str],
             rows: Sequence[Cells]) -> str:
    width = len(columns)
    head = [_title_row(statement, title, width),
            _row([(lang, [escape(lang.say(c)) for c in columns])
                  for lang in statement.languages], "th")]
    if not rows:
        rows = [[(lang, [escape(lang.say("statement_none"))] + [""] * (width - 1))
                 for lang in statement.languages]]
    body = [_row(row) for row in rows]
    return (f"<table><thead>{''.join(head)}</thead><tbody>{''.join(body)}</tbody></table>")


def _title_row(statement: Statement, title: str, width: int) -> str:
    cells = [f'<th colspan="{width}"{_attrs(lang, "first" if i else "")}>'
             f"{escape(lang.say(title))}</th>" for i, lang in enumerate(statement.languages)]
    return "<tr>" + "".join(cells) + "</tr>"


def _outcome_cell(lang: Language, words: dict[str, str], reason: str | None) -> str:
    cell = escape(words["outcome"])
    if reason:
        # The reason as the caseworker wrote it, in whatever language: isolated, so its
        # direction does not reorder the words around it.
        cell += (f'<span class="reason"><b>{escape(lang.say("statement_reason"))}</b>'
                 f'<bdi dir="auto">{escape(reason)}</bdi></span>')
    return cell


def to_html(statement: Statement) -> str:
    """A complete, self-contained, printable HTML page (no script, nothing fetched)."""
    langs = statement.languages
    header = "".join(
        f"<td{_attrs(lang, 'first' if i else '')}>"
        f"<h1>{escape(lang.say('statement_title'))}</h1>"
        f"<p>{escape(lang.say('statement_intro'))}</p><dl>"
        f"<dt>{escape(lang.say('statement_reference'))}</dt>"
        f"<dd><bdi>{escape(statement.reference)}</bdi></dd>"
        f"<dt>{escape(lang.say('statement_produced'))}</dt>"
        f"<dd>{escape(when(lang, statement.produced_at))}</dd>"
        f"<dt>{escape(lang.say('statement_time_zone'))}</dt>"
        f"<dd><bdi>{escape(statement.zone.key)}</bdi></dd></dl></td>"
        for i, lang in enumerate(langs))
    windows = [[(lang, [escape(words["when"]), _outcome_cell(lang, words, row.excusal_reason)])
                for lang in langs for words in [window_words(lang, statement, row)]]
               for row in statement.expected]
    received = [[(lang, [escape(words[k]) for k in ("when", "channel", "timing")])
                 for lang in langs for words in [checkin_words(lang, statement, row)]]
                for row in statement.checkins]
    # The footer names the reference on every printed page; a CSS string, quoted.
    footer = '"' + "".join(ch for ch in statement.reference if ch.isalnum() or ch == "-") + '"'
    title = f"{langs[0].say('statement_title')} · {statement.reference}"
    return (
        '<!DOCTYPE html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        f"<style>:root {{ --footer: {footer}; }}{STYLE}</style></head><body>"
        f"<table><tbody><tr>{header}</tr></tbody></table>"
        + _section(statement, "statement_expected", ("statement_window", "statement_outcome"),
                   windows)
        + _section(statement, "statement_checkins",
                   ("statement_received", "statement_channel", "statement_timing"), received)
        + "</body></html>\n")


# --- PDF -------------------------------------------------------------------------------


def _no_fetching(url: str, *args: object, **kwargs: object) -> dict:
    raise ValueError("a statement fetches nothing")


def to_pdf(html: str) -> bytes:
    """The HTML laid out as PDF by WeasyPrint. Blocking (a few hundred milliseconds):
    call it in a worker thread. Without Pango installed, a 503 that says so."""
    # fontTools, subsetting the fonts, logs every table at INFO: noise in the service's log.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    try:
        from weasyprint import HTML  # imported here: a second to load, and Pango with it
    except OSError as exc:  # the Python package is there, the system libraries are not
        raise ServiceUnavailable(
            "PDF statements need Pango on the server (Debian: libpango-1.0-0 "
            "libpangoft2-1.0-0 fonts-dejavu-core); CSV and HTML work without it.") from exc
    return HTML(string=html, url_fetcher=_no_fetching).write_pdf()
