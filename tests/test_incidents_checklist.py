"""The response checklist ticks what Vigil itself recorded (the acknowledgement, a person's
severity, the resolution, the postmortem draft), marked "by Vigil"; no person unticks those."""

import datetime as dt
from importlib import import_module

import pytest
import time_machine
from django.apps import apps
from django.db import transaction
from django.test import Client
from django.urls import reverse

from incidents.models import ChecklistFact, ChecklistItem, EventKind, Incident, Severity, Status
from incidents.services import (
    IncidentError,
    checklist_item_set_done,
    incident_change_severity,
    incident_change_status,
    incident_declare,
    incident_reopen,
    status_page_updated,
    status_update_post,
)
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


def item(incident, fact):
    return ChecklistItem.objects.get(incident=incident, fact=fact)


def vigil_ticks(incident):
    return set(
        ChecklistItem.objects.filter(incident=incident, done_by_vigil=True).values_list(
            "fact", flat=True
        )
    )


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def declare(team, by, *, level=3):
    return incident_declare(
        title="Checkout errors", severity=Severity.objects.get(level=level), team=team, by=by
    )


@pytest.fixture
def incident(team, responder):
    with time_machine.travel(T0, tick=False):
        return declare(team, responder)


@pytest.fixture
def alert_incident(client):
    """An incident an alert opened: Vigil declared it and pages the on-call."""
    team, people = oncall_team()
    integration, token = integration_for(team)
    with time_machine.travel(T0, tick=False):
        assert post(client, integration, am_payload(), token=token).status_code == 202
    return Incident.objects.get(), people


def test_a_person_declaring_has_assessed_the_severity(incident):
    severity = item(incident, ChecklistFact.SEVERITY)
    assert severity.done_by_vigil and severity.done_by is None
    assert severity.done_at == incident.declared_at
    assert vigil_ticks(incident) == {ChecklistFact.SEVERITY}


def test_an_alerts_incident_waits_for_a_person_to_assess_its_severity(alert_incident):
    incident, people = alert_incident
    assert not item(incident, ChecklistFact.SEVERITY).is_done
    response = client_for(people["primary"]).post(
        reverse("incident_severity", args=[incident.pk]), {"severity": "SEV2"}
    )
    assert response.status_code == 302
    severity = item(incident, ChecklistFact.SEVERITY)
    assert severity.done_by_vigil and severity.is_done
    event = incident.events.filter(kind=EventKind.CHECKLIST).get()
    assert event.body == (
        'Vigil ticked "Severity assessed (SEV1-4)" (Detection): a person set the severity'
    )
    assert event.author is None and event.data["fact"] == "severity"


def test_a_person_choosing_the_severity_it_has_has_assessed_it_too(alert_incident):
    incident, people = alert_incident
    incident_change_severity(incident=incident, severity=incident.severity, by=None)
    assert not item(incident, ChecklistFact.SEVERITY).is_done
    incident_change_severity(incident=incident, severity=incident.severity, by=people["lead"])
    assert item(incident, ChecklistFact.SEVERITY).done_by_vigil
    assert not incident.events.filter(kind=EventKind.SEVERITY).exists()


def test_marking_the_incident_acknowledged_ticks_alert_received_and_acknowledged(
    incident, responder
):
    with time_machine.travel(T0 + dt.timedelta(minutes=2), tick=False):
        response = client_for(responder).post(
            reverse("incident_status", args=[incident.pk]), {"status": "acknowledged"}
        )
    assert response.status_code == 302
    incident.refresh_from_db()
    acknowledged = item(incident, ChecklistFact.ACKNOWLEDGED)
    assert acknowledged.done_by_vigil and acknowledged.done_at == incident.acknowledged_at


