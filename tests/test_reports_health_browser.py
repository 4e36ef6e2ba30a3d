"""In a real Chromium: a manager opens the team's on-call health page and sees every person,
their interruptions by time of day, and the one flagged above the team's median."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from paging.models import Escalation, Notification, Page, StepRun
from teams.models import Role
from tests.factories import PASSWORD, IncidentFactory, TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def paged(team, person, when: dt.datetime):
    incident = IncidentFactory(team=team, declared_at=when, started_at=when)
    escalation = Escalation.objects.create(incident=incident, team=team, started_at=when)
    run = StepRun.objects.create(
        escalation=escalation, number=1, position=0, scheduled_at=when, executed_at=when,
        lateness=0,
    )  # fmt: skip
    page_row = Page.objects.create(
        escalation=escalation, incident=incident, step_run=run, user=person, created_at=when
    )
    Notification.objects.create(
        key=f"page:{page_row.pk}:sms", incident=incident, page=page_row, user=person, step=1,
        channel="sms", purpose="page", target="+4915100000000", payload={}, state="sent",
        sent_at=when,
    )  # fmt: skip


@pytest.fixture
def crew():
    team = TeamFactory(slug="platform", name="Platform")
    member(team, Role.MANAGER, username="morgan", first_name="Morgan", last_name="Lee")
    bea = member(team, Role.RESPONDER, username="bea", first_name="Bea", last_name="Schulz")
    bea.time_zone = "Europe/Berlin"
    bea.save(update_fields=["time_zone"])
    alex = member(team, Role.RESPONDER, username="alex", first_name="Alex", last_name="Rivera")
    # Bea: three nights in Berlin (23:30 CEST) and one afternoon; Alex: one afternoon (UTC).
    for day in (6, 7, 8):
        paged(team, bea, dt.datetime(2026, 10, day, 21, 30, tzinfo=dt.UTC))
    paged(team, bea, dt.datetime(2026, 10, 9, 12, 0, tzinfo=dt.UTC))
    paged(team, alex, dt.datetime(2026, 10, 9, 13, 0, tzinfo=dt.UTC))
    return team


def test_a_manager_sees_the_people_and_the_flag(browser, live_server, crew):
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{live_server.url}/reports/teams/platform/health/?start=2026-10-01&end=2026-10-31")
    tab.get_by_label("Username").fill("morgan")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()

    expect(tab.get_by_role("heading", name="On-call health · Platform")).to_be_visible()
    people = tab.get_by_role("region", name="People")
    for name in ("Morgan Lee", "Bea Schulz", "Alex Rivera"):
        expect(people.get_by_role("rowheader", name=name)).to_be_visible()
    bea = people.get_by_role("row").filter(has=tab.get_by_role("rowheader", name="Bea Schulz"))
    expect(bea.get_by_role("cell")).to_have_text(
        ["Europe/Berlin", "4", "1", "0", "3", "0.0", "0", "Above 2× the median: interruptions, "
         "sleep-hour interruptions"]
    )  # fmt: skip
    alex = people.get_by_role("row").filter(has=tab.get_by_role("rowheader", name="Alex Rivera"))
    expect(alex.get_by_role("cell").last).to_have_text("—")
    expect(people.get_by_role("status")).to_have_text("1 of 3 flagged.")

    tab.get_by_label("Flag above the median times").fill("5")
    tab.get_by_role("button", name="Show health").click()
    expect(people.get_by_role("status")).to_have_text("Nobody is flagged.")
    context.close()
