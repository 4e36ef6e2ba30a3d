"""The dashboard: the home page of the person just paged at 3 AM. Their open pages first, each
acknowledged in one tap; then what is on fire, what changed, who is on call and what waits for
them, each section showing only what the person may see, in the same number of queries
however many rows there are."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts.models import AlertGroup, GroupStatus
from alerts.services import integration_create
from changes.models import ChangeKind, ChangeSource
from changes.services import change_record
from checks.models import Check, CheckResult, CheckState
from incidents.models import EventKind, Incident, Severity, Status, TimelineEvent
from incidents.services import incident_change_status
from paging.models import Escalation, EscalationStatus, Page, StepRun
from paging.services import engine_tick
from postmortems.models import ActionItem, ActionItemStatus, Approval, Postmortem, PostmortemStatus
from teams.models import Role
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)
from tests.factories import IncidentFactory, TeamFactory, member
from vigil.views import DashboardChannel

pytestmark = pytest.mark.django_db

HEADINGS = [
    "My open pages",
    "Open incidents",
    "Firing alerts",
    "Failing checks",
    "Changes in the last 24 hours",
    "On call now",
    "Overdue action items",
    "Postmortems waiting for my review",
]


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def dashboard_html(user) -> str:
    response = client_for(user).get(reverse("dashboard"))
    assert response.status_code == 200
    return response.content.decode()


def section(html, section_id) -> str:
    """The markup of one section of the dashboard."""
    found = re.search(rf'<section id="{section_id}".*?</section>', html, re.S)
    assert found, section_id
    return found.group(0)


def page_the_primary():
    """An Alertmanager alert opens a SEV1 incident and pages the team's primary, for real."""
    team, people = oncall_team()
    integration, token = integration_for(team)
    assert post(Client(), integration, am_payload(), token=token).status_code == 202
    engine_tick()
    page = Page.objects.get()
    assert page.user == people["primary"]
    return page, team, people


# --- data in bulk, for the query counts ---------------------------------------------------------


def add_incidents(team, count, *, private_every=0, prefix="Incident"):
    sevs = list(Severity.objects.order_by("level"))
    now = timezone.now()
    open_statuses = [Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED]
    return Incident.objects.bulk_create(
        Incident(
            title=f"{prefix} {i}",
            severity=sevs[i % 4],
            team=team,
            status=open_statuses[i % 3],
            started_at=now - dt.timedelta(minutes=i),
            declared_at=now - dt.timedelta(minutes=i),
            is_private=bool(private_every) and i % private_every == 0,
        )
        for i in range(count)
    )


def add_pages(user, incidents):
    now = timezone.now()
    escalations = Escalation.objects.bulk_create(
        Escalation(incident=incident, team_id=incident.team_id) for incident in incidents
    )
    runs = StepRun.objects.bulk_create(
        StepRun(escalation=e, number=1, position=0, scheduled_at=now, executed_at=now, lateness=0)
        for e in escalations
    )
    Page.objects.bulk_create(
        Page(escalation=e, incident_id=e.incident_id, step_run=run, user=user)
        for e, run in zip(escalations, runs, strict=True)
    )


def add_alert_groups(integration, count, *, start=0):
    AlertGroup.objects.bulk_create(
        AlertGroup(
            integration=integration,
            team_id=integration.team_id,
            group_key=f"key-{start + i}",
            status=GroupStatus.FIRING,
            title=f"Alert {start + i}",
            severity="critical" if i % 2 else "warning",
        )
        for i in range(count)
    )


def add_failing_checks(team, count, *, start=0):
    checks = Check.objects.bulk_create(
        Check(
            team=team,
            name=f"check {start + i}",
            kind="http",
            target="http://127.0.0.1:9/",
            state=CheckState.DOWN,
            consecutive_failures=3 + i,
        )
        for i in range(count)
    )
    CheckResult.objects.bulk_create(
        CheckResult(dependency_check=c, ok=False, detail="Connection refused") for c in checks
    )


def add_changes(team, count, *, start=0):
    for i in range(count):
        change_record(
            team=team,
            service=f"service-{(start + i) % 3}",
            summary=f"Deploy {start + i}",
            source=ChangeSource.API,
            version=f"v1.{start + i}.0",
            environment="production",
            author="jordan",
            url=f"https://ci.example/runs/{start + i}" if i % 2 else "",
        )


def add_action_items(incidents, owner, *, overdue_by=3):
    due = timezone.localdate() - dt.timedelta(days=overdue_by)
    ActionItem.objects.bulk_create(
        ActionItem(
            incident=incident,
            team_id=incident.team_id,
            title=f"Fix {incident.title}",
            owner=owner,
            due_date=due,
        )
        for incident in incidents
    )


