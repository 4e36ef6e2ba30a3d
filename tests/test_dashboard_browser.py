"""In a real Chromium on a phone-sized screen: the person paged at 3 AM opens the dashboard,
finds every section by its heading, acknowledges their page with one tap, and never has to
scroll sideways."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from changes.models import ChangeSource
from changes.services import change_record
from checks.models import Check, CheckResult, CheckState
from paging.models import Escalation, EscalationStatus, Page
from paging.services import engine_tick
from postmortems.models import ActionItem, Postmortem, PostmortemStatus
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)
from tests.factories import PASSWORD, IncidentFactory
from tests.test_dashboard import HEADINGS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
# Long words a narrow screen must wrap rather than scroll: a service name, a summary.
LONG_WORD = "checkout-payments-reconciliation-worker-eu-west-1-canary-" * 2


@pytest.fixture
def paged_responder():
    """The team's primary, paged by a firing alert, with something in every other section."""
    team, people = oncall_team()
    primary = people["primary"]
    integration, token = integration_for(team)
    assert post(Client(), integration, am_payload(), token=token).status_code == 202
    engine_tick()
    page = Page.objects.get(user=primary)
    change_record(
        team=team,
        service=LONG_WORD[:100],
        summary=f"Roll out {LONG_WORD}",
        source=ChangeSource.GITHUB,
        version="v1.6.0",
        environment="production",
        author="jordan",
        url=f"https://github.example/acme/checkout/deployments/{LONG_WORD}",
    )
    check = Check.objects.create(
        team=team,
        name="Model API",
        kind="http",
        target="http://127.0.0.1:9/health",
        state=CheckState.DOWN,
        consecutive_failures=4,
    )
    CheckResult.objects.create(dependency_check=check, ok=False, detail="Connection refused")
    earlier = IncidentFactory(title="Tuesday's queue backlog", team=team)
    ActionItem.objects.create(
        incident=earlier,
        team=team,
        title=f"Alert on {LONG_WORD}",
        owner=primary,
        due_date=timezone.localdate() - dt.timedelta(days=4),
    )
    postmortem = Postmortem.objects.create(
        incident=earlier,
        title="Queue backlog on Tuesday",
        status=PostmortemStatus.IN_REVIEW,
        due_at=timezone.now() + dt.timedelta(days=2),
    )
    postmortem.reviewers.add(primary)
    return primary, page


def no_sideways_scroll(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_the_paged_responder_acknowledges_from_the_dashboard_on_a_phone(
    browser, live_server, paged_responder
):
    primary, paged = paged_responder
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(primary.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard", exact=True)).to_be_visible()

    for heading in HEADINGS:
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    pages = page.locator("#dashboard-pages")
    expect(pages.get_by_role("link", name=paged.incident.title)).to_be_visible()
    expect(page.locator("#dashboard-checks").get_by_text("Connection refused")).to_be_visible()
    expect(
        page.locator("#dashboard-reviews").get_by_text("Queue backlog on Tuesday")
    ).to_be_visible()
    assert no_sideways_scroll(page)

    acknowledge = pages.get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_have_count(1)
    acknowledge.click()
    expect(page.get_by_role("status").get_by_text("You acknowledged")).to_be_visible()
    expect(pages.get_by_text("Nothing is paging you.")).to_be_visible()
    expect(pages.get_by_role("button", name="Acknowledge")).to_have_count(0)
    assert no_sideways_scroll(page)

    escalation = Escalation.objects.get(incident=paged.incident)
    assert escalation.status == EscalationStatus.ACKNOWLEDGED
    assert escalation.acknowledged_by == primary
    context.close()
