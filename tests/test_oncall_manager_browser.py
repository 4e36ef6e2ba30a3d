"""A team's manager in a real Chromium: edits the escalation path and the team settings."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from teams.models import TeamRouting
from tests.oncall_browser import log_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def steps_of(team):
    policy = team.escalation_policies.get()
    return [(s.target_kind, s.user_id, s.wait_minutes) for s in policy.steps.all()]


def test_a_manager_saves_adds_changes_and_removes_escalation_steps(page, live_server, oncall_demo):
    users, team = oncall_demo
    before = steps_of(team)
    log_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/oncall/")
    page.get_by_role("link", name="Platform escalation path").click()
    save = page.get_by_role("button", name="Save escalation path")
    # Saved as it stands, with the blank new step left empty: it is skipped.
    save.click()
    expect(page.get_by_role("status")).to_contain_text("Escalation path of Platform saved.")
    assert steps_of(team) == before

    page.get_by_role("group", name="Step 1").get_by_label("Then wait (minutes)").fill("2")
    page.get_by_role("group", name="Step 2").get_by_label("Remove step 2").check()
    new_step = page.get_by_role("group", name="Step 4 (new, leave empty to skip)")
    new_step.get_by_label("Notify").select_option(label="A person")
    new_step.get_by_label("Person").select_option(label="Riley Chen")
    new_step.get_by_label("Then wait (minutes)").fill("7")
    save.click()
    expect(page.get_by_role("status")).to_contain_text("Escalation path of Platform saved.")
    path = page.get_by_role("region", name="When a page is not acknowledged")
    expect(path.get_by_role("listitem")).to_have_count(3)
    expect(path.get_by_role("listitem").nth(2)).to_contain_text("Riley Chen")
    assert [s[2] for s in steps_of(team)] == [2, before[2][2], 7]
    assert steps_of(team)[2][:2] == ("user", users["riley"].pk)


def test_a_manager_sets_the_team_time_zone_and_business_hours(page, live_server, oncall_demo):
    users, team = oncall_demo
    log_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Platform team settings").click()
    expect(page.get_by_role("heading", name="Team settings · Platform")).to_be_visible()
    page.get_by_label("Time zone", exact=True).select_option("America/New_York")
    page.get_by_role("checkbox", name="Friday").uncheck()
    page.get_by_label("Business hours start").fill("08:00")
    page.get_by_label("Business hours end").fill("07:00")
    page.get_by_role("button", name="Save team settings").click()
    expect(page.get_by_role("alert")).to_have_text("Business hours must end after they start.")
    page.get_by_label("Business hours end").fill("16:30")
    page.get_by_role("button", name="Save team settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings of Platform saved.")
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("America/New_York")
    team.refresh_from_db()
    routing = TeamRouting.objects.get(team=team)
    assert team.time_zone == "America/New_York"
    assert routing.business_days == [0, 1, 2, 3]
    assert (routing.business_start, routing.business_end) == (dt.time(8), dt.time(16, 30))


def test_a_viewer_is_offered_no_team_settings(page, live_server, oncall_demo):
    log_in(page, live_server.url, "casey")
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Your teams")).to_be_visible()
    expect(page.get_by_role("link", name="Platform team settings")).to_have_count(0)