def add_postmortems(incidents, reviewer):
    postmortems = Postmortem.objects.bulk_create(
        Postmortem(
            incident=incident,
            title=f"Postmortem of {incident.title}",
            status=PostmortemStatus.IN_REVIEW,
            due_at=timezone.now() + dt.timedelta(days=2),
        )
        for incident in incidents
    )
    Postmortem.reviewers.through.objects.bulk_create(
        Postmortem.reviewers.through(postmortem=p, user=reviewer) for p in postmortems
    )


def fill(*, me, team, other_team, integration, outsider, n, start=0):
    """n rows of every kind the dashboard lists, some of them the person may not see. The
    changes are a third team's, so that none lands on these incidents' timelines."""
    mine = add_incidents(team, n, prefix=f"Ours {start}")
    theirs = add_incidents(other_team, n, private_every=2, prefix=f"Theirs {start}")
    add_pages(me, mine)
    add_alert_groups(integration, n, start=start)
    add_failing_checks(team, n, start=start)
    add_failing_checks(other_team, n, start=start)
    add_changes(TeamFactory(slug="search", name="Search"), n, start=start)
    add_action_items(mine, me)
    add_action_items(theirs, outsider)
    add_postmortems(mine, me)
    add_postmortems(theirs, outsider)


def queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return len(ctx)


def test_the_dashboard_runs_the_same_queries_at_n_and_10n_rows_of_everything(
    django_assert_num_queries,
):
    team, people = oncall_team()
    me = people["primary"]
    other_team = TeamFactory(slug="payments", name="Payments")
    outsider = member(other_team, Role.RESPONDER)
    integration, _ = integration_create(team=team, kind="alertmanager", name="Prometheus")
    client = client_for(me)
    fill(me=me, team=team, other_team=other_team, integration=integration, outsider=outsider, n=3)
    at_n = queries(client)
    fill(
        me=me,
        team=team,
        other_team=other_team,
        integration=integration,
        outsider=outsider,
        n=27,
        start=3,
    )
    with django_assert_num_queries(at_n):
        response = client.get(reverse("dashboard"))
    html = response.content.decode()
    # Ten of each shown, the rest counted: 30 pages, 30 alerts, 30 own checks, 30 changes...
    assert html.count('name="page"') == 10
    for section_id in ("dashboard-pages", "dashboard-alerts", "dashboard-checks"):
        assert "20 more" in section(html, section_id), section_id
    assert "20 more" in section(html, "dashboard-changes")
    # 30 own open incidents and the other team's that are not private.
    seen = 30 + Incident.objects.filter(team=other_team, is_private=False).count()
    assert Incident.objects.filter(team=other_team, is_private=True).exists()
    assert f"{seen - 10} more" in section(html, "dashboard-open")
    assert "20 more" in section(html, "dashboard-action-items")
    assert "20 more" in section(html, "dashboard-reviews")
    assert at_n <= 30


def test_with_nothing_going_on_every_section_has_its_heading_an_empty_state_and_a_link(
    team, responder
):
    html = dashboard_html(responder)
    for heading in HEADINGS:
        assert f">{heading}</h2>" in html, heading
    for empty in [
        "Nothing is paging you.",
        "No open incidents. All quiet.",
        "No alert is firing.",
        "No check is failing.",
        "No change in the last 24 hours.",
        "No action item is overdue.",
        "No postmortem is waiting for your review.",
    ]:
        assert empty in html, empty
    for url in [
        reverse("paging_notifications"),
        reverse("incident_list") + "?status=open",
        reverse("alerts_groups"),
        reverse("checks"),
        reverse("oncall_now"),
        reverse("action_item_list") + "?overdue=1",
        reverse("postmortem_queue"),
    ]:
        assert f'href="{url}"' in html, url
    assert "/static/css/dashboard.css" in html and "style=" not in html  # the CSP forbids inline


def test_my_open_page_comes_first_with_a_one_tap_acknowledge_and_the_incident():
    page, team, people = page_the_primary()
    html = dashboard_html(people["primary"])
    pages = section(html, "dashboard-pages")
    assert html.index('id="dashboard-pages"') < html.index('id="dashboard-open"')
    assert page.incident.title in pages
    assert f'href="{page.incident.get_absolute_url()}"' in pages
    assert f'action="{reverse("dashboard")}"' in pages and 'method="post"' in pages
    assert 'name="csrfmiddlewaretoken"' in pages
    assert f'name="page" value="{page.pk}"' in pages
    assert ">Acknowledge<" in pages
    # The alert that paged is firing, and the secondary (not paged yet) sees no page of theirs.
    assert "AgentHighErrorRate" in section(html, "dashboard-alerts")
    assert "Nothing is paging you." in dashboard_html(people["secondary"])


