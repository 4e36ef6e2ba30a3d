"""iCalendar feeds: they parse, match the shift function across DST, and die when revoked."""

import datetime as dt
import re
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from icalendar import Calendar

from oncall import services
from oncall.calendars import FUTURE, PAST
from oncall.models import CalendarToken, Override
from oncall.selectors import load_schedule
from oncall.services import LayerData
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2026, 3, 20, 12, tzinfo=UTC)  # nine days before Berlin springs forward


def berlin_schedule():
    team = TeamFactory(time_zone="Europe/Berlin")
    people = [member(team, username=n) for n in ("alex", "jordan", "riley")]
    with transaction.atomic():
        schedule = services.schedule_save(
            team=team,
            name="Platform on-call",
            time_zone="Europe/Berlin",
            layers=[
                LayerData(name="Primary", members=people, start_date=dt.date(2026, 1, 5)),
                LayerData(
                    name="Secondary",
                    members=people[1:] + people[:1],
                    start_date=dt.date(2026, 1, 5),
                ),
            ],
            by=people[0],
        )
        Override.objects.create(
            layer=schedule.layers.get(name="Primary"),
            user=people[2],
            start=dt.datetime(2026, 3, 25, 8, tzinfo=UTC),
            end=dt.datetime(2026, 3, 26, 8, tzinfo=UTC),
        )
    return team, schedule, people


def events(body: bytes):
    cal = Calendar.from_ical(body)
    return cal, list(cal.walk("VEVENT"))


@time_machine.travel(NOW, tick=False)
def test_the_schedule_feed_parses_and_matches_the_shift_function(client):
    team, schedule, people = berlin_schedule()
    token = services_token(people[0], schedule=schedule)
    response = client.get(reverse("oncall_feed", args=[token]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    cal, vevents = events(response.content)
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    item = load_schedule(schedule, NOW - PAST, NOW + FUTURE)
    computed = item.compute(NOW - PAST, NOW + FUTURE)
    expected = sorted(
        (s.start, s.end, item.users[s.user_id].display_name)
        for la in item.layers
        for s in computed.shifts[la.pk]
    )
    got = sorted(
        (
            e.decoded("DTSTART").astimezone(UTC),
            e.decoded("DTEND").astimezone(UTC),
            str(e["SUMMARY"]).split(": ", 1)[1].removesuffix(" (override)"),
        )
        for e in vevents
    )
    assert got == expected
    assert any("(override)" in str(e["SUMMARY"]) for e in vevents)
    # Handoffs are Monday 09:00 Berlin time before and after the change on 29 March.
    starts = [e.decoded("DTSTART") for e in vevents if not str(e["SUMMARY"]).endswith("(override)")]
    assert all(str(s.tzinfo) == "Europe/Berlin" for s in starts)
    local = {(s.weekday(), s.hour, s.minute) for s in starts if s.date() != dt.date(2026, 3, 26)}
    assert local == {(0, 9, 0)}
    raw = response.content.decode()
    assert "DTSTART;TZID=Europe/Berlin:20260323T090000" in raw
    assert "DTSTART;TZID=Europe/Berlin:20260330T090000" in raw
    assert len({str(e["UID"]) for e in vevents}) == len(vevents)


def services_token(actor, **kwargs):
    """A new feed's raw token, as its URL carries it."""
    return services.calendar_token_regenerate(by=actor, **kwargs)[1]


def feed_path_shown_once(response):
    """The feed URL on the page shown right after creating or rotating it, as a path."""
    assert response.status_code == 200
    found = re.search(
        r'id="feed-url" type="text" readonly value="([^"]+)"', response.content.decode()
    )
    return urlsplit(found[1]).path


@time_machine.travel(NOW, tick=False)
def test_the_personal_feed_has_only_that_persons_shifts(client):
    team, schedule, people = berlin_schedule()
    token = services_token(people[2], user=people[2])
    cal, vevents = events(client.get(reverse("oncall_feed", args=[token])).content)
    item = load_schedule(schedule, NOW - PAST, NOW + FUTURE)
    computed = item.compute(NOW - PAST, NOW + FUTURE)
    mine = sorted(
        (s.start, s.end)
        for la in item.layers
        for s in computed.shifts[la.pk]
        if s.user_id == people[2].pk
    )
    assert (
        sorted(
            (e.decoded("DTSTART").astimezone(UTC), e.decoded("DTEND").astimezone(UTC))
            for e in vevents
        )
        == mine
    )
    assert mine


@time_machine.travel(NOW, tick=False)
def test_a_revoked_or_regenerated_feed_url_gets_404(client):
    team, schedule, people = berlin_schedule()
    assert client.login(username="alex", password=PASSWORD)
    url = reverse("oncall_schedule_feed", args=[schedule.pk])
    first = feed_path_shown_once(client.post(url, {"action": "regenerate"}))
    assert client.get(first).status_code == 200
    second = feed_path_shown_once(client.post(url, {"action": "regenerate"}))
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    client.post(url, {"action": "revoke"})
    assert client.get(second).status_code == 404
    assert client.get(reverse("oncall_feed", args=["not-a-token"])).status_code == 404
    assert not CalendarToken.objects.filter(revoked_at=None).exists()


def test_feed_times_stay_local_across_the_new_york_autumn_change():
    team = TeamFactory(time_zone="America/New_York")
    people = [member(team, username=n) for n in ("ny1", "ny2")]
    with time_machine.travel(dt.datetime(2026, 10, 20, tzinfo=UTC), tick=False):
        with transaction.atomic():
            schedule = services.schedule_save(
                team=team,
                name="NY",
                time_zone="America/New_York",
                layers=[
                    LayerData(
                        name="Primary",
                        members=people,
                        start_date=dt.date(2026, 10, 1),
                        cadence="daily",
                        handoff_time=dt.time(8, 0),
                    )
                ],
                by=people[0],
            )
        from oncall.calendars import schedule_calendar

        cal = Calendar.from_ical(schedule_calendar(schedule))
    ny = ZoneInfo("America/New_York")
    starts = sorted(e.decoded("DTSTART") for e in cal.walk("VEVENT"))
    around = [s for s in starts if dt.date(2026, 10, 30) <= s.date() <= dt.date(2026, 11, 3)]
    assert {(s.hour, s.minute) for s in around} == {(8, 0)}
    assert {s.astimezone(ny).utcoffset() for s in around} == {
        dt.timedelta(hours=-4),
        dt.timedelta(hours=-5),
    }
