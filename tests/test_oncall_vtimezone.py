"""The feeds' VTIMEZONE, as read by a parser that trusts it over the Olson name (vobject).

Every check compares vobject's reading of the feed with the shift function and with the
icalendar parser the other feed tests use, so a zone written wrong shows as shifts an hour off.
"""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
import vobject
from django.db import transaction
from django.urls import reverse
from icalendar import Calendar

from oncall import services
from oncall.calendars import FUTURE, PAST
from oncall.selectors import load_schedule
from oncall.services import LayerData
from oncall.vtimezone import vtimezone
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2026, 1, 15, 12, tzinfo=UTC)  # the feed runs from mid-December to mid-July


def rotation(zone: str, *, start_date: dt.date, cadence: str = "weekly", also=None):
    """A one-layer schedule of two people in a new team; `also` is an existing user taking
    the first turn."""
    team = TeamFactory(time_zone=zone)
    if also is not None:
        team.memberships.create(user=also)
    people = [also or member(team), member(team)]
    with transaction.atomic():
        schedule = services.schedule_save(
            team=team,
            name=f"{zone} on-call",
            time_zone=zone,
            layers=[
                LayerData(name="Primary", members=people, start_date=start_date, cadence=cadence)
            ],
            by=people[0],
        )
    return schedule, people


def feed(client, actor, **kwargs) -> bytes:
    token = services.calendar_token_regenerate(by=actor, **kwargs)[1]
    response = client.get(reverse("oncall_feed", args=[token]))
    assert response.status_code == 200
    return response.content


def shifts(schedule, now, user=None):
    item = load_schedule(schedule, now - PAST, now + FUTURE)
    computed = item.compute(now - PAST, now + FUTURE)
    return sorted(
        (s.start, s.end)
        for layer in item.layers
        for s in computed.shifts[layer.pk]
        if user is None or s.user_id == user.pk
    )


def read_by_vobject(body: bytes) -> list[tuple[dt.datetime, dt.datetime]]:
    """Each event's start and end in the zone vobject builds from the feed's own VTIMEZONE."""
    # vobject keeps the first zone it reads under a TZID for the rest of the process.
    registry = vars(vobject.icalendar)["__tzidMap"]
    for tzid in set(registry) - {"UTC"}:
        del registry[tzid]
    spans = []
    for event in vobject.readOne(body.decode()).vevent_list:
        start, end = event.dtstart.value, event.dtend.value
        assert type(start.tzinfo).__name__ in {"_tzicalvtz", "tzutc"}, start.tzinfo
        spans.append((start, end))
    return sorted(spans)


def read_by_icalendar(body: bytes) -> list[tuple[dt.datetime, dt.datetime]]:
    events = Calendar.from_ical(body).walk("VEVENT")
    return sorted((e.decoded("DTSTART"), e.decoded("DTEND")) for e in events)


def in_utc(spans):
    return sorted((s.astimezone(UTC), e.astimezone(UTC)) for s, e in spans)


def observances(body: bytes, tzid: str) -> list[dict[str, str]]:
    """Each STANDARD or DAYLIGHT of the zone, its lines as written (RDATE lines joined)."""
    text = body.decode().replace("\r\n ", "")
    zone = re.search(
        rf"BEGIN:VTIMEZONE\r\nTZID:{re.escape(tzid)}\r\n(.*?)END:VTIMEZONE", text, re.S
    )
    found = []
    for kind, lines in re.findall(r"BEGIN:(STANDARD|DAYLIGHT)\r\n(.*?)END:\1", zone[1], re.S):
        item = {"kind": kind}
        for line in lines.split("\r\n")[:-1]:
            name, value = line.split(":", 1)
            item[name] = f"{item[name]},{value}" if name in item else value
        found.append(item)
    return found


@pytest.mark.parametrize("whose", ["schedule", "person"])
def test_vobject_places_a_berlin_july_shift_at_plus_two_and_a_january_one_at_plus_one(
    client, whose
):
    with time_machine.travel(NOW, tick=False):
        schedule, people = rotation("Europe/Berlin", start_date=dt.date(2026, 1, 5))
        mine = {"schedule": schedule} if whose == "schedule" else {"user": people[0]}
        body = feed(client, people[0], **mine)
    spans = read_by_vobject(body)
    expected = shifts(schedule, NOW, user=None if whose == "schedule" else people[0])
    assert in_utc(spans) == expected == in_utc(read_by_icalendar(body))
    starts = [s for s, _ in spans]
    assert {(s.weekday(), s.hour) for s in starts} == {(0, 9)}
    offsets = {s.month: s.utcoffset() for s in starts}
    assert offsets[1] == dt.timedelta(hours=1)
    assert offsets[7] == dt.timedelta(hours=2)


def test_a_personal_feed_across_two_zones_carries_each_zone_as_written(client):
    with time_machine.travel(NOW, tick=False):
        berlin, people = rotation("Europe/Berlin", start_date=dt.date(2026, 1, 5))
        sydney, _ = rotation("Australia/Sydney", start_date=dt.date(2026, 1, 5), also=people[0])
        body = feed(client, people[0], user=people[0])
    cal = Calendar.from_ical(body)
    assert [z["TZID"] for z in cal.walk("VTIMEZONE")] == ["Australia/Sydney", "Europe/Berlin"]
    expected = sorted(shifts(berlin, NOW, people[0]) + shifts(sydney, NOW, people[0]))
    spans = read_by_vobject(body)
    assert in_utc(spans) == expected == in_utc(read_by_icalendar(body))
    assert {
        (s.tzinfo.tzname(s), s.month, s.utcoffset()) for s, _ in spans if s.month in (1, 7)
    } == {
        ("CET", 1, dt.timedelta(hours=1)),
        ("CEST", 7, dt.timedelta(hours=2)),
        ("AEDT", 1, dt.timedelta(hours=11)),
        ("AEST", 7, dt.timedelta(hours=10)),
    }


