"""The runbooks JSON API: search, read, an incident's runbooks, ticking a step, permissions."""

import pytest

from accounts.tokens import api_token_create
from incidents.models import EventKind, Severity, TimelineEvent
from incidents.services import incident_declare, timeline_event_add
from runbooks.services import runbook_library_load
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db

BASE = "/api/v1/runbooks"


@pytest.fixture
def team(team):
    runbook_library_load(team_override=team.slug)
    return team


@pytest.fixture
def incident(team, responder):
    incident = incident_declare(
        title="Errors", severity=Severity.objects.get(level=1), team=team, by=responder
    )
    timeline_event_add(
        incident=incident,
        kind=EventKind.ALERT,
        body="AgentHighErrorRate fired",
        data={"alertname": "AgentHighErrorRate", "runbook_url": ""},
    )
    return incident


def _auth(user):
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_it_needs_a_token(client, team):
    assert client.get(BASE).status_code == 401


def test_it_searches_with_the_best_match_first(client, responder):
    response = client.get(BASE, {"q": "error rate"}, **_auth(responder))
    assert response.status_code == 200
    assert response.json()[0]["slug"] == "high-error-rate"


def test_it_finds_the_runbook_for_an_alert_name(client, responder):
    response = client.get(BASE, {"alertname": "AgentHighLatency"}, **_auth(responder))
    assert [r["slug"] for r in response.json()] == ["high-latency"]
    assert response.json()[0]["url"] == "/runbooks/high-latency/"


def test_it_reads_a_runbook_and_404s_an_unknown_one(client, responder):
    body = client.get(f"{BASE}/high-error-rate", **_auth(responder)).json()
    assert body["title"] == "High Error Rate"
    assert body["alert_names"] == ["AgentHighErrorRate"]
    assert body["body"].startswith("## When to Use")
    assert body["revisions"] == 1
    assert client.get(f"{BASE}/nope", **_auth(responder)).status_code == 404


def test_it_lists_an_incidents_runbooks_and_ticks_a_step(client, responder, incident):
    offered = client.get(f"{BASE}/incidents/{incident.pk}", **_auth(responder)).json()
    assert [o["runbook"]["slug"] for o in offered] == ["high-error-rate"]
    step = offered[0]["steps"][1]
    assert step == {
        "key": "step-2-check-error-patterns",
        "label": "Step 2 — Check Error Patterns",
        "done": False,
        "done_by": None,
        "done_at": None,
    }
    url = f"{BASE}/incidents/{incident.pk}/high-error-rate/steps/step-2-check-error-patterns"
    response = client.post(url, **_auth(responder))
    assert response.status_code == 200
    ticked = response.json()["steps"][1]
    assert ticked["done"] is True and ticked["done_by"] == "alex"
    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.RUNBOOK_STEP)
    assert event.body == "Step 2 — Check Error Patterns: done by Alex Rivera"
    missing = f"{BASE}/incidents/{incident.pk}/high-error-rate/steps/no-such-step"
    response = client.post(missing, **_auth(responder))
    assert response.status_code == 409
    assert "no longer in the runbook" in response.json()["detail"]


def test_a_viewer_or_outsider_cannot_tick(client, team, incident):
    viewer = member(team, Role.VIEWER)
    outsider = member(TeamFactory(slug="payments"), Role.RESPONDER)
    url = f"{BASE}/incidents/{incident.pk}/high-error-rate/steps/step-2-check-error-patterns"
    assert client.post(url, **_auth(viewer)).status_code == 403
    assert client.post(url, **_auth(outsider)).status_code == 403
    assert not TimelineEvent.objects.filter(kind=EventKind.RUNBOOK_STEP).exists()
