"""Every length of time Vigil shows reads the one way: "42 s", "3 min 12 s", "1 h 5 min"."""

import datetime as dt

import pytest
import time_machine

from common.text import duration
from incidents.models import EventKind, Severity, Status
from incidents.services import incident_change_status, incident_declare
from paging.models import Escalation
from paging.services import incident_acknowledge
from postmortems import document
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (0, "under 1 s"),
        (dt.timedelta(microseconds=705633), "under 1 s"),
        (-3, "under 1 s"),
        (1, "1 s"),
        (42.9, "42 s"),
        (60, "1 min"),
        (dt.timedelta(minutes=3, seconds=12), "3 min 12 s"),
        (dt.timedelta(hours=1), "1 h"),
        (dt.timedelta(hours=1, minutes=5, seconds=59), "1 h 5 min"),
        (dt.timedelta(days=1), "1 d"),
        (dt.timedelta(days=2, hours=3, minutes=59), "2 d 3 h"),
    ],
)
def test_a_duration_reads_as_people_say_it(value, text):
    assert duration(value) == text


@pytest.fixture
def paged(client):
    team, people = oncall_team()
    integration, token = integration_for(team)
    with time_machine.travel(T0, tick=False):
        assert post(client, integration, am_payload(), token=token).status_code == 202
    return Escalation.objects.get().incident, people


@pytest.mark.parametrize(
    ("after", "text"),
    [
        (dt.timedelta(microseconds=705633), "under 1 s"),
        (dt.timedelta(minutes=3, seconds=12, microseconds=400), "3 min 12 s"),
    ],
)
def test_time_to_acknowledge_reads_in_units_on_the_paging_panel_and_the_timeline(
    paged, client, after, text
):
    incident, people = paged
    with time_machine.travel(T0 + after, tick=False):
        incident_acknowledge(incident=incident, by=people["primary"])
    ack = incident.events.get(kind=EventKind.ACK)
    assert f"time to acknowledge {text}; escalation stopped" in ack.body
    client.force_login(people["primary"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert f"time to acknowledge {text}</p>" in page
    assert "0:0" not in page.split("<h2>Paging</h2>")[1].split("</p>")[0]


def test_a_resolved_incident_says_how_long_it_took_in_units(client):
    team, people = oncall_team(contacts=False)
    with time_machine.travel(T0, tick=False):
        incident = incident_declare(
            title="Checkout errors",
            severity=Severity.objects.get(level=3),
            team=team,
            by=people["primary"],
        )
    with time_machine.travel(T0 + dt.timedelta(hours=1, minutes=5, seconds=30), tick=False):
        incident_change_status(incident=incident, status=Status.RESOLVED, by=people["primary"])
    client.force_login(people["primary"])
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "resolved after 1 h 5 min</span>" in page


def test_the_postmortem_duration_reads_in_the_same_units():
    start = dt.datetime(2024, 1, 15, 3, 12, tzinfo=dt.UTC)
    assert document.format_duration(start, start + dt.timedelta(minutes=37)) == (
        "37 min (03:12 - 03:49 UTC)"
    )
    assert document.format_duration(start, start + dt.timedelta(days=2, hours=3)) == (
        "2 d 3 h (2024-01-15 03:12 - 2024-01-17 06:12 UTC)"
    )