def test_acknowledging_from_the_dashboard_stops_the_escalation_and_says_so():
    page, team, people = page_the_primary()
    primary = people["primary"]
    client = client_for(primary)
    response = client.post(reverse("dashboard"), {"page": page.pk})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    escalation = Escalation.objects.get()
    assert escalation.status == EscalationStatus.ACKNOWLEDGED
    assert escalation.acknowledged_by == primary
    page.refresh_from_db()
    assert page.acknowledged_at is not None
    page.incident.refresh_from_db()
    assert page.incident.status == Status.ACKNOWLEDGED
    ack = TimelineEvent.objects.get(incident=page.incident, kind=EventKind.ACK)
    assert ack.data["via"] == "dashboard" and ack.author == primary

    html = client.get(reverse("dashboard")).content.decode()
    assert "You acknowledged “" in html and "Escalation stopped" in html
    assert "Nothing is paging you." in section(html, "dashboard-pages")


def test_a_second_tap_after_someone_else_acknowledged_says_who_did_and_changes_nothing():
    page, team, people = page_the_primary()
    incident_change_status(
        incident=page.incident, status=Status.ACKNOWLEDGED, by=people["secondary"]
    )
    client = client_for(people["primary"])
    response = client.post(reverse("dashboard"), {"page": page.pk}, follow=True)
    html = response.content.decode()
    assert f"was already acknowledged by {people['secondary'].display_name}" in html
    assert Escalation.objects.get().acknowledged_by == people["secondary"]
    assert TimelineEvent.objects.filter(incident=page.incident, kind=EventKind.ACK).count() == 1


def test_nobody_acknowledges_a_page_that_is_not_theirs():
    page, team, people = page_the_primary()
    for person in (people["secondary"], people["lead"]):
        response = client_for(person).post(reverse("dashboard"), {"page": page.pk})
        assert response.status_code == 404
    assert client_for(people["primary"]).post(
        reverse("dashboard"), {"page": 999999}
    ).status_code == (404)
    assert Escalation.objects.get().status == EscalationStatus.ACTIVE


@pytest.mark.parametrize("value", ["", "abc", "1.5", "-1", "\uff11", "9" * 40])
def test_a_page_number_that_is_not_one_is_refused_with_the_reason(value):
    page, team, people = page_the_primary()
    response = client_for(people["primary"]).post(reverse("dashboard"), {"page": value})
    assert response.status_code == 400
    assert "Say which page to acknowledge" in response.content.decode()
    assert Escalation.objects.get().status == EscalationStatus.ACTIVE


def test_acknowledging_needs_the_forms_csrf_token():
    page, team, people = page_the_primary()
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["primary"])
    assert client.post(reverse("dashboard"), {"page": page.pk}).status_code == 403
    assert Escalation.objects.get().status == EscalationStatus.ACTIVE


def test_anonymous_people_are_sent_to_log_in_and_a_get_acknowledges_nothing():
    page, team, people = page_the_primary()
    response = Client().post(reverse("dashboard"), {"page": page.pk})
    assert response.status_code == 302 and "/login/" in response["Location"]
    client_for(people["primary"]).get(reverse("dashboard"), {"page": page.pk})
    assert Escalation.objects.get().status == EscalationStatus.ACTIVE


def test_open_incidents_come_grouped_by_severity_sev1_first_and_private_ones_stay_private(
    team, other_team, responder
):
    sev = {s.level: s for s in Severity.objects.all()}
    IncidentFactory(title="Slow search", team=team, severity=sev[3])
    IncidentFactory(title="Checkout down", team=team, severity=sev[1])
    IncidentFactory(title="Payments flaky", team=other_team, severity=sev[2])
    IncidentFactory(title="Payments secret", team=other_team, severity=sev[1], is_private=True)
    IncidentFactory(title="Old outage", team=team, severity=sev[1], status=Status.RESOLVED)
    html = section(dashboard_html(responder), "dashboard-open")
    assert html.index(">SEV1</span>") < html.index(">SEV2</span>") < html.index(">SEV3</span>")
    assert html.index("Checkout down") < html.index("Payments flaky") < html.index("Slow search")
    assert "Payments secret" not in html and "Old outage" not in html
    assert 'sse-swap="open-incidents"' in html