ZONES = [
    # zone, January and July offsets, each observance's yearly rule
    ("Asia/Tokyo", 9, 9, None),
    ("UTC", 0, 0, None),
    ("Australia/Sydney", 11, 10, {"DAYLIGHT": (10, "1SU"), "STANDARD": (4, "1SU")}),
    ("America/New_York", -5, -4, {"DAYLIGHT": (3, "2SU"), "STANDARD": (11, "1SU")}),
]


@pytest.mark.parametrize(("zone", "january", "july", "rules"), ZONES)
def test_daily_handoffs_round_trip_through_vobject(client, zone, january, july, rules):
    with time_machine.travel(NOW, tick=False):
        schedule, people = rotation(zone, start_date=dt.date(2025, 12, 1), cadence="daily")
        body = feed(client, people[0], schedule=schedule)
    spans = read_by_vobject(body)
    assert in_utc(spans) == shifts(schedule, NOW) == in_utc(read_by_icalendar(body))
    assert {(s.hour, s.minute) for s, _ in spans} == {(9, 0)}
    offsets = {s.month: s.utcoffset() for s, _ in spans}
    assert (offsets[1], offsets[7]) == (dt.timedelta(hours=january), dt.timedelta(hours=july))
    if zone == "UTC":
        assert b"BEGIN:VTIMEZONE" not in body
        return
    written = observances(body, zone)
    if rules is None:
        (only,) = written
        offset = f"{january:+03d}00"
        assert only.items() >= {"kind": "STANDARD", "TZNAME": "JST"}.items()
        assert (only["TZOFFSETFROM"], only["TZOFFSETTO"]) == (offset, offset)
        assert "RRULE" not in only and "RDATE" not in only
        assert only["DTSTART"] < f"{spans[0][0]:%Y%m%dT%H%M%S}"
        return
    assert sorted(w["kind"] for w in written) == ["DAYLIGHT", "STANDARD"]
    for w in written:
        month, byday = rules[w["kind"]]
        assert set(w["RRULE"].split(";")) == {"FREQ=YEARLY", f"BYMONTH={month}", f"BYDAY={byday}"}
        assert "RDATE" not in w
        assert {w["TZOFFSETFROM"], w["TZOFFSETTO"]} == {f"{january:+03d}00", f"{july:+03d}00"}


def test_the_berlin_zone_is_written_as_its_yearly_rules():
    zone = vtimezone(
        ZoneInfo("Europe/Berlin"),
        dt.datetime(2026, 1, 5, 8, tzinfo=UTC),
        dt.datetime(2026, 7, 20, 7, tzinfo=UTC),
    )
    assert [sub.to_ical().decode().split("\r\n")[:-1] for sub in zone.subcomponents] == [
        [
            "BEGIN:DAYLIGHT",
            "DTSTART:20250330T020000",
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
            "TZNAME:CEST",
            "TZOFFSETFROM:+0100",
            "TZOFFSETTO:+0200",
            "END:DAYLIGHT",
        ],
        [
            "BEGIN:STANDARD",
            "DTSTART:20251026T030000",
            "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
            "TZNAME:CET",
            "TZOFFSETFROM:+0200",
            "TZOFFSETTO:+0100",
            "END:STANDARD",
        ],
    ]


CHANGED = [
    # The United States moved the start of daylight time from April to March in 2007.
    (
        "America/New_York",
        dt.datetime(2007, 1, 15, tzinfo=UTC),
        {dt.date(2007, 3, 20): -4, dt.date(2007, 4, 3): -4, dt.date(2007, 1, 20): -5},
    ),
    # Mexico ended daylight time after October 2022.
    (
        "America/Mexico_City",
        dt.datetime(2022, 9, 15, tzinfo=UTC),
        {dt.date(2022, 10, 20): -5, dt.date(2022, 11, 20): -6, dt.date(2023, 3, 10): -6},
    ),
]


@pytest.mark.parametrize(("zone", "now", "expected"), CHANGED)
def test_onsets_that_fit_no_yearly_rule_are_listed_one_rdate_a_line(client, zone, now, expected):
    with time_machine.travel(now, tick=False):
        start_date = (now - PAST).date()
        schedule, people = rotation(zone, start_date=start_date, cadence="daily")
        body = feed(client, people[0], schedule=schedule)
    spans = read_by_vobject(body)
    assert in_utc(spans) == shifts(schedule, now) == in_utc(read_by_icalendar(body))
    offsets = {s.date(): s.utcoffset() for s, _ in spans}
    assert {day: offsets[day] for day in expected} == {
        day: dt.timedelta(hours=h) for day, h in expected.items()
    }
    written = observances(body, zone)
    assert all("RRULE" not in w for w in written if w["kind"] == "DAYLIGHT")
    assert b"RDATE" in body and not re.search(rb"RDATE:[^\r]*,", body.replace(b"\r\n ", b""))
