"""On-call pages, services and API: what people see and do, and the bad input they get told
about clearly."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from oncall import services
from oncall.models import (
    ContactMethod,
    Override,
    Role,
)
from oncall.services import LayerData
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = pytest.mark.django_db
UTC = dt.UTC
MONDAY = dt.date(2026, 1, 5)
NOW = dt.datetime(2026, 1, 14, 12, tzinfo=UTC)  # a Wednesday in week two of the rotation


def platform(n_members=3):
    team = TeamFactory(time_zone="Europe/Berlin")
    people = [member(team, username=f"p{i}") for i in range(n_members)]
    sam = member(team, role=Role.MANAGER, username="sam", email="sam@vigil.example")
    team.engineering_lead = sam
    team.save()
    schedule = services_save(team, people, sam)
    return team, schedule, people, sam


def services_save(team, people, by):
    from django.db import transaction

    with transaction.atomic():
        return services.schedule_save(
            team=team,
            name="Platform on-call",
            time_zone="Europe/Berlin",
            layers=[
                LayerData(name="Primary", members=people, start_date=MONDAY),
                LayerData(name="Secondary", members=people[1:] + people[:1], start_date=MONDAY),
            ],
            by=by,
        )


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


@time_machine.travel(NOW, tick=False)
def test_on_call_now_shows_primary_secondary_and_lead_with_until_and_contacts(client):
    team, schedule, people, sam = platform()
    ContactMethod.objects.create(user=people[1], kind="sms", value="+49 170 0000001")
    login(client, people[0])
    response = client.get(reverse("oncall_now"))
    html = response.content.decode()
    assert response.status_code == 200
    assert team.name in html
    assert "Primary" in html and "Secondary" in html and "Engineering lead" in html
    assert people[1].display_name in html  # primary in week two
    assert "tel:+49 170 0000001" in html
    assert "until" in html and 'datetime="2026-01-19T08:00:00+00:00"' in html  # Monday 09:00 CET


def calendar_url(schedule, **params):
    from urllib.parse import urlencode

    return f"{reverse('oncall_schedule', args=[schedule.pk])}?{urlencode(params)}"


@time_machine.travel(NOW, tick=False)
def test_the_calendar_week_marks_overrides_gaps_and_today(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    Override.objects.create(
        layer=primary, user=sam, start=NOW, end=NOW + dt.timedelta(hours=6), created_by=sam
    )
    login(client, people[0])
    response = client.get(calendar_url(schedule))
    html = response.content.decode()
    assert response.status_code == 200
    assert "is-override" in html and "cal-today" in html
    assert 'hx-get="' in html and 'href="/oncall/schedules/' in html
    assert "style=" not in html
    partial = client.get(calendar_url(schedule, date="2026-01-19"), headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode() and 'id="calendar"' in partial.content.decode()
    month = client.get(calendar_url(schedule, view="month", tz="schedule"))
    assert month.status_code == 200 and "January 2026" in month.content.decode()


@pytest.mark.parametrize("n", [2, 20])
@time_machine.travel(NOW, tick=False)
def test_the_calendar_page_query_count_does_not_grow_with_members(
    client, n, django_assert_num_queries
):
    team, schedule, people, sam = platform(n_members=n)
    primary = schedule.layers.get(name="Primary")
    Override.objects.create(layer=primary, user=sam, start=NOW, end=NOW + dt.timedelta(hours=6))
    login(client, people[0])
    client.get(calendar_url(schedule))  # warm the session
    with django_assert_num_queries(18):
        for view in ("week", "month"):
            assert client.get(calendar_url(schedule, view=view)).status_code == 200
