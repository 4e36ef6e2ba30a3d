"""The incident pages: declaring, the lifecycle buttons, notes, bad input and permissions."""

import re
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from incidents import services
from incidents.models import (
    ChecklistItem,
    EventKind,
    Incident,
    Severity,
    Status,
    TimelineEvent,
)
from teams.models import Role
from tests.factories import PASSWORD, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(team, responder):
    return services.incident_declare(
        title="Checkout errors",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=responder,
    )


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(name, args=args)


def kinds(incident):
    return list(
        TimelineEvent.objects.filter(incident=incident)
        .order_by("seq")
        .values_list("kind", flat=True)
    )


# --- declaring -------------------------------------------------------------------------------


def test_a_responder_declares_an_incident_with_title_severity_and_team(team, responder):
    response = client_for(responder).post(
        url("incident_declare"), {"title": "Login broken", "severity": "SEV1", "team": "platform"}
    )
    incident = Incident.objects.get(title="Login broken")
    assert response.status_code == 302
    assert response["Location"] == incident.get_absolute_url()
    assert incident.severity.name == "SEV1"
    assert incident.status == Status.TRIGGERED
    assert kinds(incident) == [EventKind.DECLARED]
    assert ChecklistItem.objects.filter(incident=incident).count() == 19


def test_the_declare_form_offers_only_teams_where_the_person_responds(team, responder):
    other = TeamFactory(slug="payments", name="Payments")
    watched = TeamFactory(slug="search", name="Search")
    Membership = responder.memberships.model
    Membership.objects.create(team=watched, user=responder, role=Role.VIEWER)
    page = client_for(responder).get(url("incident_declare")).content.decode()
    assert 'value="platform"' in page
    assert 'value="search"' not in page
    assert f'value="{other.slug}"' not in page
    response = client_for(responder).post(
        url("incident_declare"), {"title": "Nope", "severity": "SEV2", "team": "search"}
    )
    assert response.status_code == 400
    assert not Incident.objects.filter(title="Nope").exists()


def test_declaring_with_an_unknown_severity_is_refused_and_changes_nothing(team, responder):
    response = client_for(responder).post(
        url("incident_declare"), {"title": "Bad", "severity": "SEV9", "team": "platform"}
    )
    assert response.status_code == 400
    assert "Unknown severity" in response.content.decode()
    assert not Incident.objects.exists()


# --- the lifecycle -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (["acknowledged", "mitigated", "resolved"], ["acknowledged", "mitigated", "resolved"]),
        (["mitigated", "resolved"], ["mitigated", "resolved"]),
        (["resolved"], ["resolved"]),
        (["acknowledged", "resolved"], ["acknowledged", "resolved"]),
    ],
)
def test_every_allowed_transition_writes_its_timeline_event(incident, responder, path, expected):
    client = client_for(responder)
    for status in path:
        response = client.post(url("incident_status", incident.pk), {"status": status})
        assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == expected[-1]
    events = TimelineEvent.objects.filter(incident=incident, kind=EventKind.STATUS).order_by("seq")
    assert [e.data["to"] for e in events] == expected
    assert all(e.author == responder for e in events)
    if incident.status == Status.RESOLVED:
        assert incident.acknowledged_at and incident.mitigated_at and incident.resolved_at


@pytest.mark.parametrize(
    ("done", "refused"),
    [
        (["resolved"], "acknowledged"),
        (["resolved"], "mitigated"),
        (["mitigated"], "acknowledged"),
        (["acknowledged"], "acknowledged"),
        (["resolved"], "resolved"),
    ],
)
def test_an_invalid_transition_is_refused_with_a_clear_message(incident, responder, done, refused):
    client = client_for(responder)
    for status in done:
        client.post(url("incident_status", incident.pk), {"status": status})
    before = kinds(incident)
    response = client.post(url("incident_status", incident.pk), {"status": refused})
    assert response.status_code == 409
    assert "cannot be marked" in response.content.decode()
    assert kinds(incident) == before
    incident.refresh_from_db()
    assert incident.status == done[-1]


