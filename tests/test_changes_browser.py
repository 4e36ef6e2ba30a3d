"""The 3 AM path on a 390×844 phone, in a real Chromium: from the page's notification link to
Acknowledge, then on the incident page the runbook, the recent changes and the rollback
advice each one tap away, and a rollback decision recorded."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from changes.models import ChangeSource, RollbackDecision
from changes.services import change_record
from incidents.models import EventKind
from paging.messages import ack_token
from paging.models import Page
from paging.services import engine_tick
from runbooks.models import Runbook
from tests.alerts_fixtures import am_payload, integration_for, oncall_team
from tests.factories import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def paged(live_server):
    """A deploy went out half an hour ago; then the seed's alert paged the primary."""
    import json
    import urllib.request

    team, people = oncall_team()
    Runbook.objects.create(
        title="High Error Rate",
        slug="high-error-rate",
        team=team,
        body="## Step 1 — Check recent deploys\n\nLook.\n",
        alert_names=["AgentHighErrorRate"],
    )
    change_record(
        team=team,
        service="agent-api",
        summary="Deploy v1.5.2 (new auth middleware)",
        version="v1.5.2",
        previous_version="v1.5.1",
        environment="production",
        author="jordan",
        source=ChangeSource.API,
        occurred_at=timezone.now() - timedelta(minutes=30),
    )
    integration, token = integration_for(team)
    payload = am_payload()
    payload["alerts"][0]["startsAt"] = (timezone.now() - timedelta(minutes=2)).isoformat()
    request = urllib.request.Request(
        f"{live_server.url}/alerts/webhook/{integration.public_id}/",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    engine_tick()
    page = Page.objects.get()
    return page, people


def no_horizontal_scroll(page):
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > document.documentElement.clientWidth + 1).slice(-3).map(e => e.outerHTML.slice(0, 120))"
    )
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), (page.url, wide)


def test_from_the_page_link_to_acknowledge_changes_advice_and_a_rollback_on_a_phone(
    browser, live_server, paged
):
    page_row, people = paged
    incident = page_row.incident
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()

    # The link in the text message: acknowledge with one tap, no sign-in.
    phone.goto(f"{live_server.url}/paging/ack/{ack_token(page_row)}/")
    no_horizontal_scroll(phone)
    phone.get_by_role("button", name="Acknowledge").click()
    expect(phone.get_by_text("You acknowledged")).to_be_visible()
    phone.get_by_role("link", name="Open the incident").click()

    # Signing in leads on to the incident.
    phone.get_by_label("Username").fill(people["primary"].username)
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_role("button", name="Log in").click()
    expect(phone.get_by_role("heading", name=incident.title)).to_be_visible()
    no_horizontal_scroll(phone)
    jumps = phone.get_by_role("navigation", name="On this incident")

    jumps.get_by_role("link", name="Runbook").click()
    expect(phone.get_by_role("region", name="Runbooks")).to_be_in_viewport()
    expect(phone.get_by_role("region", name="Runbooks")).to_contain_text("High Error Rate")

    jumps.get_by_role("link", name="Recent changes").click()
    changes = phone.get_by_role("region", name="Recent changes")
    expect(changes).to_be_in_viewport()
    expect(changes).to_contain_text("Likely suspect")
    expect(changes).to_contain_text("agent-api v1.5.2")
    expect(changes).to_contain_text("min before the impact started")

    jumps.get_by_role("link", name="Rollback advice").click()
    advice = phone.get_by_role("region", name="Rollback advice")
    expect(advice).to_be_in_viewport()
    # No Prometheus is set: the advice comes from the responder's answers.
    expect(advice.get_by_role("status")).to_contain_text("Not enough to say")
    advice.get_by_role("group", name="Is there a user-facing bug?").get_by_label("Yes").check()
    advice.get_by_role("button", name="Save answers").click()
    expect(advice.get_by_role("status")).to_contain_text("Roll back")
    no_horizontal_scroll(phone)

    # The decision: the suspect change, Kubernetes rolling undo, its commands filled in.
    advice.get_by_role("link", name="Roll back").first.click()
    expect(phone.get_by_role("heading", name="Roll back")).to_be_visible()
    expect(phone.get_by_role("radio", name="agent-api v1.5.2", exact=False)).to_be_checked()
    expect(
        phone.get_by_text("kubectl rollout undo deployment/agent-api -n production").first
    ).to_be_visible()
    no_horizontal_scroll(phone)
    phone.get_by_role("radio", name="Kubernetes rolling undo").check()
    phone.get_by_role("button", name="Record rollback decision").click()

    expect(phone.get_by_role("heading", name=incident.title)).to_be_visible()
    expect(phone.get_by_text("Rollback recorded.")).to_be_visible()
    timeline = phone.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("Rollback decided by")
    expect(timeline).to_contain_text("Vigil opened the post-rollback checklist")
    expect(phone.get_by_role("region", name="Rollback advice")).to_contain_text("Recovery watch")
    no_horizontal_scroll(phone)

    decision = RollbackDecision.objects.get()
    assert decision.decided_by == people["primary"]
    assert decision.change.version == "v1.5.2"
    assert decision.advice["recommendation"] == "rollback"
    assert incident.events.filter(kind=EventKind.ROLLBACK).count() == 1
    context.close()
