"""seed_demo adds the seed document's incident: the v1.5.2 authentication deployment."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from incidents.models import EventKind, Incident, Status

pytestmark = pytest.mark.django_db

TITLE = "Authentication failures after v1.5.2 deployment"

# The seed document's postmortem timeline, verbatim ("Timeline (all times UTC)", 2024-01-15).
SEED_TIMELINE = """\
| Time | Event |
|------|-------|
| 03:10 | Deployment of v1.5.2 begins (rolling update) |
| 03:12 | Error rate starts increasing (5% → 15%) |
| 03:13 | Alert fires: "High error rate" |
| 03:14 | On-call (Alex) acknowledges alert |
| 03:17 | Alex identifies pattern: auth failures |
| 03:20 | Decision made to rollback |
| 03:22 | Rollback initiated |
| 03:27 | Rollback complete, all pods on v1.5.1 |
| 03:30 | Error rate returning to normal |
| 03:35 | Monitoring for regression |
| 03:49 | Incident resolved, error rate <0.1% |
"""
SEED_DOCUMENT = Path(settings.BASE_DIR).parent / "shared/seed/incident-response-chapter.md"


def _seed_rows():
    rows = []
    for line in SEED_TIMELINE.splitlines()[2:]:
        time, event = (cell.strip() for cell in line.strip("|").split("|"))
        hour, minute = map(int, time.split(":"))
        rows.append((dt.datetime(2024, 1, 15, hour, minute, tzinfo=dt.UTC), event))
    return rows


def _utc(value):
    return value.astimezone(dt.UTC)


@pytest.mark.skipif(not SEED_DOCUMENT.exists(), reason="the seed document is not beside the repo")
def test_the_timeline_here_is_the_seed_documents():
    assert SEED_TIMELINE in SEED_DOCUMENT.read_text()


def test_seed_demo_twice_leaves_one_incident_with_the_same_events():
    call_command("seed_demo")
    incident = Incident.objects.get(title=TITLE)
    first = list(incident.events.values_list("pk", "kind", "body", "occurred_at"))
    call_command("seed_demo")
    assert Incident.objects.filter(title=TITLE).count() == 1
    incident = Incident.objects.get(title=TITLE)
    assert list(incident.events.values_list("pk", "kind", "body", "occurred_at")) == first
    assert incident.responders.count() == 3


def test_every_row_of_the_seed_timeline_is_an_event_at_its_exact_time():
    call_command("seed_demo")
    incident = Incident.objects.get(title=TITLE)
    events = list(incident.events.filter(deleted_at__isnull=True).order_by("occurred_at", "id"))
    assert [(_utc(e.occurred_at), e.body) for e in events] == _seed_rows()
    assert [e.kind for e in events] == [
        EventKind.DEPLOY,
        EventKind.NOTE,
        EventKind.ALERT,
        EventKind.ACK,
        EventKind.NOTE,
        EventKind.ROLLBACK,
        EventKind.ROLLBACK,
        EventKind.ROLLBACK,
        EventKind.NOTE,
        EventKind.NOTE,
        EventKind.STATUS,
    ]
    pinned = {e.occurred_at.strftime("%H:%M") for e in events if e.pinned}
    assert {"03:10", "03:13", "03:14", "03:27", "03:49"} <= pinned
    assert "&lt;0.1%" in events[-1].body_html
    ack = events[3]
    assert ack.author.username == "alex"


def test_the_demo_incident_carries_the_seeds_facts():
    call_command("seed_demo")
    incident = Incident.objects.select_related("severity", "team", "commander").get(title=TITLE)
    assert incident.severity.name == "SEV2"
    assert incident.team.slug == "platform"
    assert incident.status == Status.RESOLVED

    def hm(value):
        return _utc(value).strftime("%Y-%m-%d %H:%M")

    assert hm(incident.started_at) == "2024-01-15 03:10"
    assert hm(incident.acknowledged_at) == "2024-01-15 03:14"
    assert hm(incident.mitigated_at) in {"2024-01-15 03:27", "2024-01-15 03:30"}
    assert hm(incident.resolved_at) == "2024-01-15 03:49"
    assert incident.started_at <= incident.declared_at <= incident.acknowledged_at
    assert incident.duration == dt.timedelta(minutes=39)

    assert incident.users_affected == 3000
    assert incident.failed_requests == 4500
    assert incident.revenue_impact == Decimal("2000.00")
    assert incident.sla_breach is True
    assert incident.status_page_url == "https://status.company.com/incidents/2024-01-15"
    assert incident.affected_services

    assert incident.commander.username == "alex"
    assert set(incident.responders.values_list("username", flat=True)) == {"alex", "jordan", "sam"}
    assert "Alex (primary), Jordan (secondary), Sam (escalation)" in incident.summary


def test_a_note_added_to_the_demo_incident_survives_a_second_seed():
    from accounts.models import User
    from incidents.services import timeline_note_add

    call_command("seed_demo")
    incident = Incident.objects.get(title=TITLE)
    timeline_note_add(
        incident=incident, body="Rehearsal note", author=User.objects.get(username="riley")
    )
    call_command("seed_demo")
    bodies = list(incident.events.values_list("body", flat=True))
    assert bodies.count("Rehearsal note") == 1
    assert len(bodies) == len(_seed_rows()) + 1


def test_the_demo_incident_page_shows_the_timeline_and_the_ticked_checklist(client):
    from accounts.models import User
    from incidents.models import ChecklistItem

    call_command("seed_demo")
    incident = Incident.objects.get(title=TITLE)
    done = dict(
        ChecklistItem.objects.filter(incident=incident, done_at__isnull=False).values_list(
            "text", "done_at"
        )
    )
    assert _utc(done["Alert received and acknowledged"]) == dt.datetime(
        2024, 1, 15, 3, 14, tzinfo=dt.UTC
    )
    assert _utc(done["Incident declared resolved"]) == dt.datetime(
        2024, 1, 15, 3, 49, tzinfo=dt.UTC
    )
    client.force_login(User.objects.get(username="casey"))
    response = client.get(incident.get_absolute_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert TITLE in page
    assert "Rollback complete, all pods on v1.5.1" in page
    assert "Incident resolved, error rate &lt;0.1%" in page
    items = list(ChecklistItem.objects.filter(incident=incident).values_list("pk", "done_at"))
    call_command("seed_demo")
    assert list(ChecklistItem.objects.filter(incident=incident).values_list("pk", "done_at")) == (
        items
    )
