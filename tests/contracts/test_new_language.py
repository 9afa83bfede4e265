"""Adding a language is a data change: Persian (``fa``) files for checkin and for
notifications are written to a temporary folder named by ``WAYMARK_TEXTS_DIR``, and a
case in Persian then gets its SMS replies, its voice prompts and its reminders in
Persian, with dates and plural forms from CLDR for ``fa``. No code knows Persian."""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from checkin.texts import languages
from notifications.enums import Channel, ReminderKind
from notifications.segments import encode
from notifications.templates import TemplateError, all_templates

from shared.texts import TEXTS_DIR_ENV, TextError
from tests.checkin.conftest import checkin, checkin_app, clock  # noqa: F401 (fixtures)
from tests.checkin.helpers import CASEWORKER, FIRST_OPENS, PHONE, add_case, issue_pin, sms
from tests.checkin.test_sms import text_of
from tests.checkin.test_voice import STRANGER, Call, gather, said, voices, wrong
from tests.notifications.conftest import notifications_app  # noqa: F401 (fixture)
from tests.notifications.helpers import add_person, reminders

PERSIAN_FILES = Path(__file__).parent / "fa"
PERSIAN_SCRIPT = re.compile("[\u0600-\u06ff]")


def clear_caches() -> None:
    languages.cache_clear()
    all_templates.cache_clear()


@pytest.fixture
def persian(tmp_path, monkeypatch):
    """The Persian files in a temporary ``WAYMARK_TEXTS_DIR``; the shipped languages only,
    again, after the test."""
    shutil.copytree(PERSIAN_FILES, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv(TEXTS_DIR_ENV, str(tmp_path))
    clear_caches()
    yield tmp_path
    monkeypatch.delenv(TEXTS_DIR_ENV)
    clear_caches()


def cldr_fa(day: date) -> tuple[str, str]:
    """Weekday and month of ``day`` as CLDR writes them in Persian."""
    return format_date(day, "EEEE", locale="fa"), format_date(day, "MMMM", locale="fa")


def test_the_persian_files_load_beside_the_shipped_ones(persian):
    assert list(languages())[0] == "en"
    assert set(languages()) == {"en", "fr", "es", "ar", "fa"}
    assert set(all_templates()) == {"en", "fr", "es", "ar", "fa"}
    fa = languages()["fa"]
    assert set(fa.texts["sms_wrong_pin"]) == {"one", "other"}  # CLDR's categories for fa
    assert fa.say("sms_wrong_pin", tries=3).startswith("رمز درست نیست. 3 بار دیگر")


async def test_a_persian_case_is_answered_and_reminded_in_persian(
        persian, checkin_app, checkin, notifications_app, clock):  # noqa: F811
    case_id = await add_case(checkin_app, language="fa")
    pin = await issue_pin(checkin, case_id)

    # Reminders, planned on Tuesday 1 December: by SMS, and by voice for someone who
    # only takes calls.
    texting, _ = await add_person(notifications_app, language="fa", phone=PHONE)
    calling, _ = await add_person(notifications_app, language="fa", phone="+447911123499",
                                  channels=["voice"])
    weekday, month = cldr_fa(FIRST_OPENS.date())
    for case, channel in ((texting, Channel.sms), (calling, Channel.voice)):
        planned = await reminders(notifications_app, case)
        assert set(planned) == set(ReminderKind)
        for kind, reminder in planned.items():
            assert (reminder.language, reminder.channel) == ("fa", channel)
            assert PERSIAN_SCRIPT.search(reminder.body) and "{" not in reminder.body
            assert (f"{weekday} 7 {month}" in reminder.body) == (kind == ReminderKind.evening_before)
            if channel == Channel.sms:
                assert reminder.segments <= 2, reminder.body
    opens_now = (await reminders(notifications_app, texting))[ReminderKind.window_opens]
    assert opens_now.body.startswith("نوبت حضور شما تا ساعت 19:00 باز است.")  # a time, no date

    # SMS: a wrong PIN, then the right one, in the window.
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    assert text_of(await sms(checkin, wrong(pin))) == (
        "رمز درست نیست. 4 بار دیگر می‌توانید امتحان کنید. رمز ۶ رقمی را بفرستید.")
    reply = text_of(await sms(checkin, pin))
    assert reply.startswith("سپاس، حضور شما ثبت شد. نوبت بعدی: ")
    weekday, month = cldr_fa(date(2026, 12, 14))  # the next window: Monday 14 December
    assert f"{weekday} 14 {month}" in reply
    assert encode(reply).segments <= 2

    # Voice: the registered caller is greeted in Persian, in the Persian voice, and told
    # the check-in is already recorded.
    call = Call(checkin)
    root = await call.start()
    assert said(root) == "به ثبت حضور خوش آمدید. رمز ۶ رقمی خود را وارد کنید."
    assert voices(root) == {("Google.fa-IR-Standard-A", "fa-IR")}
    root = await call.press(root, pin)
    assert said(root).startswith("سپاس، حضور این نوبت پیش‌تر ثبت شده است.")
    assert f"{weekday} 14 {month}" in said(root)
    # A caller the service does not know hears Persian offered as a fifth choice.
    menu = await Call(checkin, phone=STRANGER).start()
    assert "برای فارسی، 5 را بزنید." in said(gather(menu))


def test_a_broken_extra_file_fails_the_load(persian):
    text = (persian / "checkin" / "fa.toml").read_text(encoding="utf-8")
    (persian / "checkin" / "fa.toml").write_text(
        text.replace('sms_wrong_pin.one = ', '# sms_wrong_pin.one = '), encoding="utf-8")
    clear_caches()
    with pytest.raises(TextError, match="exactly the plural categories of fa"):
        languages()
    reminders_file = persian / "notifications" / "fa.toml"
    reminders_file.write_text(reminders_file.read_text(encoding="utf-8").replace(
        "{closes_time}", "{grace_ends_date}"), encoding="utf-8")
    with pytest.raises(TemplateError, match="unknown"):
        all_templates()


async def test_a_persian_case_gets_its_statement_in_persian_beside_english(
        persian, checkin_app, checkin, clock):  # noqa: F811
    """The statement's words are texts like any other: Persian, added as data, prints
    beside English, right to left because CLDR says Persian is written so."""
    case_id = await add_case(checkin_app, language="fa")
    clock.move_to(FIRST_OPENS + timedelta(hours=1))
    response = await checkin.get(f"/v1/cases/{case_id}/statement", headers=CASEWORKER,
                                 params={"format": "html"})
    assert response.status_code == 200, response.text
    assert '<th colspan="2" lang="fa" dir="rtl" class="first">نوبت‌های مورد انتظار</th>' \
        in response.text
    weekday, month = cldr_fa(FIRST_OPENS.date())
    assert f"{weekday} 7 {month} 2026" in response.text
    rows = await checkin.get(f"/v1/cases/{case_id}/statement", headers=CASEWORKER,
                             params={"format": "csv"})
    assert "outcome_fa" in rows.text.splitlines()[0]
    assert "هنوز تعیین نشده" in rows.text  # the window open now: not decided yet
