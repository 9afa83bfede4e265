"""The product end to end: the three services as real processes on PostgreSQL (a
database each) and the Twilio-compatible server, driven over HTTP only, as a
caseworker, a person with a phone, a reporting officer, a supervisor and an authority
would. Six stories, one running system (a module fixture: starting it is most of the
cost), each story on days of its own:

1. a caseworker opens a case for an Arabic speaker and issues a PIN; the evening
   before, the reminder goes out in Arabic; the person checks in by SMS; the
   caseworker sees ``on_time``; her statement (CSV) lists it; the supervisor's summary
   counts it, and so does the authority's;
2. an unknown caller (a number on no case) keys in the case's numeric reference and
   the PIN, and is checked in;
3. a reporting officer finds the case at the desk and records an in-person check-in;
4. a window passes without a check-in: a gentle reminder, then a follow-up for the
   caseworker, who excuses it;
5. a suspension: every reminder planned for the case is cancelled and none is sent,
   while a case on the same schedule gets each of its own;
6. an erasure: the person's data goes from every service, the summary stays as it was.

Time: real processes cannot share a frozen test clock, and reminders and missed
windows need evenings and days to pass. Each story dates its cases from the services'
own clock (the registry's ``Date`` header), two days ahead, and moves the services'
clock forward to the moments it waits for (libfaketime, ``tests.e2e.clock``); the
test's own clock dates nothing. The clock only moves forward, so the stories can run
alone or together, in any selection. Each story's cases are in a programme of their
own, so a summary row is theirs alone whatever the others did.

The authority's counts are cell-key perturbed (within 2 of the exact count) and a
count under 5 is withheld, so story 1 checks in eight people: their row's counts
cannot be withheld (at least 6) and are asserted within 2 of the supervisor's exact
ones, which are asserted exactly. Story 6 compares both audiences' summaries whole,
before and after the erasure: a cell-key count is the same for the same cell every
time, so "unchanged" holds for the authority's too."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import time, timedelta

import pytest
from checkin.texts import language, languages

from shared.migrations import upgrade
from tests.conftest import requires_postgres
from tests.e2e.clock import INHERITED, ServiceClock, installed
from tests.e2e.cluster import Cluster, eventually
from tests.e2e.test_replicas import twilio_env
from tests.e2e.test_waymark_run import SERVICES
from tests.e2e.town import Town, row
from tests.support.twilio_server import TwilioServer

pytestmark = [requires_postgres, pytest.mark.slow]

ARABIC = re.compile(r"[\u0600-\u06ff]")
TO_ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
EVENING, OPENS, CLOSES = time(18, 0), time(9, 0), time(19, 0)
NUDGE = time(17, 0)  # the default policy: two hours before the grace period ends


@pytest.fixture(scope="module")
def town(empty_database, tmp_path_factory) -> Iterator[Town]:
    if not installed():
        pytest.fail("the stories move the services' clock with libfaketime: "
                    "apt-get install faketime (.ci/run installs it)")
    urls = {}
    for service in SERVICES:
        urls[service] = empty_database(f"stories_{service}")
        upgrade(service, urls[service])
    cwd = tmp_path_factory.mktemp("stories")
    clock = ServiceClock(cwd / "faketime.rc")
    with TwilioServer() as twilio:
        cluster = Cluster(urls, cwd, extra={**twilio_env(twilio), **clock.env()},
                          unset=INHERITED)
        try:
            registry, checkin, notifications = (
                cluster.replica(service, start=False) for service in SERVICES)
            # Each follows the others' feeds at the ports they were given.
            others = {f"WAYMARK_{r.service.upper()}_URL": r.url
                      for r in (registry, checkin, notifications)}
            for replica in (registry, checkin, notifications):
                replica.env.update(others)
                replica.start(wait=False)
            for replica in (registry, checkin, notifications):
                replica.wait_ready()
            town = Town(cluster, clock, twilio, registry, checkin, notifications)
            town.today()
            yield town
        finally:
            cluster.stop()


def prefix(code: str, key: str) -> str:
    """The fixed start of a checkin text, before its first value."""
    return language(code).say(key, next="\x00").split("\x00")[0]


def test_reminded_in_arabic_checks_in_by_sms_seen_by_caseworker_counted_by_authority(town):
    day = town.today() + timedelta(days=2)
    programme = "story_reminded"
    amina, *others = [town.enrol(day, programme=programme, language="ar")] + [
        town.enrol(day, programme=programme) for _ in range(7)]
    for person in (amina, *others):
        town.planned(person, "evening_before")

    town.travel(day - timedelta(days=1), EVENING)
    [sms] = eventually(lambda: town.texts_to(amina), timeout=20,
                       what="the evening-before reminder reaching Twilio")
    assert ARABIC.search(sms), sms
    [sent] = [r for r in town.reminders(amina) if r["status"] == "sent"]
    assert (sent["status"], sent["language"], sent["channel"]) == ("sent", "ar", "sms")
    assert sent["body"] == sms

    town.travel(day, OPENS)
    # Amina's phone writes the PIN in Arabic-Indic digits.
    [reply] = town.text(amina, f"{amina.pin.translate(TO_ARABIC_DIGITS)}")
    assert reply.startswith(prefix("ar", "sms_on_time")), reply
    for person in others:
        [reply] = town.text(person, f"CHECKIN {person.pin}")
        assert reply.startswith(prefix("en", "sms_on_time")), reply

    window = town.first_window(amina)
    assert window["outcome"] == "on_time"
    assert window["checkin"]["channel"] == "sms"

    # Her statement lists it, in English and Arabic.
    statement = town.call_api(town.checkin, "GET", f"/v1/cases/{amina.id}/statement",
                              params={"format": "csv"})
    assert statement.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(statement.content.decode("utf-8-sig"))))
    [expected] = [r for r in lines if r["record"] == "expected_checkin"]  # the one opened
    [received] = [r for r in lines if r["record"] == "checkin"]
    assert expected["reference"] == amina.case["reference"]
    assert expected["outcome"] == "on_time" and ARABIC.search(expected["outcome_ar"])
    assert (received["channel"], received["timing"]) == ("sms", "on_time")

    exact = row(town.summary(day, role="supervisor", group_by="programme"), programme)
    assert exact is not None
    assert {k: exact[k] for k in ("people", "expected", "on_time", "late", "missed")} == {
        "people": 8, "expected": 8, "on_time": 8, "late": 0, "missed": 0}
    protected = town.summary(day, role="authority", group_by="programme")
    assert protected["protection"] == "cell_key"
    counted = row(protected, programme)
    assert counted is not None, protected  # eight people: never withheld
    for key in ("people", "expected", "on_time"):
        assert counted[key] is not None and abs(counted[key] - exact[key]) <= 2, counted


def test_an_unknown_caller_checks_in_with_the_keypad_reference_and_pin(town):
    day = town.today() + timedelta(days=2)
    person = town.enrol(day, programme="story_keypad", language="fr")
    stranger = next(town.numbers)  # a borrowed phone: on no case
    town.travel(day, OPENS)

    menu = list(languages()).index("fr") + 1
    heard = town.call(stranger, [str(menu), person.case["keypad_reference"], person.pin])
    assert heard[-2].startswith(f"hears: {prefix('fr', 'voice_on_time')}"), heard
    window = town.first_window(person)
    assert window["outcome"] == "on_time"
    assert window["checkin"]["channel"] == "voice"


def test_an_officer_records_an_in_person_check_in_at_the_desk(town):
    day = town.today() + timedelta(days=2)
    person = town.enrol(day, programme="story_desk")
    town.travel(day, OPENS)

    reference = person.case["reference"]
    found = town.call_api(town.registry, "GET", "/v1/desk/cases", role="officer", sub="olu",
                          params={"reference": reference}).json()
    assert (found["given_name"], found["family_initial"]) == ("Amina", "K")
    desk = town.call_api(town.checkin, "GET", "/v1/desk/cases", role="officer", sub="olu",
                         params={"reference": reference}).json()
    assert desk["next_window"]["opens_at"] == town.first_window(person)["opens_at"]
    recorded = town.call_api(
        town.checkin, "POST", "/v1/checkins", role="officer", sub="olu", expect=201,
        headers={"Idempotency-Key": f"desk-{person.id}"},
        json={"reference": reference, "reporting_centre": "Croydon",
              "identity_confirmed_by": "document"}).json()
    assert (recorded["channel"], recorded["timing"]) == ("in_person", "on_time")
    assert recorded["next_window"]["opens_at"] > desk["next_window"]["opens_at"]

    window = town.first_window(person)
    assert window["outcome"] == "on_time"
    assert (window["checkin"]["reporting_centre"],
            window["checkin"]["identity_confirmed_by"]) == ("Croydon", "document")


def test_a_missed_check_in_opens_a_follow_up_which_the_caseworker_excuses(town):
    day = town.today() + timedelta(days=2)
    person = town.enrol(day, programme="story_missed")
    town.planned(person, "evening_before", "window_opens", "nudge")

    town.travel(day - timedelta(days=1), EVENING)
    eventually(lambda: len(town.texts_to(person)) == 1, timeout=20, what="the evening's")
    town.travel(day, OPENS)
    eventually(lambda: len(town.texts_to(person)) == 2, timeout=20, what="the window's")
    town.travel(day + timedelta(days=1), NUDGE)  # two hours of grace left
    eventually(lambda: len(town.texts_to(person)) == 3, timeout=20, what="the gentle nudge")
    assert town.follow_ups(person) == []
    town.travel(day + timedelta(days=1), CLOSES)  # the grace period is over

    [follow_up] = eventually(lambda: town.follow_ups(person), timeout=20,
                             what="a follow-up for the missed check-in")
    assert (follow_up["kind"], follow_up["status"]) == ("missed_checkin", "open")
    window = town.first_window(person)
    assert window["outcome"] == "missed" and follow_up["expected_checkin_id"] == window["id"]

    excused = town.call_api(town.checkin, "POST", f"/v1/expected-checkins/{window['id']}/excusal",
                            json={"reason": "In hospital that day; letter seen"}).json()
    assert excused["outcome"] == "excused"
    assert town.first_window(person)["excusal"]["reason"] == "In hospital that day; letter seen"
    [follow_up] = town.follow_ups(person)
    assert follow_up["status"] == "closed"


def test_a_suspension_stops_every_reminder(town):
    day = town.today() + timedelta(days=2)
    suspended = town.enrol(day, programme="story_suspended")
    control = town.enrol(day, programme="story_suspended")  # the same schedule, active
    for person in (suspended, control):
        town.planned(person, "evening_before", "window_opens", "nudge")
    planned = [r for r in town.reminders(suspended) if r["status"] == "planned"]

    town.call_api(town.registry, "POST", f"/v1/cases/{suspended.id}/transitions",
                  json={"to": "suspended", "reason": "admitted to hospital"})
    eventually(lambda: {r["status"] for r in town.reminders(suspended)} == {"cancelled"},
               timeout=20, what="every planned reminder cancelled")
    assert len(town.reminders(suspended)) >= len(planned) > 3  # later windows' too

    # Through each moment a reminder was due: the control's arrives, none for the other.
    for sent, (when, moment) in enumerate([(-1, EVENING), (0, OPENS), (1, NUDGE)], start=1):
        town.travel(day + timedelta(days=when), moment)
        eventually(lambda sent=sent: len(town.texts_to(control)) == sent, timeout=20,
                   what=f"the control's reminder {sent}")
    town.travel(day + timedelta(days=1), CLOSES)
    eventually(lambda: town.follow_ups(control), timeout=20, what="the control's follow-up")

    assert town.texts_to(suspended) == []
    assert {r["status"] for r in town.reminders(suspended)} == {"cancelled"}
    assert town.follow_ups(suspended) == []  # nothing was expected of them
    assert town.checkins(suspended)["status"] == "suspended"


def test_an_erasure_leaves_the_summary_unchanged(town):
    day = town.today() + timedelta(days=2)
    programme = "story_erased"
    people = [town.enrol(day, programme=programme) for _ in range(7)]
    for person in people:
        town.planned(person, "window_opens")
    town.travel(day, OPENS)
    for person in people:
        [reply] = town.text(person, person.pin)
        assert reply.startswith(prefix("en", "sms_on_time")), reply
    erased = people[0]

    def summaries() -> dict[str, dict]:
        return {role: town.summary(day, role=role, group_by="programme,sex")
                for role in ("supervisor", "authority")}

    before = summaries()
    assert row(before["supervisor"], programme)["on_time"] == 7
    assert row(before["authority"], programme) is not None  # seven people: listed
    response = town.call_api(town.registry, "POST", f"/v1/cases/{erased.id}/erasure",
                             role="supervisor", json={"reason": "Erasure request, 2 Dec"}).json()
    assert response["erased_at"] is not None and response["person"]["phone"] is None

    # Each service says in its audit trail that it applied the registry's erasure.
    def erased_by(replica) -> bool:
        trail = town.call_api(replica, "GET", "/v1/audit", role="supervisor",
                              params={"case_id": erased.id}).json()["items"]
        return any(entry["action"] == "case.erased" for entry in trail)

    for replica in (town.checkin, town.notifications):
        eventually(lambda replica=replica: erased_by(replica), timeout=20,
                   what=f"{replica.service} applying the erasure")
    # Gone: the texts notifications sent, and the number at checkin (the PIN from that
    # phone now finds nobody, and records nothing).
    bodies = [r["body"] for r in town.reminders(erased)]
    assert bodies and set(bodies) == {None}
    assert town.text(erased, erased.pin) == [language("en").say("sms_unknown")]
    record = town.checkins(erased)  # the anonymous record stays, and only it
    assert record["expected"][0]["outcome"] == "on_time"
    assert record["unscheduled_contacts"] == []
    # An erased case has no statement (410): what it would say went with the person.
    town.call_api(town.checkin, "GET", f"/v1/cases/{erased.id}/statement",
                  params={"format": "csv"}, expect=410)

    assert summaries() == before
