"""A person's edit of the impact goes on the timeline, once, in the transaction that saves it
and its audit entry, so colleagues' pages hear of it; saving what is already there writes
nothing."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from incidents import services
from incidents.models import EventKind, Incident, Severity
from incidents.services import IncidentError, incident_update_impact

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(team, responder):
    return services.incident_declare(
        title="Checkout errors",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=responder,
        started_at=timezone.now() - dt.timedelta(minutes=20, seconds=17),
    )


def impact_events(incident):
    return list(incident.events.filter(kind=EventKind.IMPACT).order_by("seq"))


def form_as_shown(incident, **changes):
    """The Edit impact form as the page fills it in, with `changes` typed over it."""
    data = {
        "summary": incident.summary,
        "started_at": timezone.localtime(incident.started_at).strftime("%Y-%m-%dT%H:%M"),
        "users_affected": "" if incident.users_affected is None else str(incident.users_affected),
        "failed_requests": ""
        if incident.failed_requests is None
        else str(incident.failed_requests),
        "revenue_impact": "" if incident.revenue_impact is None else str(incident.revenue_impact),
        "affected_services": ", ".join(incident.affected_services),
        "status_page_url": incident.status_page_url,
    }
    if incident.sla_breach:
        data["sla_breach"] = "on"
    data.update(changes)
    return data


def test_an_impact_edit_writes_one_timeline_event_saying_what_changed_and_is_audited(
    incident, responder
):
    seq = Incident.objects.get(pk=incident.pk).timeline_seq
    incident_update_impact(
        incident=incident,
        by=responder,
        summary="Logins failing\nfor mobile users",
        users_affected=12000,
        revenue_impact=Decimal("1250.50"),
        sla_breach=True,
        affected_services=["auth-api", "web"],
    )
    (event,) = impact_events(incident)
    assert event.body == (
        'Alex Rivera updated the impact: summary "Logins failing for mobile users"; '
        "users affected 12,000; revenue impact 1,250.50; SLA breached; "
        "affected services auth-api, web"
    )
    assert event.author == responder
    assert event.seq == seq + 1
    assert event.data == {
        "fields": ["summary", "users_affected", "revenue_impact", "sla_breach", "affected_services"]
    }
    entry = AuditEntry.objects.get(action="incident.impact")
    assert entry.after["users_affected"] == 12000
    assert entry.before["users_affected"] is None


def test_saving_the_same_impact_again_writes_no_second_event_and_no_second_audit_entry(
    incident, responder
):
    incident_update_impact(incident=incident, by=responder, users_affected=300)
    seq = Incident.objects.get(pk=incident.pk).timeline_seq
    incident_update_impact(incident=incident, by=responder, users_affected=300, summary="")
    assert len(impact_events(incident)) == 1
    assert AuditEntry.objects.filter(action="incident.impact").count() == 1
    assert Incident.objects.get(pk=incident.pk).timeline_seq == seq


def test_a_new_start_and_cleared_figures_read_plainly(incident, responder):
    incident_update_impact(incident=incident, by=responder, users_affected=5, failed_requests=9)
    started = dt.datetime(2026, 1, 15, 3, 12, 40, tzinfo=dt.UTC)
    incident_update_impact(
        incident=incident,
        by=responder,
        started_at=started,
        users_affected=None,
        failed_requests=0,
        sla_breach=False,  # as it was: not mentioned
    )
    assert impact_events(incident)[-1].body == (
        "Alex Rivera updated the impact: impact started 2026-01-15 03:12 UTC; "
        "users affected cleared; failed requests 0"
    )


def test_a_long_summary_is_cut_in_the_timeline_and_kept_whole_on_the_incident(incident, responder):
    summary = "Checkout fails. " * 40
    incident_update_impact(incident=incident, by=responder, summary=summary)
    body = impact_events(incident)[0].body
    said = body.removeprefix('Alex Rivera updated the impact: summary "').removesuffix('"')
    assert len(said) == services.IMPACT_SUMMARY_IN_TIMELINE and said.endswith("…")
    assert Incident.objects.get(pk=incident.pk).summary == summary


def test_the_summary_in_the_event_is_sanitised_as_every_event_body_is(incident, responder):
    incident_update_impact(
        incident=incident,
        by=responder,
        summary='Checkout <script>alert(1)</script><img src=x onerror="alert(2)"> down',
    )
    html = impact_events(incident)[0].body_html
    assert "<script" not in html and "onerror" not in html
    assert "Checkout" in html and "down" in html


def test_a_refused_edit_writes_neither_the_impact_nor_its_event(incident, responder):
    with pytest.raises(IncidentError, match="in the future"):
        incident_update_impact(
            incident=incident,
            by=responder,
            users_affected=10,
            started_at=timezone.now() + dt.timedelta(hours=1),
        )
    assert impact_events(incident) == []
    assert Incident.objects.get(pk=incident.pk).users_affected is None


def test_the_impact_event_is_written_in_the_transaction_that_saves_the_impact(
    incident, responder, monkeypatch
):
    def audit_down(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "audit_record", audit_down)
    with pytest.raises(RuntimeError):
        incident_update_impact(incident=incident, by=responder, users_affected=10)
    assert impact_events(incident) == []
    assert Incident.objects.get(pk=incident.pk).users_affected is None


def test_the_form_sent_back_as_shown_changes_nothing_and_one_change_is_the_only_one_told(
    incident, responder
):
    client = Client()
    client.force_login(responder)
    post = reverse("incident_impact", args=[incident.pk])
    # The form shows the start to the minute; sent back as shown, the start is unchanged.
    assert client.post(post, form_as_shown(incident)).status_code == 302
    assert impact_events(incident) == []
    assert not AuditEntry.objects.filter(action="incident.impact").exists()
    assert Incident.objects.get(pk=incident.pk).started_at == incident.started_at

    assert client.post(post, form_as_shown(incident, users_affected="40")).status_code == 302
    (event,) = impact_events(incident)
    assert event.body == "Alex Rivera updated the impact: users affected 40"
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Impact change" in page and "updated the impact: users affected 40" in page


def test_a_start_moved_in_the_form_is_saved_to_the_minute_and_told(incident, responder):
    client = Client()
    client.force_login(responder)
    earlier = timezone.localtime(incident.started_at - dt.timedelta(minutes=5))
    response = client.post(
        reverse("incident_impact", args=[incident.pk]),
        form_as_shown(incident, started_at=earlier.strftime("%Y-%m-%dT%H:%M")),
    )
    assert response.status_code == 302
    stored = Incident.objects.get(pk=incident.pk).started_at
    assert stored == earlier.replace(second=0, microsecond=0)
    (event,) = impact_events(incident)
    assert event.body == (
        f"Alex Rivera updated the impact: impact started {stored:%Y-%m-%d %H:%M} UTC"
    )