def test_an_htmx_refusal_comes_back_as_a_message_for_the_messages_area(incident, responder):
    client = client_for(responder)
    client.post(url("incident_status", incident.pk), {"status": "resolved"})
    response = client.post(
        url("incident_status", incident.pk), {"status": "acknowledged"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 409
    assert response["HX-Retarget"] == "#messages"
    assert (
        "An incident that is resolved cannot be marked acknowledged." in response.content.decode()
    )


def test_acknowledging_over_htmx_answers_the_header_and_the_new_event(incident, responder):
    response = client_for(responder).post(
        url("incident_status", incident.pk), {"status": "acknowledged"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="incident-header"' in html
    assert 'hx-swap-oob="beforeend:#timeline-inbox"' in html
    assert "marked the incident acknowledged" in html
    assert "Incident acknowledged." in html  # the message, out of band


def test_changing_severity_writes_an_event_and_an_unknown_one_is_refused(incident, responder):
    client = client_for(responder)
    response = client.post(url("incident_severity", incident.pk), {"severity": "SEV1"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.severity.name == "SEV1"
    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.SEVERITY)
    assert event.data == {"from": "SEV2", "to": "SEV1"}
    before = kinds(incident)
    response = client.post(url("incident_severity", incident.pk), {"severity": "SEV7"})
    assert response.status_code == 400
    assert "Unknown severity" in response.content.decode()
    assert kinds(incident) == before


def test_assigning_each_role_writes_an_event(incident, responder, team):
    riley = member(team, Role.RESPONDER, username="riley", first_name="Riley", last_name="Ng")
    client = client_for(responder)
    for role, person in [
        ("commander", "alex"),
        ("comms_lead", "riley"),
        ("scribe", "riley"),
        ("responder", "riley"),
    ]:
        response = client.post(url("incident_role", incident.pk), {"role": role, "person": person})
        assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.commander == responder
    assert incident.comms_lead == riley and incident.scribe == riley
    assert list(incident.responders.all()) == [riley]
    roles = TimelineEvent.objects.filter(incident=incident, kind=EventKind.ROLE)
    assert roles.count() == 4
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Riley Ng" in page and "Alex Rivera" in page


def test_a_role_cannot_go_to_someone_outside_the_team(incident, responder):
    outsider = UserFactory(username="mallory")
    response = client_for(responder).post(
        url("incident_role", incident.pk), {"role": "commander", "person": outsider.username}
    )
    assert response.status_code == 400
    incident.refresh_from_db()
    assert incident.commander is None


# --- notes ---------------------------------------------------------------------------------------


def test_a_note_is_posted_and_rendered_as_markdown(incident, responder):
    client = client_for(responder)
    response = client.post(url("incident_note_add", incident.pk), {"body": "Rolling **back**"})
    assert response.status_code == 302
    note = TimelineEvent.objects.get(incident=incident, kind=EventKind.NOTE)
    assert note.body_html == "<p>Rolling <strong>back</strong></p>"
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Rolling <strong>back</strong>" in page


def test_a_note_over_twenty_thousand_characters_is_refused(incident, responder):
    before = kinds(incident)
    response = client_for(responder).post(
        url("incident_note_add", incident.pk), {"body": "x" * 20_001}
    )
    assert response.status_code == 400
    assert "limited to 20,000 characters" in response.content.decode()
    assert kinds(incident) == before


def test_an_empty_note_is_refused(incident, responder):
    response = client_for(responder).post(url("incident_note_add", incident.pk), {"body": "  "})
    assert response.status_code == 400
    assert not TimelineEvent.objects.filter(kind=EventKind.NOTE).exists()


def test_a_backdated_note_is_ordered_by_when_it_happened_in_the_viewers_time_zone(
    incident, responder
):
    responder.time_zone = "Europe/Berlin"
    responder.save()
    client = client_for(responder)
    client.post(url("incident_note_add", incident.pk), {"body": "Now"})
    earlier = timezone.localtime(
        timezone.now() - timedelta(hours=1),
        timezone=ZoneInfo("Europe/Berlin"),
    )
    response = client.post(
        url("incident_note_add", incident.pk),
        {"body": "An hour ago", "occurred_at": earlier.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    note = TimelineEvent.objects.get(body="An hour ago")
    assert abs((note.occurred_at - earlier).total_seconds()) < 60
    notes = list(
        TimelineEvent.objects.filter(incident=incident, kind=EventKind.NOTE).values_list(
            "body", flat=True
        )
    )
    assert notes == ["An hour ago", "Now"]  # the model's order is occurred_at
    page = client.get(incident.get_absolute_url()).content.decode()
    assert page.index("Now") < page.index("An hour ago")  # newest first on the page
    utc = note.occurred_at.astimezone(UTC)
    assert f'title="{utc:%Y-%m-%d %H:%M:%S} UTC"' in page
    assert earlier.strftime("%H:%M") in page


def test_a_note_dated_in_the_future_is_refused(incident, responder):
    future = timezone.localtime(timezone.now() + timedelta(hours=2))
    response = client_for(responder).post(
        url("incident_note_add", incident.pk),
        {"body": "Tomorrow", "occurred_at": future.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 400
    assert "cannot be dated in the future" in response.content.decode()
    assert not TimelineEvent.objects.filter(body="Tomorrow").exists()


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00", "1999-12-31T23:00", "0202-11-26T03:10"])
def test_a_note_dated_before_2000_is_refused_and_the_page_still_works(incident, responder, stamp):
    # A slip (0202 for 2026) would be stored as an impossible date and break the page for
    # everyone who views it in another time zone.
    responder.time_zone = "Asia/Tokyo"
    responder.save()
    client = client_for(responder)
    response = client.post(
        url("incident_note_add", incident.pk), {"body": "Long ago", "occurred_at": stamp}
    )
    assert response.status_code == 400
    assert "cannot be dated before 2000-01-01" in response.content.decode()
    assert not TimelineEvent.objects.filter(body="Long ago").exists()
    assert client.get(incident.get_absolute_url()).status_code == 200


def test_the_author_edits_a_note_and_the_earlier_text_is_kept(incident, responder):
    client = client_for(responder)
    client.post(url("incident_note_add", incident.pk), {"body": "Rollback at 03:20"})
    note = TimelineEvent.objects.get(kind=EventKind.NOTE)
    response = client.post(
        url("incident_note_edit", incident.pk, note.pk), {"body": "Rollback at 03:22"}
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert note.body == "Rollback at 03:22" and note.edited_at
    assert list(note.revisions.values_list("body", flat=True)) == ["Rollback at 03:20"]
    page = client.get(incident.get_absolute_url()).content.decode()
    assert ">edited<" in page
    assert "Rollback at 03:20" in page  # under "Earlier versions"


def test_someone_else_cannot_edit_or_delete_a_note(incident, responder, team):
    client_for(responder).post(url("incident_note_add", incident.pk), {"body": "Mine"})
    note = TimelineEvent.objects.get(kind=EventKind.NOTE)
    riley = member(team, Role.RESPONDER, username="riley")
    client = client_for(riley)
    assert (
        client.post(url("incident_note_edit", incident.pk, note.pk), {"body": "Ours"}).status_code
        == 403
    )
    assert client.post(url("incident_note_delete", incident.pk, note.pk)).status_code == 403
    note.refresh_from_db()
    assert note.body == "Mine" and note.deleted_at is None


def test_deleting_a_note_hides_it_and_keeps_it_in_the_audit_trail(incident, responder):
    client = client_for(responder)
    client.post(url("incident_note_add", incident.pk), {"body": "Wrong channel, sorry"})
    note = TimelineEvent.objects.get(kind=EventKind.NOTE)
    assert client.post(url("incident_note_delete", incident.pk, note.pk)).status_code == 302
    note.refresh_from_db()
    assert note.deleted_at and note.deleted_by == responder
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Wrong channel, sorry" not in page
    entry = AuditEntry.objects.get(action="timeline.note_delete")
    assert entry.before == {"body": "Wrong channel, sorry"}


def test_pinning_makes_a_key_event_and_the_filters_pick_it_out(incident, responder):
    client = client_for(responder)
    client.post(url("incident_note_add", incident.pk), {"body": "Found the bad deploy"})
    client.post(url("incident_note_add", incident.pk), {"body": "Coffee"})
    note = TimelineEvent.objects.get(body="Found the bad deploy")
    client.post(url("incident_event_pin", incident.pk, note.pk), {"pinned": "1"})
    note.refresh_from_db()
    assert note.pinned
    key = client.get(incident.get_absolute_url() + "?filter=key").content.decode()
    assert "Found the bad deploy" in key and "Coffee" not in key
    assert "declared the incident" in key  # declaring is a key event too
    notes = client.get(incident.get_absolute_url() + "?filter=notes").content.decode()
    assert "Coffee" in notes and "declared the incident" not in notes
    auto = client.get(incident.get_absolute_url() + "?filter=automatic").content.decode()
    assert "Coffee" not in auto and "declared the incident" in auto


def test_the_timeline_filter_over_htmx_renders_only_the_timeline(incident, responder):
    response = client_for(responder).get(
        incident.get_absolute_url() + "?filter=notes", HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="timeline"')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_the_timeline_exports_as_the_postmortem_markdown_table(incident, responder):
    client = client_for(responder)
    # At noon of the incident's day, so 03:14 falls on that day too (shown as a time only).
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    at = noon.replace(hour=3, minute=14)
    with time_machine.travel(noon, tick=True):
        services.timeline_note_add(
            incident=incident,
            body="On-call (Alex) acknowledges | alert",
            author=responder,
            occurred_at=at,
        )
        response = client.get(url("incident_timeline_md", incident.pk))
    assert response["Content-Type"].startswith("text/markdown")
    lines = response.content.decode().splitlines()
    assert lines[:2] == ["| Time | Event |", "|------|-------|"]
    assert "| 03:14 | On-call (Alex) acknowledges \\| alert |" in lines


def test_a_long_timeline_shows_the_latest_two_hundred_and_loads_older_on_demand(
    incident, responder
):
    start = timezone.now() - timedelta(hours=5)
    TimelineEvent.objects.bulk_create(
        TimelineEvent(
            incident=incident,
            kind=EventKind.NOTE,
            body=f"note {i}",
            body_html=f"<p>note {i}</p>",
            occurred_at=start + timedelta(seconds=i),
            author=responder,
            seq=1000 + i,
        )
        for i in range(250)
    )
    client = client_for(responder)
    page = client.get(incident.get_absolute_url()).content.decode()
    # the declaration (now) and notes 249 to 51 make the latest two hundred
    assert "note 249<" in page and "note 51<" in page and "note 50<" not in page
    assert "Load older events" in page
    oldest = TimelineEvent.objects.get(body="note 51")
    older = client.get(
        incident.get_absolute_url() + f"?before={oldest.pk}", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "note 50<" in older and "note 0<" in older and "note 51<" not in older
    assert "Load older events" not in older


# --- checklist and status updates -----------------------------------------------------------------


def test_ticking_a_checklist_item_records_who_and_when_on_the_timeline(incident, responder):
    item = ChecklistItem.objects.get(incident=incident, text="Dashboard opened")
    response = client_for(responder).post(
        url("incident_checklist_tick", incident.pk, item.pk), {"done": "1"}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.done_by == responder and item.done_at
    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.CHECKLIST)
    assert '"Dashboard opened"' in event.body and "Detection" in event.body


def test_the_checklist_has_the_seed_phases_and_items(incident):
    phases = {}
    for item in ChecklistItem.objects.filter(incident=incident).order_by("position"):
        phases.setdefault(item.get_phase_display(), []).append(item.text)
    assert list(phases) == ["Detection", "Mitigation", "Communication", "Resolution", "Follow-up"]
    assert phases["Mitigation"] == [
        "Obvious fix attempted (rollback, scale, etc.)",
        "Mitigation confirmed working",
        "OR escalation triggered",
    ]
    assert phases["Follow-up"][-1] == "Lessons shared with team"


def test_a_phase_past_its_target_with_open_items_is_shown_late(incident, responder, time_machine):
    client = client_for(responder)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Late" not in page
    time_machine.move_to(timezone.now() + timedelta(minutes=6), tick=False)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert page.count(">Late<") == 1  # detection (0-5 min) is late, mitigation not yet
    time_machine.move_to(timezone.now() + timedelta(minutes=10), tick=False)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert page.count(">Late<") == 2


def test_the_next_status_update_follows_the_severity_cadence(incident, responder, time_machine):
    client = client_for(responder)
    page = client.get(incident.get_absolute_url()).content.decode()
    due = timezone.localtime(incident.declared_at + timedelta(minutes=30))
    assert "an update every 30 minutes" in page
    assert f'data-countdown="{due.astimezone(UTC):%Y-%m-%dT%H:%M:%S}' in page
    response = client.post(url("incident_status_update", incident.pk), {"body": "Rolling back."})
    assert response.status_code == 302
    assert TimelineEvent.objects.filter(incident=incident, kind=EventKind.COMMS).count() == 1
    client.post(url("incident_severity", incident.pk), {"severity": "SEV1"})
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "an update every 15 minutes" in page


# --- permissions ---------------------------------------------------------------------------------


def test_a_viewer_reads_the_incident_but_every_post_is_forbidden(incident, team):
    viewer = member(team, Role.VIEWER, username="casey")
    client = client_for(viewer)
    page = client.get(incident.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Acknowledge" not in html and 'id="note-body"' not in html
    item = ChecklistItem.objects.filter(incident=incident).first()
    note = services.timeline_note_add(incident=incident, body="hi", author=incident.declared_by)
    before = kinds(incident)
    for path, data in [
        (url("incident_status", incident.pk), {"status": "acknowledged"}),
        (url("incident_severity", incident.pk), {"severity": "SEV1"}),
        (url("incident_role", incident.pk), {"role": "commander", "person": "casey"}),
        (url("incident_note_add", incident.pk), {"body": "viewer note"}),
        (url("incident_status_update", incident.pk), {"body": "update"}),
        (url("incident_checklist_tick", incident.pk, item.pk), {"done": "1"}),
        (url("incident_event_pin", incident.pk, note.pk), {"pinned": "1"}),
        (url("incident_note_delete", incident.pk, note.pk), {}),
    ]:
        assert client.post(path, data).status_code == 403, path
    assert kinds(incident) == before
    incident.refresh_from_db()
    assert incident.status == Status.TRIGGERED


def test_a_private_incident_is_invisible_to_another_team(team, responder):
    private = services.incident_declare(
        title="Secret",
        severity=Severity.objects.get(name="SEV3"),
        team=team,
        by=responder,
        is_private=True,
    )
    outsider = member(TeamFactory(slug="payments"), Role.ADMIN, username="pat")
    client = client_for(outsider)
    for path in [
        private.get_absolute_url(),
        url("incident_timeline_md", private.pk),
        url("incident_event_stream", private.pk),
    ]:
        assert client.get(path).status_code == 404, path
    assert client.post(url("incident_note_add", private.pk), {"body": "x"}).status_code == 404
    assert "Secret" not in client.get(url("incident_list")).content.decode()
    assert "Secret" in client_for(responder).get(url("incident_list")).content.decode()


def test_a_vigil_admin_sees_and_changes_any_incident(team, responder):
    private = services.incident_declare(
        title="Secret",
        severity=Severity.objects.get(name="SEV3"),
        team=team,
        by=responder,
        is_private=True,
    )
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = client_for(admin)
    assert client.get(private.get_absolute_url()).status_code == 200
    response = client.post(url("incident_status", private.pk), {"status": "acknowledged"})
    assert response.status_code == 302
    response = client.post(
        url("incident_declare"), {"title": "Admin made", "severity": "SEV4", "team": "platform"}
    )
    assert response.status_code == 302


def test_a_responder_of_another_team_reads_a_public_incident_but_cannot_change_it(incident):
    outsider = member(TeamFactory(slug="payments"), Role.RESPONDER, username="pat")
    client = client_for(outsider)
    assert client.get(incident.get_absolute_url()).status_code == 200
    assert client.post(url("incident_note_add", incident.pk), {"body": "x"}).status_code == 403


def test_a_post_without_a_csrf_token_is_refused(incident, responder):
    client = Client(enforce_csrf_checks=True)
    assert client.login(username="alex", password=PASSWORD)
    before = kinds(incident)
    for path, data in [
        (url("incident_note_add", incident.pk), {"body": "no token"}),
        (url("incident_status", incident.pk), {"status": "acknowledged"}),
        (url("incident_declare"), {"title": "x", "severity": "SEV1", "team": "platform"}),
    ]:
        assert client.post(path, data).status_code == 403
        assert client.post(path, data, HTTP_HX_REQUEST="true").status_code == 403
    assert kinds(incident) == before
    assert Incident.objects.count() == 1


def test_every_htmx_form_on_the_page_is_covered_by_the_csrf_header(incident, responder):
    html = client_for(responder).get(incident.get_absolute_url()).content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": ' in html
    # every HTMX form also carries the token for use without JavaScript (+1: the log-out form)
    assert html.count("hx-post=") + 1 == html.count('name="csrfmiddlewaretoken"')


def test_anonymous_people_are_sent_to_log_in(incident):
    response = Client().get(incident.get_absolute_url())
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_dashboard_offers_declaring_to_responders_only(team, responder):
    assert "Declare incident" in client_for(responder).get("/").content.decode()
    viewer = member(team, Role.VIEWER, username="casey")
    assert "Declare incident" not in client_for(viewer).get("/").content.decode()


def test_a_responder_records_the_impact_and_it_is_audited(incident, responder):
    client = client_for(responder)
    started = timezone.localtime(incident.started_at - timedelta(minutes=7))
    response = client.post(
        url("incident_impact", incident.pk),
        {
            "summary": "Logins failing for mobile users",
            "started_at": started.strftime("%Y-%m-%dT%H:%M"),
            "users_affected": "12000",
            "failed_requests": "45000",
            "revenue_impact": "1250.50",
            "sla_breach": "on",
            "affected_services": "auth-api, web ,",
            "status_page_url": "https://status.example.com/incidents/1",
        },
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.users_affected == 12000 and incident.sla_breach
    assert incident.affected_services == ["auth-api", "web"]
    assert str(incident.revenue_impact) == "1250.50"
    assert incident.started_at.strftime("%H:%M") == started.astimezone(UTC).strftime("%H:%M")
    entry = AuditEntry.objects.get(action="incident.impact")
    assert entry.after["users_affected"] == 12000
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Logins failing for mobile users" in page and "auth-api, web" in page


def test_impact_cannot_start_in_the_future_or_be_negative(incident, responder):
    client = client_for(responder)
    future = timezone.localtime(timezone.now() + timedelta(hours=1))
    for data in [
        {"started_at": future.strftime("%Y-%m-%dT%H:%M")},
        {"started_at": "0001-01-01T00:00"},
        {
            "started_at": timezone.localtime(incident.started_at).strftime("%Y-%m-%dT%H:%M"),
            "users_affected": "-5",
        },
        {  # past what the columns hold: a clear error, not a database failure
            "started_at": timezone.localtime(incident.started_at).strftime("%Y-%m-%dT%H:%M"),
            "users_affected": "3000000000",
        },
        {
            "started_at": timezone.localtime(incident.started_at).strftime("%Y-%m-%dT%H:%M"),
            "failed_requests": "99999999999999999999",
        },
    ]:
        response = client.post(url("incident_impact", incident.pk), data)
        assert response.status_code == 400, data
    assert not AuditEntry.objects.filter(action="incident.impact").exists()
    assert client.get(reverse("incident_list")).status_code == 200


def test_a_viewer_cannot_record_impact(incident, team):
    viewer = member(team, Role.VIEWER, username="casey")
    response = client_for(viewer).post(url("incident_impact", incident.pk), {"summary": "x"})
    assert response.status_code == 403


def test_the_header_says_when_it_was_declared_and_keeps_the_impact_start_as_its_own_fact(
    team, responder
):
    # An alert whose startsAt is five days old, declared a few minutes ago.
    started = timezone.now() - timedelta(days=5, minutes=7)
    incident = services.incident_declare(
        title="Disk filling",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=responder,
        started_at=started,
    )
    Incident.objects.filter(pk=incident.pk).update(
        declared_at=timezone.now() - timedelta(minutes=7)
    )
    html = client_for(responder).get(incident.get_absolute_url()).content.decode()
    header = html[html.index('id="incident-header"') : html.index("</section>")]
    assert "declared" in header
    assert re.search(r">7 min( \d+ s)? ago</time>", header)
    assert "5 d" not in header
    local = timezone.localtime(started)
    assert f'impact since <time datetime="{started.astimezone(UTC).isoformat()}' in header
    assert local.strftime("%a %-d %b %H:%M") in header


def test_the_ago_wording_matches_the_page_clock():
    from incidents.templatetags.clocks import ago

    now = timezone.now()
    assert ago(now - timedelta(milliseconds=400), now) == "just now"
    assert ago(now + timedelta(seconds=3), now) == "just now"  # a clock a little ahead
    assert ago(now - timedelta(seconds=20), now) == "20 s ago"
    assert ago(now - timedelta(minutes=12), now) == "12 min ago"
    assert ago(now - timedelta(hours=3, minutes=5), now) == "3 h 5 min ago"
    assert ago(now - timedelta(days=5, hours=3), now) == "5 d 3 h ago"
