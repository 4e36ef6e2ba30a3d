"""The drill pages: a team's drill log and a drill's report. Who may see them (the team's
members only), who may start, schedule and end a drill (managers), who may take part
(responders and above), and bad input answered 400 with the reason, never 500."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from changes.models import ChangeEvent, ChangeKind, ChangeSource
from changes.services import service_named
from incidents.models import Severity
from incidents.services import incident_declare
from reports import drills
from reports.models import Drill, DrillOptIn, DrillScenario, DrillSchedule, DrillState
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def manager(team):
    return member(team, Role.MANAGER, username="morgan", first_name="Morgan", last_name="Lee")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def three_am():
    return DrillScenario.objects.get(team=None, slug=drills.THREE_AM_SLUG)


def log_url(team) -> str:
    return reverse("drill_log", args=[team.slug])


def an_ended_drill(team, *, report, started_by=None) -> Drill:
    """A drill whose report is the one given, as drill_end leaves it."""
    start = dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC)
    return Drill.objects.create(
        team=team,
        scenario=three_am(),
        state=DrillState.ENDED,
        started_by=started_by,
        started_at=start,
        ended_at=start + dt.timedelta(minutes=20),
        report=report,
    )


REPORT = {
    "times": [
        {
            "key": "acknowledge",
            "label": "Time to acknowledge",
            "seconds": 125.0,
            "target_seconds": 300,
            "within_target": True,
        },
        {
            "key": "first_runbook_step",
            "label": "Time to the first runbook step",
            "seconds": None,
            "target_seconds": None,
            "within_target": None,
        },
        {
            "key": "rollback_decision",
            "label": "Time to the rollback decision",
            "seconds": 1000.0,
            "target_seconds": 900,
            "within_target": False,
        },
        {
            "key": "mitigation",
            "label": "Time to mitigation",
            "seconds": None,
            "target_seconds": None,
            "within_target": None,
        },
    ],
    "skipped": ["first_runbook_step", "mitigation"],
    "outsider_acknowledgements": [{"user": "sam", "at": "2026-11-26T14:01:30+00:00"}],
    "participants": ["alex"],
    "acknowledged_by": "alex",
}


# --- who sees what ------------------------------------------------------------------------------


def test_an_outsider_gets_404_on_the_log_the_report_and_every_action(team, outsider, manager):
    drill = an_ended_drill(team, report=REPORT, started_by=manager)
    client = client_for(outsider)
    assert client.get(log_url(team)).status_code == 404
    assert client.get(reverse("drill_detail", args=[drill.pk])).status_code == 404
    for name in ("drill_start", "drill_schedule", "drill_scenario_add", "drill_opt_in"):
        assert client.post(reverse(name, args=[team.slug])).status_code == 404, name
    assert client.post(reverse("drill_end", args=[drill.pk])).status_code == 404
    assert not DrillOptIn.objects.exists()


def test_someone_signed_out_is_sent_to_log_in(team):
    response = Client().get(log_url(team))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_an_unknown_team_or_drill_is_404(responder):
    client = client_for(responder)
    assert client.get("/reports/teams/nobody/drills/").status_code == 404
    assert client.get("/reports/drills/999999/").status_code == 404


def test_a_responder_may_not_start_schedule_write_a_scenario_or_end_a_drill(
    team, responder, manager
):
    drills.opt_in(team=team, user=responder)
    client = client_for(responder)
    scenario = str(three_am().pk)
    start = client.post(reverse("drill_start", args=[team.slug]), {"scenario": scenario})
    assert start.status_code == 403
    assert "Your role in Platform does not allow this." in start.content.decode()
    schedule = client.post(
        reverse("drill_schedule", args=[team.slug]),
        {"scenario": scenario, "every_weeks": "4", "enabled": "on"},
    )
    assert schedule.status_code == 403
    written = client.post(
        reverse("drill_scenario_add", args=[team.slug]),
        {"name": "Queue backlog", "alert_name": "QueueBacklog", "change_minutes_before": "3"},
    )
    assert written.status_code == 403
    assert not Drill.objects.exists()
    assert not DrillSchedule.objects.exists()
    assert not DrillScenario.objects.filter(team=team).exists()

    drill = an_ended_drill(team, report=REPORT, started_by=manager)
    Drill.objects.filter(pk=drill.pk).update(state=DrillState.RUNNING, ended_at=None)
    assert client.post(reverse("drill_end", args=[drill.pk])).status_code == 403
    assert Drill.objects.get(pk=drill.pk).state == DrillState.RUNNING


def test_a_responder_never_sees_the_next_drills_time_nor_the_start_form(team, responder, manager):
    next_at = dt.datetime(2027, 3, 9, 10, 37, tzinfo=dt.UTC)
    DrillSchedule.objects.create(
        team=team, scenario=three_am(), every_weeks=6, enabled=True, next_at=next_at
    )
    seen = client_for(responder).get(log_url(team)).content.decode()
    assert "every 6 weeks" in seen
    assert "known to the team's managers only" in seen
    assert "Tuesday 9 March 2027, 10:37" not in seen
    assert "2027-03-09" not in seen
    assert "Start a drill" not in seen
    assert "Save the drill schedule" not in seen
    assert "Write a scenario" not in seen

    managed = client_for(manager).get(log_url(team)).content.decode()
    assert "Tuesday 9 March 2027, 10:37" in managed
    assert "Start a drill" in managed
    assert "Save the drill schedule" in managed


def test_the_next_drills_time_is_shown_in_the_teams_time_zone(team, manager):
    team.time_zone = "Europe/Berlin"
    team.save(update_fields=["time_zone"])
    DrillSchedule.objects.create(
        team=team,
        scenario=three_am(),
        every_weeks=4,
        next_at=dt.datetime(2027, 3, 9, 10, 37, tzinfo=dt.UTC),
    )
    managed = client_for(manager).get(log_url(team)).content.decode()
    assert "Tuesday 9 March 2027, 11:37" in managed
    assert "(Europe/Berlin)" in managed


def test_a_viewer_reads_the_log_but_cannot_take_part(team, viewer):
    client = client_for(viewer)
    page = client.get(log_url(team)).content.decode()
    assert "Drill log" in page
    assert "Take part in drills" not in page
    response = client.post(reverse("drill_opt_in", args=[team.slug]))
    assert response.status_code == 403
    assert not DrillOptIn.objects.exists()


def test_a_responder_takes_part_then_stops(team, responder):
    client = client_for(responder)
    assert "Take part in drills" in client.get(log_url(team)).content.decode()
    response = client.post(reverse("drill_opt_in", args=[team.slug]))
    assert response.status_code == 302
    assert list(DrillOptIn.objects.values_list("user__username", flat=True)) == ["alex"]
    page = client.get(log_url(team)).content.decode()
    assert "A drill pages only these people: <strong>Alex Rivera</strong>." in page
    assert "Stop taking part" in page

    # With htmx, the answer is the "Taking part" box alone.
    response = client.post(reverse("drill_opt_out", args=[team.slug]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="drill-taking-part"')
    assert "Nobody in Platform takes part in drills yet" in body
    assert "Take part in drills" in body
    assert not DrillOptIn.objects.exists()


def test_the_log_needs_the_same_queries_for_one_drill_and_for_ten(team, manager):
    client = client_for(manager)
    an_ended_drill(team, report=REPORT, started_by=manager)
    with CaptureQueriesContext(connection) as one:
        assert client.get(log_url(team)).status_code == 200
    for _ in range(9):
        an_ended_drill(team, report=REPORT, started_by=manager)
    with CaptureQueriesContext(connection) as ten:
        page = client.get(log_url(team)).content.decode()
    assert page.count('aria-label="Report of the drill of') == 10
    assert len(ten) == len(one)


# --- the log and the report ---------------------------------------------------------------------


def test_the_log_lists_each_drill_with_who_started_it_and_its_time_to_acknowledge(
    team, responder, manager
):
    by_hand = an_ended_drill(team, report=REPORT, started_by=manager)
    by_schedule = an_ended_drill(team, report={**REPORT, "times": []})
    Drill.objects.filter(pk=by_schedule.pk).update(
        started_at=dt.datetime(2026, 12, 1, 9, 5, tzinfo=dt.UTC)
    )
    page = client_for(responder).get(log_url(team)).content.decode()
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2
    newest, oldest = rows
    assert "the schedule" in newest and "Tue 1 Dec 2026, 09:05" in newest and "—" in newest
    assert "Morgan Lee" in oldest and "Thu 26 Nov 2026, 14:00" in oldest
    assert "2 min 5 s" in oldest
    assert "The 3 AM night" in oldest
    assert reverse("drill_detail", args=[by_hand.pk]) in oldest


def test_the_report_shows_each_time_against_its_target_and_what_was_skipped(
    team, responder, manager
):
    drill = an_ended_drill(team, report=REPORT, started_by=manager)
    response = client_for(responder).get(reverse("drill_detail", args=[drill.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert [row.split("</th>")[0].split(">")[-1] for row in rows] == [
        "Time to acknowledge",
        "Time to the first runbook step",
        "Time to the rollback decision",
        "Time to mitigation",
    ]
    acknowledge, runbook, rollback, mitigation = rows
    assert "<td>2 min 5 s</td>" in acknowledge and "within 5 min" in acknowledge
    assert "Within target" in acknowledge
    assert "<td>—</td>" in runbook and "not reached" in runbook
    assert "<td>16 min 40 s</td>" in rollback and "within 15 min" in rollback
    assert "Over target" in rollback
    assert "<td>—</td>" in mitigation
    skipped = page.split("<h3>Skipped</h3>")[1].split("</ul>")[0]
    assert "Time to the first runbook step" in skipped and "Time to mitigation" in skipped
    assert "recorded, not counted" in page
    assert "sam at" in page and "14:01:30" in page
    assert "acknowledged by <strong>alex</strong>" in page
    assert "End drill" not in page  # ended, and a responder anyway


def test_an_outsider_is_never_shown_the_report_even_by_a_link(team, outsider, manager):
    drill = an_ended_drill(team, report=REPORT, started_by=manager)
    response = client_for(outsider).get(reverse("drill_detail", args=[drill.pk]))
    assert response.status_code == 404
    assert "2 min 5 s" not in response.content.decode()


# --- starting, ending, scheduling ---------------------------------------------------------------


def test_with_nobody_taking_part_the_drill_is_refused_and_the_page_says_why(team, manager):
    response = client_for(manager).post(
        reverse("drill_start", args=[team.slug]), {"scenario": str(three_am().pk)}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'role="alert">Nobody in Platform has opted in to drills' in page
    assert not Drill.objects.exists()


@pytest.mark.parametrize(
    "sent",
    ["999999", "abc", "", "99999999999999999999999999", "-1", "1.5"],
    ids=["unknown", "letters", "empty", "beyond-bigint", "negative", "decimal"],
)
def test_an_unknown_scenario_is_refused_with_the_reason(team, manager, responder, sent):
    drills.opt_in(team=team, user=responder)
    response = client_for(manager).post(
        reverse("drill_start", args=[team.slug]), {"scenario": sent}
    )
    assert response.status_code == 400
    page = response.content.decode()
    reason = "Pick a scenario." if sent == "" else "That scenario is not one of this team&#x27;s"
    assert f'role="alert">Scenario: {reason}' in page
    assert not Drill.objects.exists()


def test_another_teams_scenario_is_refused(team, manager, responder):
    drills.opt_in(team=team, user=responder)
    payments = TeamFactory(slug="payments", name="Payments")
    theirs = DrillScenario.objects.create(
        team=payments, slug="card-failures", name="Card failures", alert_name="CardFailures"
    )
    response = client_for(manager).post(
        reverse("drill_start", args=[team.slug]), {"scenario": str(theirs.pk)}
    )
    assert response.status_code == 400
    assert "That scenario is not one of this team&#x27;s drill scenarios." in (
        response.content.decode()
    )
    assert not Drill.objects.exists()


@pytest.mark.parametrize("weeks", ["0", "53", "-4", "99999999999999999999"])
def test_a_schedule_outside_1_to_52_weeks_is_refused_with_the_reason(team, manager, weeks):
    response = client_for(manager).post(
        reverse("drill_schedule", args=[team.slug]),
        {"scenario": str(three_am().pk), "every_weeks": weeks, "enabled": "on"},
    )
    assert response.status_code == 400
    assert (
        f'role="alert">Every how many weeks: A drill can be every 1 to 52 weeks, not every {weeks}.'
        in response.content.decode()
    )
    assert not DrillSchedule.objects.exists()


def test_a_schedule_in_words_is_refused_with_the_reason(team, manager):
    response = client_for(manager).post(
        reverse("drill_schedule", args=[team.slug]),
        {"scenario": str(three_am().pk), "every_weeks": "four"},
    )
    assert response.status_code == 400
    assert "Every how many weeks must be a whole number from 1 to 52." in (
        response.content.decode()
    )


def test_a_manager_schedules_a_drill_and_alone_sees_when_it_comes(team, manager, responder):
    response = client_for(manager).post(
        reverse("drill_schedule", args=[team.slug]),
        {"scenario": str(three_am().pk), "every_weeks": "4", "enabled": "on"},
    )
    assert response.status_code == 302
    schedule = DrillSchedule.objects.get(team=team)
    assert (schedule.every_weeks, schedule.enabled, schedule.scenario) == (4, True, three_am())
    assert schedule.next_at is not None
    shown = f"{schedule.next_at:%A} {schedule.next_at.day} {schedule.next_at:%B %Y, %H:%M}"
    assert shown in client_for(manager).get(log_url(team)).content.decode()
    assert shown not in client_for(responder).get(log_url(team)).content.decode()


def test_nul_bytes_in_a_scenario_are_refused_with_the_reason(team, manager):
    response = client_for(manager).post(
        reverse("drill_scenario_add", args=[team.slug]),
        {"name": "Queue\x00backlog", "alert_name": "QueueBacklog", "change_minutes_before": "3"},
    )
    assert response.status_code == 400
    assert "The form field &#x27;name&#x27; contains a NUL character" in response.content.decode()
    assert not DrillScenario.objects.filter(team=team).exists()


def test_nul_bytes_in_the_schedule_are_refused_with_the_reason(team, manager):
    response = client_for(manager).post(
        reverse("drill_schedule", args=[team.slug]),
        {"scenario": "1\x00", "every_weeks": "4"},
    )
    assert response.status_code == 400
    assert "contains a NUL character" in response.content.decode()
    assert not DrillSchedule.objects.exists()


def test_a_manager_writes_the_teams_own_scenario(team, manager):
    client = client_for(manager)
    response = client.post(
        reverse("drill_scenario_add", args=[team.slug]),
        {
            "name": "Queue backlog",
            "alert_name": "QueueBacklog",
            "severity": "warning",
            "service": "jobs-worker",
            "value": "12000 jobs",
            "change_version": "v2.0.1",
            "change_minutes_before": "10",
        },
    )
    assert response.status_code == 302
    scenario = DrillScenario.objects.get(team=team)
    assert (scenario.name, scenario.alert_name, scenario.severity, scenario.service) == (
        "Queue backlog",
        "QueueBacklog",
        "warning",
        "jobs-worker",
    )
    assert (scenario.value, scenario.change_version, scenario.change_minutes_before) == (
        "12000 jobs",
        "v2.0.1",
        10,
    )
    page = client.get(log_url(team)).content.decode()
    assert f'<option value="{scenario.pk}">Queue backlog</option>' in page


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("name", "", "Name: This field is required."),
        ("alert_name", "", "Alert name: This field is required."),
        ("severity", "sev0", "Severity: Select a valid choice."),
        ("change_minutes_before", "121", "Minutes before: Minutes before must be from 0 to 120."),
        ("change_minutes_before", "-1", "Minutes before: Minutes before must be from 0 to 120."),
    ],
)
def test_a_scenario_with_a_missing_or_wrong_field_is_refused(team, manager, field, value, reason):
    fields = {"name": "Queue backlog", "alert_name": "QueueBacklog", "change_minutes_before": "3"}
    response = client_for(manager).post(
        reverse("drill_scenario_add", args=[team.slug]), {**fields, field: value}
    )
    assert response.status_code == 400
    assert f'role="alert">{reason}' in response.content.decode()
    assert not DrillScenario.objects.filter(team=team).exists()


def test_a_second_scenario_of_the_same_name_is_refused_by_the_service(team, manager):
    fields = {"name": "Queue backlog", "alert_name": "QueueBacklog", "change_minutes_before": "3"}
    client = client_for(manager)
    assert client.post(reverse("drill_scenario_add", args=[team.slug]), fields).status_code == 302
    again = client.post(reverse("drill_scenario_add", args=[team.slug]), fields)
    assert again.status_code == 400
    assert 'role="alert">' in again.content.decode()
    assert DrillScenario.objects.filter(team=team).count() == 1


def test_a_manager_starts_the_3_am_drill_and_lands_on_its_report(team, manager, responder):
    drills.opt_in(team=team, user=responder)
    client = client_for(manager)
    response = client.post(
        reverse("drill_start", args=[team.slug]), {"scenario": str(three_am().pk)}
    )
    drill = Drill.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("drill_detail", args=[drill.pk])
    assert drill.started_by == manager and drill.state == DrillState.RUNNING
    assert drill.incident.is_drill

    page = client.get(response["Location"]).content.decode()
    assert "Drill started: The 3 AM night." in page
    assert "End drill" in page
    incident_link = f'href="{drill.incident.get_absolute_url()}">Open the drill\'s incident'
    assert incident_link in page
    assert "Drill report (running: times so far)" in page
    acknowledge = page.split("<tbody>")[1].split("</tr>")[0]
    assert "<td>—</td>" in acknowledge and "within 5 min" in acknowledge

    # Ending it writes the report; the button goes.
    ended = client.post(reverse("drill_end", args=[drill.pk]))
    assert ended.status_code == 302
    drill.refresh_from_db()
    assert drill.state == DrillState.ENDED and drill.ended_by == manager
    page = client.get(reverse("drill_detail", args=[drill.pk])).content.decode()
    assert "End drill" not in page
    assert '<h2 id="drill-report-h">Drill report</h2>' in page


def test_a_running_drills_report_refreshes_itself_alone(team, manager, responder):
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    response = client_for(responder).get(
        reverse("drill_detail", args=[drill.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="drill-report"')
    assert 'hx-trigger="every 10s"' in body
    assert "HX-Request" in response["Vary"]


def test_the_drills_incident_says_it_is_a_drill(team, manager, responder):
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    page = client_for(responder).get(drill.incident.get_absolute_url()).content.decode()
    assert "This incident is a drill" in page
    assert reverse("drill_detail", args=[drill.pk]) in page


def test_a_drill_is_marked_in_the_incident_list_the_dashboard_and_the_changes_list(
    team, manager, responder
):
    """A person who did not start the drill meets its incident and its staged deploy on the
    everyday pages: each says Drill, and nothing real does."""
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    ChangeEvent.objects.create(
        team=team,
        service=service_named(team=team, name="checkout"),
        summary="A real deploy",
        version="v9.9.9",
        kind=ChangeKind.DEPLOY,
        source=ChangeSource.API,
        occurred_at=drill.started_at,
    )
    real = incident_declare(
        title="Checkout errors", severity=Severity.objects.get(name="SEV2"), team=team, by=manager
    )
    client = client_for(responder)
    badge = '<span class="badge badge-drill">Drill</span>'

    listing = client.get(reverse("incident_list")).content.decode()
    dashboard = client.get(reverse("dashboard")).content.decode()
    changes = client.get(reverse("changes_list")).content.decode()

    for page in (listing, dashboard):
        drill_row = page.split(drill.incident.title, 1)[1].split("</a>", 1)[1][:80]
        real_row = page.split(real.title, 1)[1].split("</a>", 1)[1][:80]
        assert drill_row.lstrip().startswith(badge)
        assert badge not in real_row
    assert changes.count(badge) == 1
    assert badge in changes.split("v1.5.2", 1)[0].rsplit("<li", 1)[1]
    assert badge not in changes.split("v9.9.9", 1)[0].rsplit("<li", 1)[1]