def test_the_live_stream_sends_the_same_grouped_open_incidents(team, responder):
    IncidentFactory(title="Checkout down", team=team, severity=Severity.objects.get(level=1))
    message = DashboardChannel(responder).poll()
    assert "event: open-incidents" in message
    assert "Checkout down" in message and ">SEV1</span>" in message
    assert "No open incidents" not in message


def test_more_than_ten_open_incidents_show_ten_and_count_the_rest(team, responder):
    add_incidents(team, 13)
    html = section(dashboard_html(responder), "dashboard-open")
    assert html.count('class="dash-row"') == 10
    assert "3 more" in html


def test_changes_of_the_last_day_show_who_what_where_and_link_only_http_links(team, responder):
    change_record(
        team=team,
        service="checkout",
        summary="Roll out the new cart",
        source=ChangeSource.GITHUB,
        kind=ChangeKind.DEPLOY,
        version="v1.6.0",
        environment="production",
        author="jordan",
        url="https://github.example/acme/checkout/deployments/7",
    )
    change_record(
        team=team,
        service="search",
        summary="Raise the cache size",
        source=ChangeSource.API,
        kind=ChangeKind.CONFIG,
        author="riley",
    )
    change_record(
        team=team,
        service="billing",
        summary="Last week's deploy",
        source=ChangeSource.API,
        occurred_at=timezone.now() - dt.timedelta(hours=25),
    )
    html = section(dashboard_html(responder), "dashboard-changes")
    assert "checkout v1.6.0" in html and "production" in html and "by jordan" in html
    assert "GitHub deployment" in html and "Deploy" in html
    assert (
        '<a href="https://github.example/acme/checkout/deployments/7" rel="noopener noreferrer">'
        "Roll out the new cart</a>"
    ) in html
    assert "Raise the cache size</p>" in html and "Config change" in html
    assert "Last week" not in html


def test_firing_alerts_are_the_teams_own_and_leave_out_silenced_and_resolved_ones(
    team, other_team, responder
):
    ours, _ = integration_create(team=team, kind="alertmanager", name="Prometheus")
    theirs, _ = integration_create(team=other_team, kind="alertmanager", name="Prometheus")
    add_alert_groups(ours, 2)
    AlertGroup.objects.create(
        integration=ours,
        team=team,
        group_key="quiet",
        status="firing",
        title="Muted",
        silenced=True,
    )
    AlertGroup.objects.create(
        integration=ours,
        team=team,
        group_key="done",
        status="resolved",
        title="Over",
        resolved_at=timezone.now(),
    )
    AlertGroup.objects.create(
        integration=theirs, team=other_team, group_key="x", status="firing", title="Theirs"
    )
    html = section(dashboard_html(responder), "dashboard-alerts")
    # Critical first.
    assert html.index("Alert 1") < html.index("Alert 0")
    assert "Muted" not in html and "Over" not in html and "Theirs" not in html


def test_an_alerts_private_incident_is_not_named_to_those_outside_its_team(team, other_team):
    incident = IncidentFactory(title="Secret", team=team, is_private=True)
    integration, _ = integration_create(team=other_team, kind="alertmanager", name="Prometheus")
    AlertGroup.objects.create(
        integration=integration,
        team=other_team,
        group_key="k",
        status="firing",
        title="Routed here",
        incident=incident,
    )
    html = section(dashboard_html(member(other_team, Role.RESPONDER)), "dashboard-alerts")
    assert "Routed here" in html and incident.get_absolute_url() not in html


def test_failing_checks_are_the_teams_own(team, other_team, responder):
    add_failing_checks(team, 1)
    Check.objects.create(team=team, name="healthy", kind="http", target="http://x/", state="up")
    Check.objects.create(
        team=other_team, name="their redis", kind="redis", target="redis://x/", state="down"
    )
    html = section(dashboard_html(responder), "dashboard-checks")
    assert "check 0" in html and "Connection refused" in html and "Down" in html
    assert "healthy" not in html and "their redis" not in html


