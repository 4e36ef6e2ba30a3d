"""The panels of the incident page tell the truth after a person's own action and after a
colleague's, on two real web processes, without a reload: the server names the panels an
action changed (in the action's answer and through the live stream)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.models import EventKind, Incident, Severity, Status, TimelineEvent
from teams.models import Role
from tests.factories import TeamFactory, member
from tests.test_incidents_live import incident_page_as, timeline_item

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

# A colleague's page hears through the stream of another process: allow a loaded machine.
ACROSS_PROCESSES_MS = 15_000


@pytest.fixture
def incident():
    team = TeamFactory(slug="platform", name="Platform")
    alex = member(team, Role.RESPONDER, username="alex", first_name="Alex", last_name="Rivera")
    member(team, Role.RESPONDER, username="jordan", first_name="Jordan", last_name="Lee")
    # SEV2 pages the on-call and has its postmortem drafted when resolved.
    return services.incident_declare(
        title="Authentication failures",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=alex,
        page=True,
    )


def panel(page, heading):
    """A panel of the incident page, found by its heading."""
    return page.locator("[data-part]").filter(
        has=page.get_by_role("heading", name=heading, exact=True)
    )


def test_acknowledge_and_resolve_bring_the_paging_and_postmortem_panels_up_to_date_on_both_processes(  # noqa: E501
    browser, web_processes, incident
):
    first, second = web_processes
    alex_ctx, alex = incident_page_as(browser, first.url, incident, "alex")
    jordan_ctx, jordan = incident_page_as(browser, second.url, incident, "jordan")
    pages = (alex, jordan)
    for page in pages:
        page.evaluate("window.__sameDocument = true")
        expect(panel(page, "Paging")).to_contain_text("Escalation: Escalating")
        expect(panel(page, "Paging")).to_contain_text("next step")
        expect(page.get_by_role("region", name="Postmortem")).to_contain_text(
            "The postmortem is written once the incident is resolved"
        )

    alex.get_by_role("button", name="Acknowledge").click()
    for page in pages:
        expect(timeline_item(page, "escalation stopped")).to_have_count(
            1, timeout=ACROSS_PROCESSES_MS
        )
        paging = panel(page, "Paging")
        expect(paging).to_contain_text(
            "Escalation: Acknowledged by Alex Rivera", timeout=ACROSS_PROCESSES_MS
        )
        expect(paging).not_to_contain_text("next step")

    alex.get_by_role("button", name="Resolve").click()
    for page in pages:
        expect(timeline_item(page, "started the postmortem draft")).to_have_count(
            1, timeout=ACROSS_PROCESSES_MS
        )
        postmortem = page.get_by_role("region", name="Postmortem")
        expect(postmortem.get_by_role("link", name="Open postmortem")).to_be_visible(
            timeout=ACROSS_PROCESSES_MS
        )
        expect(postmortem).to_contain_text("Draft")
        expect(postmortem).not_to_contain_text("written once the incident is resolved")
        expect(page.locator("#incident-header [data-testid=status]")).to_have_text("Resolved")

    for page in pages:
        assert page.evaluate("window.__sameDocument") is True  # neither page reloaded
    alex_ctx.close()
    jordan_ctx.close()


def impact_figure(page, name):
    return page.locator("#impact .impact-list > div", has_text=name).locator("dd")


def open_impact_form(page):
    impact = page.locator("#impact")
    impact.locator("summary", has_text="Edit impact").click()
    return impact


def test_a_colleagues_impact_edit_reaches_the_impact_header_and_postmortem_panels_without_a_reload(  # noqa: E501
    browser, web_processes, incident
):
    alex_user = incident.declared_by
    earlier = services.incident_declare(
        title="Login outage last month",
        severity=Severity.objects.get(name="SEV3"),
        team=incident.team,
        by=alex_user,
        affected_services=["auth-api"],
    )
    services.incident_change_status(incident=earlier, status=Status.RESOLVED, by=alex_user)
    first, second = web_processes
    alex_ctx, alex = incident_page_as(browser, first.url, incident, "alex")
    jordan_ctx, jordan = incident_page_as(browser, second.url, incident, "jordan")
    pages = (alex, jordan)
    for page in pages:
        page.evaluate("window.__sameDocument = true")
        expect(impact_figure(page, "Users affected")).to_have_text("—")
        expect(page.get_by_role("region", name="Postmortem")).not_to_contain_text(
            "Similar past incidents"
        )
        # The ticking clocks read as the server words them.
        expect(page.locator("#incident-header [data-ago]")).to_have_text(
            re.compile(r"^(\d+ s|\d+ min( \d+ s)?) ago$")
        )
        expect(page.locator("[data-countdown]")).to_have_text(re.compile(r"^in \d+ min( \d+ s)?$"))

    impact = open_impact_form(alex)
    shown = impact.get_by_label("Impact started at").input_value()
    an_hour_earlier = datetime.strptime(shown, "%Y-%m-%dT%H:%M") - timedelta(hours=1)
    impact.get_by_label("Impact started at").fill(an_hour_earlier.strftime("%Y-%m-%dT%H:%M"))
    impact.get_by_label("Summary").fill("Logins failing for mobile users")
    impact.get_by_label("Users affected").fill("12000")
    impact.get_by_label("Affected services").fill("auth-api, web")
    impact.get_by_role("button", name="Save impact").click()

    expect(timeline_item(alex, "updated the impact")).to_have_count(1)
    started = Incident.objects.get(pk=incident.pk).started_at.astimezone(UTC).isoformat()
    for page in pages:
        expect(timeline_item(page, "updated the impact")).to_have_count(
            1, timeout=ACROSS_PROCESSES_MS
        )
        expect(impact_figure(page, "Users affected")).to_have_text(
            "12000", timeout=ACROSS_PROCESSES_MS
        )
        expect(page.locator("#impact .impact-summary")).to_have_text(
            "Logins failing for mobile users"
        )
        expect(impact_figure(page, "Affected services")).to_have_text("auth-api, web")
        # What depends on the impact follows: the header's start, the similar incidents.
        expect(page.locator("#incident-header .impact-since time")).to_have_attribute(
            "datetime", started, timeout=ACROSS_PROCESSES_MS
        )
        similar = page.get_by_role("region", name="Postmortem")
        expect(
            similar.get_by_role("link", name=f"#{earlier.pk} Login outage last month")
        ).to_be_visible(timeout=ACROSS_PROCESSES_MS)
        expect(page.locator("#incident-header [data-ago]")).to_have_text(
            re.compile(r"^(\d+ s|\d+ min( \d+ s)?) ago$")
        )

    # Saving the form as it now stands changes nothing and tells nobody anything.
    impact = open_impact_form(alex)
    with alex.expect_response(lambda r: r.url.endswith("/impact")) as answer:
        impact.get_by_role("button", name="Save impact").click()
    assert answer.value.status == 200
    assert TimelineEvent.objects.filter(incident=incident, kind=EventKind.IMPACT).count() == 1

    for page in pages:
        assert page.evaluate("window.__sameDocument") is True  # neither page reloaded
    alex_ctx.close()
    jordan_ctx.close()
