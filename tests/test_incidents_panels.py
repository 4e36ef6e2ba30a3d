"""The incident page's live contract on the server: every part declares the timeline event
kinds that change it, and an action's answer names the parts its events changed."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents import panels, services
from incidents.models import EventKind, Severity
from paging.models import Escalation
from runbooks.services import runbook_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def alex(responder):
    return responder  # conftest's team responder, Alex Rivera


@pytest.fixture
def incident(team, alex):
    return services.incident_declare(
        title="Checkout errors",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=alex,
        page=True,
    )


def htmx_client(user):
    client = Client(headers={"HX-Request": "true"})
    client.force_login(user)
    return client


def refreshed(response):
    """The parts an answer names for the page to refresh (none without the header)."""
    if "HX-Trigger" not in response:
        return []
    return json.loads(response["HX-Trigger"])[panels.REFRESH_EVENT]


def test_the_pages_own_parts_and_every_panel_declare_what_changes_them():
    assert panels.page_parts() == {"header", "checklist", "status_update", "impact"}
    assert "paging" in panels.parts_changed_by({EventKind.ACK})
    assert "postmortem" in panels.parts_changed_by({EventKind.POSTMORTEM})
    assert panels.parts_changed_by({EventKind.RUNBOOK_STEP}) == ["runbooks"]
    assert panels.parts_changed_by({EventKind.NOTE}) == []
    assert set(panels.parts_changed_by({EventKind.STATUS})) >= {
        "header",
        "checklist",
        "status_update",
        "impact",
        "paging",
        "postmortem",
    }


def test_a_panel_naming_a_kind_the_timeline_does_not_have_is_refused():
    with pytest.raises(ValueError, match="Unknown timeline event kinds for 'typo': acked"):
        panels.register_panel(
            "typo", template="x.html", context=lambda **kw: {}, refresh_on={"acked"}
        )
    assert "typo" not in panels.parts_changed_by({"status", "ack"})


def test_acknowledging_names_the_paging_panel_and_the_other_parts_it_changed(alex, incident):
    assert Escalation.objects.filter(incident=incident).exists()  # the on-call was paged
    response = htmx_client(alex).post(
        reverse("incident_status", args=[incident.pk]), {"status": "acknowledged"}
    )
    assert response.status_code == 200
    assert 'data-part="header"' in response.content.decode()
    # The header comes in the answer itself; the rest is refreshed by name.
    assert refreshed(response) == [
        "alerts",
        "checklist",
        "impact",
        "paging",
        "postmortem",
        "status_update",
    ]


def an_hour_before(incident):
    """The Edit impact form's start, an hour before the incident's."""
    return timezone.localtime(incident.started_at - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")


def test_editing_the_impact_names_the_parts_that_show_it(alex, incident):
    response = htmx_client(alex).post(
        reverse("incident_impact", args=[incident.pk]),
        {
            "started_at": an_hour_before(incident),
            "users_affected": "12000",
            "affected_services": "api",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-part="impact"' in html and "updated the impact" in html
    # "impact since" in the header; similar past incidents by the affected services.
    assert refreshed(response) == ["header", "postmortem"]
    assert set(panels.parts_changed_by({EventKind.IMPACT})) == {"header", "impact", "postmortem"}


def test_saving_the_impact_unchanged_names_nothing(alex, incident):
    client = htmx_client(alex)
    data = {"started_at": an_hour_before(incident), "users_affected": "12000"}
    client.post(reverse("incident_impact", args=[incident.pk]), data)
    response = client.post(reverse("incident_impact", args=[incident.pk]), data)
    assert response.status_code == 200
    assert "HX-Trigger" not in response


def test_resolving_names_the_postmortem_panel(alex, incident):
    response = htmx_client(alex).post(
        reverse("incident_status", args=[incident.pk]), {"status": "resolved"}
    )
    assert response.status_code == 200
    assert {"postmortem", "paging", "checklist"} <= set(refreshed(response))


def test_an_answer_never_names_the_part_it_carries(alex, incident):
    item = incident.checklist.order_by("position").first()
    response = htmx_client(alex).post(
        reverse("incident_checklist_tick", args=[incident.pk, item.pk]), {"done": "1"}
    )
    assert response.status_code == 200
    assert "checklist" not in refreshed(response)


def test_a_note_changes_no_part_and_names_none(alex, incident):
    response = htmx_client(alex).post(
        reverse("incident_note_add", args=[incident.pk]), {"body": "Error rate at 15%"}
    )
    assert response.status_code == 200
    assert "HX-Trigger" not in response


def test_a_refused_action_names_nothing(alex, incident):
    response = htmx_client(alex).post(
        reverse("incident_status", args=[incident.pk]), {"status": "triggered"}
    )
    assert response.status_code in (400, 409)
    assert "HX-Trigger" not in response


def test_a_runbook_step_ticked_on_the_incident_page_names_the_runbooks_panel(team, alex, incident):
    runbook = runbook_create(
        title="High Error Rate",
        slug="high-error-rate",
        team=team,
        body="### Step 1: Check Recent Changes\n",
        tags=[],
        alert_names=[],
        by=alex,
    )
    response = htmx_client(alex).post(
        reverse(
            "runbook_step_tick", args=[incident.pk, runbook.slug, "step-1-check-recent-changes"]
        ),
        {"next": incident.get_absolute_url()},
    )
    assert response.status_code == 200
    assert refreshed(response) == ["runbooks"]


def test_a_panel_comes_alone_and_on_the_page_in_the_box_the_page_refreshes(alex, incident):
    client = htmx_client(alex)
    alone = client.get(incident.get_absolute_url(), {"part": "paging"}).content.decode()
    assert alone.startswith('<div class="incident-panel" id="part-paging" data-part="paging">')
    assert "Escalating" in alone
    page = Client()
    page.force_login(alex)
    html = page.get(incident.get_absolute_url()).content.decode()
    for name in ("header", "checklist", "status_update", "impact"):
        assert f'data-part="{name}"' in html
    for name in ("runbooks", "alerts", "paging", "postmortem"):
        assert f'id="part-{name}" data-part="{name}"' in html
