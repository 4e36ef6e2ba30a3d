"""Postmortems: generated from the incident in the seed's template, reviewed by managers,
blameless, with action items that are tracked to done."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import demo as accounts_demo
from incidents import demo as incidents_demo
from incidents.models import EventKind, Severity, Status
from incidents.services import (
    incident_change_status,
    incident_declare,
    timeline_event_add,
    timeline_note_add,
    timeline_note_delete,
)
from oncall import demo as oncall_demo
from postmortems import blameless, demo, document, selectors, services
from postmortems.models import (
    ActionItem,
    ActionItemStatus,
    Approval,
    DigestSent,
    Postmortem,
    PostmortemStatus,
    Section,
    SectionKey,
)
from postmortems.tasks import send_overdue_digests
from teams.models import Role
from tests.factories import IncidentFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db

SEED_SECTIONS = [
    "# Incident Postmortem: 2024-01-15 - ",
    "## Meta",
    "## Impact",
    "## Timeline (all times UTC)",
    "## Root Cause",
    "## What Went Well",
    "## What Went Wrong",
    "## Action Items",
    "## Lessons Learned",
    "\n---\n",
    "**Postmortem prepared by**:",
    "**Reviewed by**:",
    "\n**Date**:",
]
SEED_ACTION_ROWS = [
    "| Add integration test for expired tokens | Jordan | 2024-01-17 | P0 |",
    "| Extend canary period to 30 minutes | Sam | 2024-01-16 | P0 |",
    "| Add canary-specific alerts | Alex | 2024-01-18 | P1 |",
    "| Review all auth edge cases | Sam | 2024-01-22 | P1 |",
    "| Update runbook with auth debugging | Alex | 2024-01-19 | P2 |",
]


@pytest.fixture
def demo_data():
    users = accounts_demo.seed()
    team = oncall_demo.seed(users=users)
    incidents_demo.seed(team=team, users=users)
    return team, users


def resolved_incident(team, by, *, level=2, **kwargs):
    incident = incident_declare(
        title=kwargs.pop("title", "Checkout errors after deploy"),
        severity=Severity.objects.get(level=level),
        team=team,
        by=by,
        started_at=kwargs.pop("started_at", None),
        **kwargs,
    )
    incident_change_status(incident=incident, status=Status.RESOLVED, by=by)
    incident.refresh_from_db()
    return incident


def draft_for(team, by):
    incident = resolved_incident(team, by)
    return incident.postmortems.get()


def export(postmortem):
    postmortem.refresh_from_db()
    return document.export_markdown(
        postmortem,
        sections=postmortem.sections.all(),
        action_items=ActionItem.objects.filter(incident=postmortem.incident)
        .select_related("owner")
        .order_by("created_at", "id"),
    )


# --- the demo incident's document --------------------------------------------------------


def test_the_markdown_for_the_demo_incident_has_the_seed_templates_sections_in_order(demo_data):
    team, users = demo_data
    postmortem = demo.seed(team=team, users=users)
    text = export(postmortem)
    positions = [text.index(marker) for marker in SEED_SECTIONS]
    assert positions == sorted(positions)
    assert text.startswith(
        "# Incident Postmortem: 2024-01-15 - Authentication failures after v1.5.2 deployment\n"
    )
    assert "- **Date**: 2024-01-15" in text
    assert "- **Duration**: 39 min (03:10 - 03:49 UTC)" in text
    assert "- **Severity**: SEV2" in text
    assert "- **Status Page**: https://status.company.com/incidents/2024-01-15" in text
    assert "- **Users affected**: ~3,000 users" in text
    assert "- **Failed requests**: 4,500" in text
    assert "- **Revenue impact**: ~$2,000" in text
    assert "- **SLA breach**: Yes" in text
    assert "**What happened**: Deployment v1.5.2" in text
    assert "**Postmortem prepared by**: Alex Rivera" in text
    assert "**Reviewed by**: Sam Okafor" in text
    assert "**Date**: 2024-01-16" in text


def test_the_demo_markdown_has_the_incidents_timeline_rows_and_the_seeds_action_items(demo_data):
    team, users = demo_data
    text = export(demo.seed(team=team, users=users))
    timeline = text.split("## Timeline (all times UTC)")[1].split("## Root Cause")[0].strip()
    assert timeline == incidents_demo_timeline_table()
    items = text.split("## Action Items")[1].split("## Lessons Learned")[0].strip().splitlines()
    assert items[:2] == [
        "| Action | Owner | Due Date | Priority |",
        "|--------|-------|----------|----------|",
    ]
    assert items[2:] == SEED_ACTION_ROWS  # in the seed's order, as they were written


def incidents_demo_timeline_table():
    rows = ["| Time | Event |", "|------|-------|"]
    for hhmm, _kind, text, *_ in incidents_demo.TIMELINE:
        rows.append(f"| {hhmm} | {text} |")
    return "\n".join(rows)


def test_seeding_the_demo_postmortem_twice_changes_nothing(demo_data):
    team, users = demo_data
    first = demo.seed(team=team, users=users)
    events = first.incident.events.count()
    again = demo.seed(team=team, users=users)
    assert again.pk == first.pk
    assert Postmortem.objects.count() == 1
    assert ActionItem.objects.count() == 5
    assert first.incident.events.count() == events
    assert again.status == PostmortemStatus.PUBLISHED
    assert list(again.approvals.values_list("approver__username", flat=True)) == ["sam"]


def test_the_demo_is_skipped_cleanly_without_its_incident():
    users = accounts_demo.seed()
    team = oncall_demo.seed(users=users)
    assert demo.seed(team=team, users=users) is None
    assert not Postmortem.objects.exists()


def test_a_soft_deleted_note_stays_out_of_the_generated_timeline(demo_data):
    team, users = demo_data
    incident = incident_declare(
        title="Queue backlog", severity=Severity.objects.get(level=3), team=team, by=users["alex"]
    )
    kept = timeline_note_add(incident=incident, body="Queue drained by hand", author=users["alex"])
    gone = timeline_note_add(incident=incident, body="Wrong host, ignore", author=users["alex"])
    timeline_note_delete(event=gone, by=users["alex"])
    incident_change_status(incident=incident, status=Status.RESOLVED, by=users["alex"])
    postmortem, created = services.postmortem_generate(
        incident=incident, by=users["alex"], timeline_source="all"
    )
    assert created
    timeline = postmortem.sections.get(key=SectionKey.TIMELINE).body
    assert kept.body in timeline
    assert "Wrong host" not in timeline
    pinned_only, _ = services.postmortem_generate(incident=incident, by=users["alex"])
    assert pinned_only.pk == postmortem.pk


# --- automatic drafts ----------------------------------------------------------------------


def test_resolving_a_sev2_drafts_a_postmortem_due_48_hours_later():
    team = TeamFactory()
    alex = member(team, first_name="Alex")
    incident = resolved_incident(team, alex, level=2)
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.status == PostmortemStatus.DRAFT
    assert postmortem.due_at == incident.resolved_at + dt.timedelta(hours=48)
    assert [s.key for s in postmortem.sections.all()] == list(SectionKey.values)
    meta = postmortem.sections.get(key=SectionKey.META).body
    assert "- **Severity**: SEV2" in meta
    assert incident.events.filter(kind=EventKind.POSTMORTEM).count() == 1
    assert incident.checklist.get(text="Postmortem scheduled").done_by_vigil
    again, created = services.postmortem_generate(incident=incident, by=alex)
    assert (again.pk, created) == (postmortem.pk, False)


def test_resolving_a_sev3_does_not_draft_one():
    team = TeamFactory()
    alex = member(team)
    incident = resolved_incident(team, alex, level=3)
    assert not Postmortem.objects.filter(incident=incident).exists()


def test_an_open_incident_cannot_get_a_postmortem():
    team = TeamFactory()
    alex = member(team)
    incident = IncidentFactory(team=team)
    with pytest.raises(services.PostmortemError, match="resolved"):
        services.postmortem_generate(incident=incident, by=alex)


def test_the_generate_button_makes_the_draft_and_opens_it(client):
    team = TeamFactory()
    alex = member(team)
    incident = resolved_incident(team, alex, level=3)
    client.force_login(alex)
    response = client.post(reverse("postmortem_generate", args=[incident.pk]))
    postmortem = Postmortem.objects.get(incident=incident)
    assert response.status_code == 302
    assert response.url == postmortem.get_absolute_url()
    page = client.get(response.url)
    assert page.status_code == 200
    assert "Incident Postmortem:" in page.content.decode()


def test_the_duration_reads_in_vigils_units_with_the_seeds_span():
    start = dt.datetime(2024, 1, 15, 3, 12, tzinfo=dt.UTC)
    end = dt.datetime(2024, 1, 15, 3, 49, tzinfo=dt.UTC)
    assert document.format_duration(start, end) == "37 min (03:12 - 03:49 UTC)"
    later = dt.datetime(2024, 1, 16, 1, 13, tzinfo=dt.UTC)
    assert document.format_duration(end, later) == (
        "21 h 24 min (2024-01-15 03:49 - 2024-01-16 01:13 UTC)"
    )


def test_meta_lists_responders_with_their_roles():
    team = TeamFactory()
    alex = member(team, first_name="Alex", last_name="Rivera")
    jordan = member(team, first_name="Jordan", last_name="Lee")
    incident = IncidentFactory(team=team, commander=alex, scribe=jordan)
    incident.responders.add(alex, jordan)
    assert document.responders_line(incident) == "Alex Rivera (commander), Jordan Lee (scribe)"


# --- blameless check -----------------------------------------------------------------------


def test_the_blameless_check_flags_the_seeds_bad_example_and_not_its_good_one():
    UserFactory(username="arivera", first_name="Alex", last_name="Rivera")
    findings = blameless.check("Alex deployed broken code and caused an outage.")
    assert [(f.name, f.word) for f in findings] == [("Alex", "caused")]
    assert blameless.check("Our testing process didn't catch this edge case.") == []


def test_the_blameless_check_knows_full_names_and_usernames():
    UserFactory(username="jlee", first_name="Jordan", last_name="Lee")
    assert blameless.check("It was Jordan Lee's fault.")[0].name == "Jordan Lee"
    assert blameless.check("jlee forgot to renew the certificate.")[0].word == "forgot"
    assert blameless.check("The deploy broke the login page.") == []


def test_findings_are_shown_inline_but_the_save_goes_through(client):
    team = TeamFactory()
    alex = member(team, first_name="Alex")
    postmortem = draft_for(team, alex)
    section = postmortem.sections.get(key=SectionKey.WENT_WRONG)
    client.force_login(alex)
    response = client.post(
        reverse("postmortem_section_save", args=[postmortem.pk, section.key]),
        {"body": "Alex should have checked the canary.", "version": section.version},
    )
    assert response.status_code == 302
    page = client.get(postmortem.get_absolute_url()).content.decode()
    assert "Blameless check" in page
    assert "Our testing process didn" in page
    preview = client.post(
        reverse("postmortem_section_preview", args=[postmortem.pk, section.key]),
        {"body": "Alex forgot the **flag**."},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<strong>flag</strong>" in preview
    assert "forgot" in preview


# --- editing, conflicts, published documents --------------------------------------------------


def test_a_save_based_on_an_old_version_is_refused_and_shows_both_versions(client):
    team = TeamFactory()
    alex, jordan = member(team), member(team)
    postmortem = draft_for(team, alex)
    section = postmortem.sections.get(key=SectionKey.ROOT_CAUSE)
    base = section.version
    services.section_save(section=section, body="Alex's analysis", base_version=base, by=alex)
    client.force_login(jordan)
    response = client.post(
        reverse("postmortem_section_save", args=[postmortem.pk, section.key]),
        {"body": "Jordan's analysis", "version": base},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert "Alex&#x27;s analysis" in html and "Jordan&#x27;s analysis" in html
    assert Section.objects.get(pk=section.pk).body == "Alex's analysis"


def test_a_published_postmortem_refuses_edits_and_opens_a_revision(client):
    team = TeamFactory()
    alex = member(team)
    sam = member(team, role=Role.MANAGER)
    postmortem = draft_for(team, alex)
    services.postmortem_submit_for_review(postmortem=postmortem, by=alex)
    services.postmortem_approve(postmortem=postmortem, by=sam)
    services.postmortem_publish(postmortem=postmortem, by=sam)
    section = postmortem.sections.get(key=SectionKey.LESSONS)
    before = section.body
    client.force_login(alex)
    response = client.post(
        reverse("postmortem_section_save", args=[postmortem.pk, section.key]),
        {"body": "Rewritten history", "version": section.version},
    )
    assert response.status_code == 409
    assert "published and can no longer be edited" in response.content.decode()
    assert Section.objects.get(pk=section.pk).body == before
    response = client.post(reverse("postmortem_open_revision", args=[postmortem.pk]))
    revision = Postmortem.objects.get(previous=postmortem)
    assert response.url == revision.get_absolute_url()
    assert (revision.revision, revision.status) == (2, PostmortemStatus.DRAFT)
    assert revision.sections.get(key=SectionKey.LESSONS).body == before
    postmortem.refresh_from_db()
    assert postmortem.status == PostmortemStatus.PUBLISHED
    assert list(selectors.postmortem_library(user=alex)) == [postmortem]
    services.postmortem_submit_for_review(postmortem=revision, by=alex)
    services.postmortem_approve(postmortem=revision, by=sam)
    services.postmortem_publish(postmortem=revision, by=sam)
    assert list(selectors.postmortem_library(user=alex)) == [revision]


# --- review workflow -------------------------------------------------------------------------


def test_review_goes_to_the_teams_managers_and_an_approval_fills_reviewed_by(client):
    team = TeamFactory()
    alex = member(team)
    sam = member(team, role=Role.MANAGER, first_name="Sam", last_name="Okafor")
    postmortem = draft_for(team, alex)
    services.postmortem_submit_for_review(postmortem=postmortem, by=alex)
    assert list(postmortem.reviewers.all()) == [sam]
    queue = selectors.review_queue(user=sam)
    assert list(queue["waiting"]) == [postmortem]
    client.force_login(sam)
    client.post(reverse("postmortem_approve", args=[postmortem.pk]))
    approval = Approval.objects.get(postmortem=postmortem)
    assert approval.approver == sam and approval.approved_at
    assert "**Reviewed by**: Sam Okafor" in export(postmortem)
    assert list(selectors.review_queue(user=sam)["waiting"]) == []
    client.post(reverse("postmortem_publish", args=[postmortem.pk]))
    assert list(selectors.review_queue(user=sam)["published"]) == [postmortem]
    assert list(selectors.postmortem_library(user=alex, query="checkout deploy")) == [postmortem]
    assert list(selectors.postmortem_library(user=alex, query="kafka")) == []


def test_a_non_manager_cannot_approve_and_nothing_changes(client):
    team = TeamFactory()
    alex, jordan = member(team), member(team)
    member(team, role=Role.MANAGER)
    postmortem = draft_for(team, alex)
    services.postmortem_submit_for_review(postmortem=postmortem, by=alex)
    client.force_login(jordan)
    response = client.post(reverse("postmortem_approve", args=[postmortem.pk]))
    assert response.status_code == 403
    assert "Only a manager of" in response.content.decode()
    postmortem.refresh_from_db()
    assert postmortem.status == PostmortemStatus.IN_REVIEW
    assert not Approval.objects.exists()


def test_reviewers_comment_on_a_section_and_resolve_the_thread(client):
    team = TeamFactory()
    alex = member(team)
    sam = member(team, role=Role.MANAGER)
    postmortem = draft_for(team, alex)
    client.force_login(sam)
    client.post(
        reverse("postmortem_thread_start", args=[postmortem.pk]),
        {"section": SectionKey.ROOT_CAUSE, "body": "Why did the canary not catch it?"},
    )
    thread = postmortem.threads.get()
    client.force_login(alex)
    client.post(reverse("postmortem_thread_reply", args=[thread.pk]), {"body": "Too short."})
    client.post(reverse("postmortem_thread_resolve", args=[thread.pk]))
    thread.refresh_from_db()
    assert thread.resolved_by == alex
    assert list(thread.comments.values_list("body", flat=True)) == [
        "Why did the canary not catch it?",
        "Too short.",
    ]


def test_requesting_changes_sends_it_back_to_the_author():
    team = TeamFactory()
    alex = member(team)
    sam = member(team, role=Role.MANAGER)
    postmortem = draft_for(team, alex)
    services.postmortem_submit_for_review(postmortem=postmortem, by=alex)
    services.postmortem_request_changes(postmortem=postmortem, by=sam, note="Add the impact.")
    postmortem.refresh_from_db()
    assert postmortem.status == PostmortemStatus.CHANGES_REQUESTED
    assert postmortem.is_editable


# --- permissions -----------------------------------------------------------------------------


def test_a_private_incidents_postmortem_is_invisible_to_other_teams(client):
    team, other = TeamFactory(), TeamFactory()
    alex = member(team)
    outsider = member(other)
    incident = resolved_incident(team, alex, is_private=True)
    postmortem = incident.postmortems.get()
    client.force_login(outsider)
    assert client.get(postmortem.get_absolute_url()).status_code == 404
    assert client.get(reverse("postmortem_export", args=[postmortem.pk])).status_code == 404
    assert list(selectors.postmortems_in_progress(user=outsider)) == []


def test_a_viewer_reads_but_cannot_edit(client):
    team = TeamFactory()
    alex = member(team)
    casey = member(team, role=Role.VIEWER)
    postmortem = draft_for(team, alex)
    section = postmortem.sections.get(key=SectionKey.LESSONS)
    client.force_login(casey)
    assert client.get(postmortem.get_absolute_url()).status_code == 200
    response = client.post(
        reverse("postmortem_section_save", args=[postmortem.pk, section.key]),
        {"body": "x", "version": section.version},
    )
    assert response.status_code == 403
    assert Section.objects.get(pk=section.pk).version == section.version


# --- action items --------------------------------------------------------------------------


def test_an_action_item_due_in_the_past_is_refused(client):
    team = TeamFactory()
    alex = member(team)
    postmortem = draft_for(team, alex)
    client.force_login(alex)
    response = client.post(
        reverse("postmortem_action_item_add", args=[postmortem.pk]),
        {
            "item-title": "Add tests",
            "item-owner": alex.pk,
            "item-due_date": "2020-01-01",
            "item-priority": "P0",
        },
    )
    assert response.status_code == 400
    assert "is in the past" in response.content.decode()
    assert not ActionItem.objects.exists()


def test_an_owner_outside_the_team_is_refused(client):
    team = TeamFactory()
    alex = member(team)
    stranger = member(TeamFactory(), first_name="Quinn", last_name="Stranger")
    postmortem = draft_for(team, alex)
    client.force_login(alex)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    response = client.post(
        reverse("postmortem_action_item_add", args=[postmortem.pk]),
        {
            "item-title": "Add tests",
            "item-owner": stranger.pk,
            "item-due_date": tomorrow.isoformat(),
            "item-priority": "P1",
        },
    )
    assert response.status_code == 400
    assert "Quinn Stranger is not in" in response.content.decode()
    assert not ActionItem.objects.exists()


def test_an_action_item_is_added_and_its_status_changes_inline(client):
    team = TeamFactory()
    alex = member(team)
    postmortem = draft_for(team, alex)
    client.force_login(alex)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    client.post(
        reverse("postmortem_action_item_add", args=[postmortem.pk]),
        {
            "item-title": "Add canary alerts",
            "item-owner": alex.pk,
            "item-due_date": tomorrow.isoformat(),
            "item-priority": "P1",
            "item-tracker_url": "https://tracker.example/VIG-1",
        },
    )
    item = ActionItem.objects.get()
    assert (item.postmortem, item.incident, item.team) == (postmortem, postmortem.incident, team)
    assert postmortem.incident.checklist.get(text="Action items created").done_by_vigil
    url = reverse("action_item_status", args=[item.pk])
    response = client.post(url, {"status": "in_progress"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="item-{item.pk}"' in response.content.decode()
    response = client.post(url, {"status": "done", "next": "https://evil.example/"})
    assert response.status_code == 302 and response.url == reverse("action_item_list")
    item.refresh_from_db()
    assert item.status == ActionItemStatus.DONE and item.completed_at
    assert selectors.completion_by_team(user=alex)[0]["rate"] == 100
    assert client.post(url, {"status": "nonsense"}).status_code == 400


def make_items(team, owner, count, *, due=None):
    incident = IncidentFactory(team=team, status=Status.RESOLVED)
    for i in range(count):
        ActionItem.objects.create(
            incident=incident,
            team=team,
            title=f"Item {i}",
            owner=owner,
            due_date=due or dt.date.today() + dt.timedelta(days=i),
            priority=["P0", "P1", "P2"][i % 3],
        )


def test_the_action_item_list_runs_the_same_queries_for_3_and_30_items(
    client, django_assert_num_queries
):
    team = TeamFactory(slug="platform-q")
    alex = member(team)
    client.force_login(alex)
    url = reverse("action_item_list") + "?priority=&team=&status="
    make_items(team, alex, 3)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    make_items(team, member(team), 27)
    with django_assert_num_queries(len(few)):
        response = client.get(url)
    assert response.content.decode().count('<tr id="item-') == 30


def test_the_action_item_list_filters_mine_overdue_priority_and_team():
    team, other = TeamFactory(), TeamFactory()
    alex, jordan = member(team), member(team)
    make_items(team, alex, 3)
    make_items(team, jordan, 3, due=dt.date.today() - dt.timedelta(days=2))
    assert selectors.action_item_list(user=alex, mine=True).count() == 3
    assert selectors.action_item_list(user=alex, overdue=True).count() == 3
    assert selectors.action_item_list(user=alex, priority="P0").count() == 2
    assert selectors.action_item_list(user=alex, team=team.slug).count() == 6
    assert selectors.action_item_list(user=alex, team=other.slug).count() == 0


# --- daily digest --------------------------------------------------------------------------


def test_overdue_items_produce_exactly_one_digest_per_person_per_day(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    team = TeamFactory()
    alex = member(team, username="alex-d")
    sam = member(team, role=Role.MANAGER, username="sam-d")
    with time_machine.travel(dt.datetime(2026, 3, 1, 7, 0, tzinfo=dt.UTC), tick=False):
        incident = IncidentFactory(team=team, status=Status.RESOLVED)
        for title, priority, due in [
            ("Add expired-token test", "P0", dt.date(2026, 3, 2)),
            ("Canary alerts", "P1", dt.date(2026, 3, 2)),
            ("Done already", "P0", dt.date(2026, 3, 2)),
        ]:
            services.action_item_create(
                incident=incident,
                title=title,
                owner=alex,
                due_date=due,
                priority=priority,
                by=alex,
            )
        ActionItem.objects.filter(title="Done already").update(status=ActionItemStatus.DONE)
        assert send_overdue_digests() == 0  # nothing overdue yet
    with time_machine.travel(dt.datetime(2026, 3, 3, 7, 0, tzinfo=dt.UTC), tick=False):
        assert send_overdue_digests() == 2
        assert send_overdue_digests() == 0  # the beat ran twice: still one each
    assert sorted(m.to[0] for m in mail.outbox) == [alex.email, sam.email]
    to_alex = next(m for m in mail.outbox if m.to == [alex.email])
    assert "Add expired-token test" in to_alex.body and "Canary alerts" in to_alex.body
    assert "Done already" not in to_alex.body
    to_sam = next(m for m in mail.outbox if m.to == [sam.email])
    assert "Add expired-token test" in to_sam.body and "Canary alerts" not in to_sam.body
    with time_machine.travel(dt.datetime(2026, 3, 4, 7, 0, tzinfo=dt.UTC), tick=False):
        assert send_overdue_digests() == 2
    assert len(mail.outbox) == 4
    assert DigestSent.objects.count() == 4


# --- library, similar incidents, export -----------------------------------------------------


def test_the_incident_panel_links_similar_incidents_by_service_or_alert_name(demo_data):
    team, users = demo_data
    alex = users["alex"]
    seed_incident = demo.find_incident(team)
    by_service = resolved_incident(
        team, alex, level=3, title="Auth slow", affected_services=["authentication"]
    )
    by_alert = resolved_incident(team, alex, level=3, title="Errors again")
    timeline_event_add(
        incident=by_alert,
        kind=EventKind.ALERT,
        body="Alert fires",
        data={"alertname": "High error rate"},
    )
    resolved_incident(team, alex, level=3, title="Unrelated")
    context = selectors.incident_panel_context(incident=seed_incident, user=alex)
    assert {i.pk for i in context["similar"]} == {by_service.pk, by_alert.pk}
    assert context["can_generate"] and context["postmortem"] is None


def test_the_export_downloads_markdown_and_the_print_page_renders(client, demo_data):
    team, users = demo_data
    postmortem = demo.seed(team=team, users=users)
    client.force_login(users["casey"])
    response = client.get(reverse("postmortem_export", args=[postmortem.pk]))
    assert response["Content-Type"].startswith("text/markdown")
    assert response.content.decode() == export(postmortem)
    page = client.get(reverse("postmortem_print", args=[postmortem.pk])).content.decode()
    assert "<h2>Action Items</h2>" in page
    assert re.search(r"<td>Add integration test for expired tokens</td>", page)
    library = client.get(reverse("postmortems"), {"q": "v1.5.2"}).content.decode()
    assert "Authentication failures after v1.5.2 deployment" in library


def fresh(user):
    return type(user).objects.get(pk=user.pk)


def test_the_incident_page_panel_keeps_its_query_count_with_more_similar_incidents(client):
    team = TeamFactory()
    alex = member(team)
    incident = resolved_incident(team, alex, level=3, affected_services=["auth"])
    timeline_event_add(
        incident=incident, kind=EventKind.ALERT, body="Alert", data={"alertname": "HighErrors"}
    )

    def add_similar(count):
        for i in range(count):
            other = resolved_incident(
                team, alex, level=2, title=f"Past {i}", affected_services=["auth"]
            )
            timeline_event_add(
                incident=other, kind=EventKind.ALERT, body="Alert", data={"alertname": "HighErrors"}
            )

    add_similar(2)
    with CaptureQueriesContext(connection) as few:
        context = selectors.incident_panel_context(incident=incident, user=fresh(alex))
    assert len(context["similar"]) == 2
    add_similar(10)
    with CaptureQueriesContext(connection) as many:
        context = selectors.incident_panel_context(incident=incident, user=fresh(alex))
    assert len(context["similar"]) == selectors.SIMILAR_LIMIT
    assert all(hasattr(i, "published_postmortems") for i in context["similar"])
    assert len(few) == len(many)
    client.force_login(alex)
    assert "Similar past incidents" in client.get(incident.get_absolute_url()).content.decode()


# --- JSON API ------------------------------------------------------------------------------


def test_the_api_generates_a_draft_lists_action_items_and_moves_their_status(client):
    from accounts.tokens import api_token_create

    team = TeamFactory()
    alex = member(team)
    outsider = member(TeamFactory())
    incident = resolved_incident(team, alex, level=3)
    _, raw = api_token_create(user=alex, name="test")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    url = f"/api/v1/postmortems/from-incident/{incident.pk}"
    response = client.post(url, {"timeline_source": "all"}, content_type="application/json", **auth)
    assert response.status_code == 201
    postmortem_id = response.json()["id"]
    again = client.post(url, {}, content_type="application/json", **auth)
    assert (again.status_code, again.json()["id"]) == (200, postmortem_id)
    text = client.get(f"/api/v1/postmortems/{postmortem_id}/markdown", **auth)
    assert text.content.decode().startswith("# Incident Postmortem: ")
    make_items(team, alex, 2)
    items = client.get("/api/v1/postmortems/action-items?mine=true", **auth).json()
    assert [i["owner"] for i in items] == [alex.username, alex.username]
    moved = client.post(
        f"/api/v1/postmortems/action-items/{items[0]['id']}/status",
        {"status": "done"},
        content_type="application/json",
        **auth,
    )
    assert moved.json()["status"] == "done"
    bad = client.post(
        f"/api/v1/postmortems/action-items/{items[0]['id']}/status",
        {"status": "finished"},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400
    _, other = api_token_create(user=outsider, name="test")
    refused = client.post(
        f"/api/v1/postmortems/action-items/{items[1]['id']}/status",
        {"status": "done"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other}",
    )
    assert refused.status_code == 403
    assert ActionItem.objects.get(pk=items[1]["id"]).status == ActionItemStatus.OPEN


def test_nul_characters_and_junk_never_cause_a_server_error(client):
    team = TeamFactory()
    alex = member(team)
    postmortem = draft_for(team, alex)
    section = postmortem.sections.get(key=SectionKey.LESSONS)
    client.force_login(alex)
    save = reverse("postmortem_section_save", args=[postmortem.pk, section.key])
    # A NUL is refused before any view sees it (common.middleware.RequestInputMiddleware).
    assert client.post(save, {"body": "a\x00b", "version": section.version}).status_code == 400
    assert Section.objects.get(pk=section.pk).version == section.version
    assert client.post(save, {"body": "x", "version": "abc"}).status_code == 409
    assert client.get(reverse("postmortems"), {"q": "x\x00"}).status_code == 400
    assert client.get(reverse("action_item_list"), {"team": "\x00"}).status_code == 400
    unknown = reverse("postmortem_section_save", args=[postmortem.pk, "nope"])
    assert client.post(unknown, {"body": "x", "version": 1}).status_code == 404
    refill = reverse("postmortem_timeline_refill", args=[postmortem.pk])
    assert client.post(refill, {"timeline_source": "bogus", "version": 1}).status_code == 409
    comment = reverse("postmortem_thread_start", args=[postmortem.pk])
    assert client.post(comment, {"section": "nope", "body": "hi"}).status_code == 400
    assert not postmortem.threads.exists()


def test_a_finding_quotes_the_sentence_without_its_list_bullet():
    UserFactory(username="rchen", first_name="Riley", last_name="Chen")
    text = "- ✅ Alert fired quickly\n- ❌ Riley forgot to extend the canary\n1. Riley is great"
    findings = blameless.check(text)
    assert [f.sentence for f in findings] == ["❌ Riley forgot to extend the canary"]
    versioned = blameless.check("Riley shipped v1.5.2 and broke login. Tests were added.")
    assert [f.sentence for f in versioned] == ["Riley shipped v1.5.2 and broke login."]


def test_the_postmortem_page_runs_the_same_queries_with_ten_times_the_threads_and_items(
    client, django_assert_num_queries
):
    team = TeamFactory()
    alex = member(team)
    sam = member(team, role=Role.MANAGER)
    postmortem = draft_for(team, alex)

    def grow(count):
        for i in range(count):
            thread = services.thread_start(
                postmortem=postmortem,
                section_key=SectionKey.values[i % len(SectionKey.values)],
                body=f"Question {i}",
                by=sam,
            )
            services.thread_reply(thread=thread, body="Answer", by=member(team))
        make_items(team, alex, count)
        ActionItem.objects.filter(postmortem__isnull=True).update(
            incident=postmortem.incident, postmortem=postmortem
        )

    grow(2)
    client.force_login(alex)
    url = postmortem.get_absolute_url()
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    grow(18)
    with django_assert_num_queries(len(few)):
        page = client.get(url).content.decode()
    assert page.count("Question ") == 20


def test_reviewers_are_emailed_once_per_submission(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    team = TeamFactory()
    alex = member(team)
    sam = member(team, role=Role.MANAGER)
    postmortem = draft_for(team, alex)
    with django_capture_on_commit_callbacks() as callbacks:
        services.postmortem_submit_for_review(postmortem=postmortem, by=alex)
    assert len(callbacks) == 1  # the task is enqueued after the commit
    assert services.postmortem_notify_reviewers(postmortem_id=postmortem.pk) == 1
    assert services.postmortem_notify_reviewers(postmortem_id=postmortem.pk) == 0
    assert [m.to for m in mail.outbox] == [[sam.email]]
    assert postmortem.get_absolute_url() in mail.outbox[0].body
    services.postmortem_request_changes(postmortem=postmortem, by=sam)
    services.postmortem_submit_for_review(postmortem=postmortem, by=alex)
    assert services.postmortem_notify_reviewers(postmortem_id=postmortem.pk) == 1
    assert len(mail.outbox) == 2


def test_the_library_search_answers_htmx_with_just_the_results(client, demo_data):
    team, users = demo_data
    demo.seed(team=team, users=users)
    client.force_login(users["casey"])
    response = client.get(
        reverse("postmortems"),
        {"q": "expired tokens"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="library-results",
    )
    html = response.content.decode()
    assert html.strip().startswith('<div id="library-results">')
    assert "Authentication failures after v1.5.2 deployment" in html
    assert "<h1>" not in html
    empty = client.get(reverse("postmortems"), {"q": "kafka rebalance"}).content.decode()
    assert "No published postmortem matches" in empty