def test_overdue_action_items_put_mine_first_then_my_teams_and_hide_what_i_may_not_see(
    team, other_team, responder
):
    colleague = member(team, Role.RESPONDER)
    outsider = member(other_team, Role.RESPONDER)
    ours = IncidentFactory(title="Ours", team=team)
    secret = IncidentFactory(title="Secret", team=other_team, is_private=True)
    theirs = IncidentFactory(title="Theirs", team=other_team)
    owner_due = [
        (ours, colleague, 10, "Colleague's old item"),
        (ours, responder, 1, "My item"),
        (ours, responder, -3, "Not due yet"),
        (secret, outsider, 5, "Secret item"),
        (theirs, outsider, 5, "Another team's item"),
    ]
    for incident, owner, days, title in owner_due:
        ActionItem.objects.create(
            incident=incident,
            team_id=incident.team_id,
            title=title,
            owner=owner,
            due_date=timezone.localdate() - dt.timedelta(days=days),
        )
    ActionItem.objects.create(
        incident=ours,
        team=team,
        title="Done already",
        owner=responder,
        due_date=timezone.localdate() - dt.timedelta(days=9),
        status=ActionItemStatus.DONE,
    )
    html = section(dashboard_html(responder), "dashboard-action-items")
    assert html.index("My item") < html.index("Colleague&#x27;s old item")
    assert "Yours" in html and "1 day overdue" in html and "10 days overdue" in html
    for absent in ("Not due yet", "Secret item", "Another team", "Done already"):
        assert absent not in html, absent


def test_postmortems_wait_for_their_reviewers_and_their_teams_managers_until_approved(
    team, other_team, responder
):
    manager = member(team, Role.MANAGER)
    asked, approved, draft = (
        IncidentFactory(title=t, team=team) for t in ("Asked", "Approved", "Draft")
    )
    secret = IncidentFactory(title="Secret", team=other_team, is_private=True)
    add_postmortems([asked, approved, secret], responder)
    Approval.objects.create(postmortem=Postmortem.objects.get(incident=approved), approver=manager)
    Postmortem.objects.create(
        incident=draft, title="Postmortem of Draft", due_at=timezone.now() + dt.timedelta(days=1)
    )
    mine = section(dashboard_html(responder), "dashboard-reviews")
    assert "Postmortem of Asked" in mine and "Postmortem of Approved" in mine
    assert "you are a reviewer" in mine
    assert "Secret" not in mine and "Draft" not in mine
    managers = section(dashboard_html(manager), "dashboard-reviews")
    assert "Postmortem of Asked" in managers and "as a manager of Platform" in managers
    assert "Approved" not in managers and "Secret" not in managers
    viewer = member(team, Role.VIEWER)
    assert "No postmortem is waiting" in section(dashboard_html(viewer), "dashboard-reviews")


def test_who_is_on_call_now_names_my_teams_people_and_managers_find_team_settings():
    team, people = oncall_team()
    for n in range(4):  # more than a few teams: only mine are shown
        TeamFactory(slug=f"other-{n}", name=f"Other {n}")
    html = section(dashboard_html(people["primary"]), "dashboard-oncall")
    assert ">Primary</dt>" in html and people["primary"].display_name in html
    assert ">Secondary</dt>" in html and people["secondary"].display_name in html
    assert "Engineering lead" in html and people["lead"].display_name in html
    assert "Other 0" not in html
    settings_url = reverse("oncall_team_settings", args=[team.slug])
    assert settings_url not in html
    assert settings_url in section(dashboard_html(people["lead"]), "dashboard-oncall")


def test_with_only_a_few_teams_everyone_sees_every_teams_on_call(team, other_team):
    loner = member(TeamFactory(slug="solo", name="Solo"), Role.RESPONDER)
    html = section(dashboard_html(loner), "dashboard-oncall")
    assert "Platform" in html and "Payments" in html and "Solo" in html


def test_a_page_for_a_private_incident_of_another_team_is_shown_and_acknowledged_unlinked(
    team, other_team, responder
):
    incident = IncidentFactory(title="Card data exposure", team=other_team, is_private=True)
    add_pages(responder, [incident])
    client = client_for(responder)
    pages = section(client.get(reverse("dashboard")).content.decode(), "dashboard-pages")
    # The page reached the person with the incident's title; its page is the team's.
    assert "Card data exposure" in pages and incident.get_absolute_url() not in pages
    assert "Card data exposure" not in section(dashboard_html(responder), "dashboard-open")
    page = Page.objects.get(user=responder)
    assert client.post(reverse("dashboard"), {"page": page.pk}).status_code == 302
    assert Escalation.objects.get().acknowledged_by == responder


def test_a_vigil_administrator_sees_every_teams_private_incidents_and_checks(team, other_team):
    admin = member(TeamFactory(slug="ops", name="Ops"), Role.VIEWER, is_superuser=True)
    IncidentFactory(title="Card data exposure", team=other_team, is_private=True)
    add_failing_checks(other_team, 1)
    html = dashboard_html(admin)
    assert "Card data exposure" in section(html, "dashboard-open")
    assert "check 0" in section(html, "dashboard-checks")
