"""In a real Chromium: a manager opens the team's response report, changes the period, and
sees the table's figures and the chart's text alternative."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from incidents.models import Severity, Status
from teams.models import Role
from tests.factories import PASSWORD, IncidentFactory, TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture(autouse=True)
def _reports_computed_every_request(settings):
    settings.REPORTS_RESPONSE_CACHE_SECONDS = 0


def test_a_manager_changes_the_period_and_reads_the_figures(browser, live_server):
    team = TeamFactory(slug="platform", name="Platform", time_zone="Europe/Berlin")
    member(team, Role.MANAGER, username="morgan", first_name="Morgan")
    for day, services in ((2, ["checkout"]), (3, ["checkout", "api"]), (4, ["api"])):
        declared = dt.datetime(2026, 11, day, 10, 0, tzinfo=dt.UTC)
        IncidentFactory(
            team=team,
            severity=Severity.objects.get(level=2),
            status=Status.RESOLVED,
            started_at=declared,
            declared_at=declared,
            acknowledged_at=declared + dt.timedelta(minutes=4),
            resolved_at=declared + dt.timedelta(minutes=60),
            affected_services=services,
        )
    tab = browser.new_context().new_page()
    tab.goto(f"{live_server.url}/reports/teams/platform/response/")
    tab.get_by_label("Username").fill("morgan")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name="Response report · Platform")).to_be_visible()

    tab.get_by_label("Start").fill("2026-11-01")
    tab.get_by_label("End (included)").fill("2026-11-30")
    tab.get_by_role("button", name="Show report").click()

    services = tab.get_by_role("table", name="Incidents by service (table)")
    expect(services.get_by_role("row", name="checkout 2")).to_be_visible()
    expect(services.get_by_role("row", name="api 2")).to_be_visible()
    summary = tab.get_by_role("region", name="Summary")
    expect(summary.get_by_role("row", name="Incidents 3")).to_be_visible()
    expect(
        summary.get_by_role("row", name="Acknowledged within 5 minutes 100.0% (3 of 3)")
    ).to_be_visible()
    expect(
        tab.get_by_role(
            "img",
            name="Bar chart of incidents by service. api: 2 incidents; checkout: 2 incidents.",
        )
    ).to_be_visible()
    expect(tab.get_by_role("link", name="Download CSV: incidents by service")).to_be_visible()
