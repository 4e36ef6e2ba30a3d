"""The `| Time | Event |` table: the incident's timeline export and the postmortem's Timeline
section are one table, dated on every row once the incident runs over more than one day."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from incidents.models import Severity, Status
from incidents.services import (
    incident_change_status,
    incident_declare,
    incident_update_impact,
    timeline_note_add,
)
from postmortems.models import SectionKey
from postmortems.services import postmortem_generate
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db
DAY = dt.datetime(2026, 3, 9, tzinfo=dt.UTC)


def at(hours, minutes=0):
    return DAY + dt.timedelta(hours=hours, minutes=minutes)


@pytest.fixture
def alex():
    team = TeamFactory(slug="platform", name="Platform")
    return member(team, Role.RESPONDER, first_name="Alex", last_name="Rivera")


def worked_incident(alex, *, notes, resolved):
    """An incident declared at 23:40, with notes at the given times, resolved at `resolved`."""
    with time_machine.travel(at(23, 40), tick=False):
        incident = incident_declare(
            title="Queue backlog",
            severity=Severity.objects.get(level=3),
            team=alex.memberships.get().team,
            by=alex,
            started_at=at(23, 30),
        )
    with time_machine.travel(resolved, tick=False):
        for when, body in notes:
            timeline_note_add(incident=incident, body=body, author=alex, occurred_at=when)
        incident_change_status(incident=incident, status=Status.RESOLVED, by=alex)
    return incident


def tables(client, incident, alex):
    client.force_login(alex)
    export = client.get(reverse("incident_timeline_md", args=[incident.pk])).content.decode()
    postmortem, _ = postmortem_generate(incident=incident, by=alex, timeline_source="all")
    section = postmortem.sections.get(key=SectionKey.TIMELINE).body
    return export.rstrip("\n"), section


def test_an_incident_over_two_days_is_dated_on_every_row_in_the_export_and_the_postmortem(
    client, alex
):
    incident = worked_incident(
        alex,
        notes=[(at(23, 55), "Consumers restarted"), (at(24, 20), "Backlog drained")],
        resolved=at(24, 30),
    )
    export, section = tables(client, incident, alex)
    assert export == section
    rows = export.splitlines()
    assert rows[:2] == ["| Time | Event |", "|------|-------|"]
    assert rows[2].startswith("| 2026-03-09 23:40 | Alex Rivera declared the incident as SEV3")
    assert "| 2026-03-09 23:55 | Consumers restarted |" in rows
    assert "| 2026-03-10 00:20 | Backlog drained |" in rows
    assert "| 2026-03-10 00:30 | Alex Rivera marked the incident resolved |" in rows


def test_events_after_midnight_of_an_incident_started_the_day_before_carry_their_date(client, alex):
    with time_machine.travel(at(24, 5), tick=False):
        incident = incident_declare(
            title="Nightly export failed",
            severity=Severity.objects.get(level=3),
            team=alex.memberships.get().team,
            by=alex,
            started_at=at(23, 50),
        )
        incident_change_status(incident=incident, status=Status.RESOLVED, by=alex)
    export, section = tables(client, incident, alex)
    assert export == section
    assert "| 2026-03-10 00:05 | Alex Rivera marked the incident resolved |" in export.splitlines()


def test_an_incident_within_one_day_shows_times_alone(client, alex):
    incident = worked_incident(
        alex, notes=[(at(23, 45), "Consumers | restarted")], resolved=at(23, 50)
    )
    export, section = tables(client, incident, alex)
    assert export == section
    assert "| 23:45 | Consumers \\| restarted |" in export.splitlines()


def test_an_impact_change_is_one_row_on_one_line_in_the_export_and_the_postmortem(client, alex):
    with time_machine.travel(at(23, 40), tick=False):
        incident = incident_declare(
            title="Queue backlog",
            severity=Severity.objects.get(level=3),
            team=alex.memberships.get().team,
            by=alex,
        )
    with time_machine.travel(at(23, 44), tick=False):
        incident_update_impact(
            incident=incident, by=alex, summary="Orders | payments\nstuck", users_affected=1200
        )
        incident_change_status(incident=incident, status=Status.RESOLVED, by=alex)
    export, section = tables(client, incident, alex)
    assert export == section
    assert (
        '| 23:44 | Alex Rivera updated the impact: summary "Orders \\| payments stuck"; '
        "users affected 1,200 |"
    ) in export.splitlines()
