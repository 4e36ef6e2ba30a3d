"""In a real Chromium, by role and visible name: a manager starts the 3 AM drill from the
team's drill log; the responder taking part opens the drill's incident, sees it marked as a
drill, acknowledges and records the rollback decision (roll back v1.5.2); the manager ends
the drill and its report shows the time to acknowledge and to the rollback decision against
the 5-minute target."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from changes.models import RollbackDecision
from common.text import duration
from paging.services import engine_tick
from reports import drills
from reports.models import Drill, DrillState
from runbooks.models import Runbook
from tests.alerts_fixtures import (
    fast_passwords,  # noqa: F401 (an autouse fixture)
    oncall_team,
)
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def drill_team():
    """Platform, with its primary taking part in drills, its lead a manager, and the
    high-error-rate runbook the 3 AM night's alert matches."""
    team, people = oncall_team()
    Runbook.objects.create(
        title="High Error Rate",
        slug="high-error-rate",
        team=team,
        body="## Step 1 — Check recent deploys\n\nLook.\n",
        alert_names=["AgentHighErrorRate"],
    )
    drills.opt_in(team=team, user=people["primary"])
    return team, people


def log_in(browser, live_server, user, path):
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{live_server.url}/login/?next={path}")
    tab.get_by_label("Username").fill(user.username)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    return context, tab


def report_row(tab, label):
    return (
        tab.get_by_role("region", name="Drill report")
        .get_by_role("row")
        .filter(has=tab.get_by_role("rowheader", name=label, exact=True))
    )


def test_a_manager_runs_the_3_am_drill_and_its_report_shows_the_responders_times(
    browser, live_server, drill_team
):
    team, people = drill_team
    responder, manager = people["primary"], people["lead"]

    # The manager starts the 3 AM night from the drill log.
    manager_context, boss = log_in(
        browser, live_server, manager, reverse("drill_log", args=[team.slug])
    )
    expect(boss.get_by_role("heading", name="Drills · Platform")).to_be_visible()
    expect(boss.get_by_role("region", name="Taking part")).to_contain_text(responder.display_name)
    start = boss.get_by_role("region", name="Start a drill")
    start.get_by_label("Scenario").select_option(label="The 3 AM night (built in)")
    start.get_by_role("button", name="Start the drill").click()
    expect(boss.get_by_role("heading", name="Drill The 3 AM night")).to_be_visible()
    expect(boss.get_by_role("status")).to_contain_text("Drill started: The 3 AM night.")
    expect(report_row(boss, "Time to acknowledge").get_by_role("cell").first).to_have_text("—")

    drill = Drill.objects.select_related("incident").get()
    incident = drill.incident
    # The escalation tick (beat runs it every second) pages the responder taking part.
    engine_tick()

    # The responder opens the drill's incident from the incident list.
    responder_context, tab = log_in(browser, live_server, responder, reverse("incident_list"))
    tab.get_by_role("link", name=incident.title).click()
    expect(tab.get_by_role("heading", name=incident.title)).to_be_visible()
    expect(tab.get_by_role("note")).to_contain_text("This incident is a drill")
    tab.get_by_role("button", name="Acknowledge").click()
    expect(tab.get_by_test_id("status")).to_have_text("Acknowledged")

    # The rollback decision: the deploy three minutes before, rolled back.
    tab.get_by_role("region", name="Rollback advice").get_by_role(
        "link", name="Roll back"
    ).first.click()
    expect(tab.get_by_role("heading", name="Roll back")).to_be_visible()
    expect(tab.get_by_role("radio", name="v1.5.2", exact=False)).to_be_checked()
    tab.get_by_role("radio", name="Kubernetes rolling undo").check()
    tab.get_by_role("button", name="Record rollback decision").click()
    expect(tab.get_by_text("Rollback recorded.")).to_be_visible()
    decision = RollbackDecision.objects.get(incident=incident)
    assert decision.decided_by == responder and decision.change.version == "v1.5.2"

    # The manager ends the drill; the report shows both times against their targets.
    boss.reload()
    boss.get_by_role("button", name="End drill").click()
    expect(boss.get_by_role("status")).to_contain_text("Drill ended.")
    expect(boss.get_by_role("button", name="End drill")).to_have_count(0)

    drill.refresh_from_db()
    assert drill.state == DrillState.ENDED
    times = {row["key"]: row for row in drill.report["times"]}
    acknowledge, rollback = times["acknowledge"], times["rollback_decision"]
    assert acknowledge["seconds"] is not None and rollback["seconds"] is not None
    assert acknowledge["target_seconds"] == 300 and acknowledge["within_target"] is True
    assert rollback["seconds"] >= acknowledge["seconds"]
    assert drill.report["acknowledged_by"] == responder.username

    row = report_row(boss, "Time to acknowledge")
    expect(row.get_by_role("cell").nth(0)).to_have_text(duration(acknowledge["seconds"]))
    expect(row.get_by_role("cell").nth(0)).not_to_have_text("—")
    expect(row.get_by_role("cell").nth(1)).to_have_text("within 5 min")
    expect(row.get_by_role("cell").nth(2)).to_have_text("Within target")
    row = report_row(boss, "Time to the rollback decision")
    expect(row.get_by_role("cell").nth(0)).to_have_text(duration(rollback["seconds"]))
    expect(row.get_by_role("cell").nth(0)).not_to_have_text("—")
    expect(boss.get_by_role("region", name="Drill report")).to_contain_text(
        f"acknowledged by {responder.username}"
    )
    responder_context.close()
    manager_context.close()