def test_paging_records_the_acknowledgement_when_the_incident_skips_to_mitigated(
    alert_incident,
):
    incident, people = alert_incident
    with time_machine.travel(T0 + dt.timedelta(minutes=3), tick=False):
        incident_change_status(incident=incident, status=Status.MITIGATED, by=people["primary"])
    acknowledged = item(incident, ChecklistFact.ACKNOWLEDGED)
    assert acknowledged.done_by_vigil
    assert acknowledged.done_at == T0 + dt.timedelta(minutes=3)
    assert incident.escalation.time_to_acknowledge == dt.timedelta(minutes=3)


def test_a_page_acknowledged_by_its_link_ticks_it(alert_incident, client):
    from paging.services import engine_tick, page_acknowledge_by_link

    incident, people = alert_incident
    with time_machine.travel(T0, tick=False):
        engine_tick()
    page = incident.pages.get(user=people["primary"])
    page_acknowledge_by_link(page_id=page.pk, at=T0 + dt.timedelta(seconds=42))
    assert item(incident, ChecklistFact.ACKNOWLEDGED).done_at == T0 + dt.timedelta(seconds=42)


def test_an_acknowledgement_that_rolls_back_leaves_no_tick(incident, responder):
    with pytest.raises(RuntimeError), transaction.atomic():
        incident_change_status(incident=incident, status=Status.ACKNOWLEDGED, by=responder)
        raise RuntimeError("the request failed after the acknowledgement")
    assert not item(incident, ChecklistFact.ACKNOWLEDGED).is_done
    assert Incident.objects.get(pk=incident.pk).status == Status.TRIGGERED


def test_resolving_ticks_it_and_reopening_takes_back_the_acknowledgement_and_resolution(
    incident, responder
):
    incident_change_status(incident=incident, status=Status.ACKNOWLEDGED, by=responder)
    incident_change_status(incident=incident, status=Status.RESOLVED, by=responder)
    assert vigil_ticks(incident) == {
        ChecklistFact.SEVERITY,
        ChecklistFact.ACKNOWLEDGED,
        ChecklistFact.RESOLVED,
    }
    incident_reopen(incident=incident, reason="alert **Errors** fired again")
    assert vigil_ticks(incident) == {ChecklistFact.SEVERITY}
    assert not item(incident, ChecklistFact.RESOLVED).is_done
    unticked = incident.events.filter(kind=EventKind.CHECKLIST, data__done=False)
    assert sorted(unticked.values_list("body", flat=True)) == [
        'Vigil unticked "Alert received and acknowledged" (Detection): the incident reopened',
        'Vigil unticked "Incident declared resolved" (Resolution): the incident reopened',
    ]
    incident_change_status(incident=incident, status=Status.RESOLVED, by=responder)
    assert item(incident, ChecklistFact.RESOLVED).done_by_vigil


def test_a_sev2_resolved_has_its_postmortem_scheduled_by_vigil(team, responder):
    incident = declare(team, responder, level=2)
    incident_change_status(incident=incident, status=Status.RESOLVED, by=responder)
    assert item(incident, ChecklistFact.POSTMORTEM).done_by_vigil


