"""/metrics: open incidents by severity, the time-to-acknowledge histogram and pages per team,
read from PostgreSQL at scrape time, drills never counted, the team label capped."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from alerts.metrics import registry
from incidents.models import Severity, Status
from paging.models import Escalation, Page, StepRun
from reports import metrics
from tests.factories import IncidentFactory, member

pytestmark = pytest.mark.django_db

DECLARED = dt.datetime(2026, 10, 20, 9, 0, tzinfo=dt.UTC)


def incident(team, level, status=Status.TRIGGERED, *, acknowledged_after=None, drill=False):
    return IncidentFactory(
        team=team,
        severity=Severity.objects.get(level=level),
        status=status,
        is_drill=drill,
        declared_at=DECLARED,
        started_at=DECLARED,
        acknowledged_at=(
            DECLARED + dt.timedelta(seconds=acknowledged_after)
            if acknowledged_after is not None
            else None
        ),
    )


def pages(made, people):
    escalation = Escalation.objects.create(incident=made, team=made.team, started_at=DECLARED)
    for number, person in enumerate(people, start=1):
        run = StepRun.objects.create(
            escalation=escalation,
            number=number,
            position=0,
            scheduled_at=DECLARED,
            executed_at=DECLARED,
            lateness=0,
        )
        Page.objects.create(escalation=escalation, incident=made, step_run=run, user=person)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    families = list(text_string_to_metric_families(response.content.decode()))
    names = [f.name for f in families]
    assert len(names) == len(set(names))  # nothing exported twice
    return {f.name: f for f in families}


def samples(family) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


@pytest.fixture
def figures(team, other_team, responder, outsider):
    incident(team, 1)
    incident(team, 1, Status.ACKNOWLEDGED)
    incident(team, 1, Status.RESOLVED)
    incident(team, 2, Status.MITIGATED)
    incident(team, 1, drill=True)  # open, but a drill
    # Acknowledged after 30 s, 2 min, 10 min, 5000 s and 20000 s (all resolved, SEV3).
    acknowledged = [
        incident(team, 3, Status.RESOLVED, acknowledged_after=seconds)
        for seconds in (30, 120, 600, 5000, 20000)
    ]
    incident(team, 3, Status.RESOLVED, acknowledged_after=10, drill=True)
    second = member(team, username="sam")
    pages(acknowledged[0], [responder, second])
    pages(acknowledged[1], [responder])
    pages(incident(other_team, 4, Status.RESOLVED), [outsider])
    pages(incident(team, 4, Status.RESOLVED, drill=True), [responder, second])


def test_open_incidents_by_severity_leave_out_drills_and_resolved_ones(client, figures):
    got = samples(scrape(client)["vigil_incidents_open"])
    assert got == {
        ("vigil_incidents_open", (("severity", "SEV1"),)): 2.0,
        ("vigil_incidents_open", (("severity", "SEV2"),)): 1.0,
        ("vigil_incidents_open", (("severity", "SEV3"),)): 0.0,
        ("vigil_incidents_open", (("severity", "SEV4"),)): 0.0,
    }


def test_time_to_acknowledge_histogram_has_fixed_buckets_and_no_drills(client, figures):
    family = scrape(client)["vigil_incident_time_to_acknowledge_seconds"]
    assert family.type == "histogram"
    got = samples(family)
    name = "vigil_incident_time_to_acknowledge_seconds"
    buckets = {
        dict(labels)["le"]: value for (n, labels), value in got.items() if n == f"{name}_bucket"
    }
    assert buckets == {
        "60.0": 1.0,
        "300.0": 2.0,
        "900.0": 3.0,
        "1800.0": 3.0,
        "3600.0": 3.0,
        "14400.0": 4.0,
        "+Inf": 5.0,
    }
    assert got[(f"{name}_count", ())] == 5.0
    assert got[(f"{name}_sum", ())] == 30 + 120 + 600 + 5000 + 20000


def test_pages_per_team_count_every_page_but_drills(client, figures):
    family = scrape(client)["vigil_pages"]
    assert family.type == "counter"
    assert samples(family) == {
        ("vigil_pages_total", (("team", "platform"),)): 3.0,
        ("vigil_pages_total", (("team", "payments"),)): 1.0,
    }


def test_the_team_label_is_capped_and_the_rest_is_other(client, figures, monkeypatch):
    monkeypatch.setattr(metrics, "TEAM_LABELS", 1)
    assert samples(scrape(client)["vigil_pages"]) == {
        ("vigil_pages_total", (("team", "platform"),)): 3.0,
        ("vigil_pages_total", (("team", "other"),)): 1.0,
    }


def test_an_empty_database_gives_zeros(client):
    got = scrape(client)
    assert {s.value for s in got["vigil_incidents_open"].samples} == {0.0}
    hist = samples(got["vigil_incident_time_to_acknowledge_seconds"])
    assert hist[("vigil_incident_time_to_acknowledge_seconds_count", ())] == 0.0
    assert hist[("vigil_incident_time_to_acknowledge_seconds_sum", ())] == 0.0
    assert got["vigil_pages"].samples == []


def test_the_collector_is_registered_once_and_reads_in_three_queries(figures):
    assert metrics.collector in registry._collector_to_names
    metrics.register(registry)  # a second call is a no-op
    with CaptureQueriesContext(connection) as queries:
        families = list(metrics.collector.collect())
    assert len(families) == 3
    assert len(queries.captured_queries) == 3