def test_a_person_cannot_untick_what_vigil_ticked(incident, responder):
    severity = item(incident, ChecklistFact.SEVERITY)
    before = incident.events.count()
    tick_url = reverse("incident_checklist_tick", args=[incident.pk, severity.pk])
    client = client_for(responder)
    response = client.post(tick_url, {"done": "0"})
    assert response.status_code == 409
    assert (
        "Vigil ticked &quot;Severity assessed (SEV1-4)&quot; when a person set the severity; "
        "it stays ticked." in response.content.decode()
    )
    htmx = client.post(tick_url, {"done": "0"}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 409 and "it stays ticked" in htmx.content.decode()
    with pytest.raises(IncidentError, match="it stays ticked"):
        checklist_item_set_done(item=severity, done=False, by=responder)
    severity.refresh_from_db()
    assert severity.done_by_vigil and severity.is_done
    assert incident.events.count() == before


def test_a_person_still_unticks_their_own_tick(incident, responder):
    dashboard = ChecklistItem.objects.get(incident=incident, text="Dashboard opened")
    checklist_item_set_done(item=dashboard, done=True, by=responder)
    checklist_item_set_done(item=dashboard, done=False, by=responder)
    dashboard.refresh_from_db()
    assert not dashboard.is_done


def test_the_page_marks_vigils_ticks_by_vigil_and_offers_no_control_to_untick_them(
    incident, responder
):
    severity = item(incident, ChecklistFact.SEVERITY)
    dashboard = ChecklistItem.objects.get(incident=incident, text="Dashboard opened")
    checklist_item_set_done(item=dashboard, done=True, by=responder)
    page = client_for(responder).get(incident.get_absolute_url()).content.decode()
    checklist = page.split('id="checklist"')[1].split("</section>")[0]
    vigils = next(li for li in checklist.split("<li>") if "Severity assessed" in li)
    assert "by Vigil, <time" in vigils
    assert 'aria-checked="true" aria-disabled="true"' in vigils
    assert "<form" not in vigils and "<button" not in vigils
    assert reverse("incident_checklist_tick", args=[incident.pk, severity.pk]) not in page
    persons = next(li for li in checklist.split("<li>") if "Dashboard opened" in li)
    assert "Alex Rivera, <time" in persons and "<button" in persons


def test_nothing_is_ticked_on_a_get(incident, responder):
    # Acknowledged behind Vigil's back: no service recorded it, so no tick either.
    Incident.objects.filter(pk=incident.pk).update(status=Status.ACKNOWLEDGED, acknowledged_at=T0)
    client_for(responder).get(incident.get_absolute_url())
    assert vigil_ticks(incident) == {ChecklistFact.SEVERITY}


def test_the_status_page_item_waits_for_the_status_page(incident, responder):
    status_update_post(incident=incident, body="Rolling back the deploy.", by=responder)
    assert not item(incident, ChecklistFact.STATUS_PAGE).is_done
    status_page_updated(incident=incident)
    assert item(incident, ChecklistFact.STATUS_PAGE).done_by_vigil


def test_the_data_migration_ticks_what_existing_incidents_timelines_show(team, responder):
    migration = import_module("incidents.migrations.0009_checklist_ticked_by_vigil")
    minutes = lambda n: T0 + dt.timedelta(minutes=n)  # noqa: E731
    with time_machine.travel(T0, tick=False):
        worked = declare(team, responder)
        by_alert = declare(team, None)
        reopened = declare(team, responder)
    incident_change_status(incident=worked, status=Status.ACKNOWLEDGED, by=responder, at=minutes(2))
    incident_change_status(incident=worked, status=Status.RESOLVED, by=responder, at=minutes(30))
    with time_machine.travel(minutes(5), tick=False):
        incident_change_severity(
            incident=by_alert, severity=Severity.objects.get(level=2), by=responder
        )
    incident_change_status(incident=reopened, status=Status.ACKNOWLEDGED, by=responder)
    incident_change_status(incident=reopened, status=Status.RESOLVED, by=responder)
    incident_reopen(incident=reopened, reason="it came back")
    dashboard = ChecklistItem.objects.get(incident=worked, text="Dashboard opened")
    checklist_item_set_done(item=dashboard, done=True, by=responder)
    # The checklists as they were before the migration: no facts, no ticks of Vigil's.
    ChecklistItem.objects.filter(done_by_vigil=True).update(done_at=None, done_by_vigil=False)
    ChecklistItem.objects.update(fact="")

    migration.tick_what_vigil_recorded(apps, None)

    ticked = {
        (i.incident_id, i.fact): i.done_at for i in ChecklistItem.objects.filter(done_by_vigil=True)
    }
    assert ticked == {
        (worked.pk, "severity"): T0,
        (worked.pk, "acknowledged"): minutes(2),
        (worked.pk, "resolved"): minutes(30),
        (by_alert.pk, "severity"): minutes(5),
        (reopened.pk, "severity"): T0,
    }
    dashboard.refresh_from_db()
    assert dashboard.done_by == responder and not dashboard.done_by_vigil
    assert ChecklistItem.objects.filter(incident=worked).exclude(fact="").count() == 6
