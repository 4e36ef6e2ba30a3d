"""In a real Chromium: an alert's incident offers its runbook, a responder ticks a step, the
timeline shows it; runbook pages fit a phone; code blocks have copy buttons."""

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from accounts import demo as accounts_demo
from alerts.models import AlertGroup, IntegrationKind
from alerts.services import integration_create
from incidents.models import EventKind, TimelineEvent
from oncall import demo as oncall_demo
from runbooks import demo as runbooks_demo
from runbooks.models import StepCheck

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def demo():
    users = accounts_demo.seed()
    team = oncall_demo.seed(users=users)
    runbooks_demo.seed(team=team, users=users)
    return team, users


# The seed's prometheus-rules.yaml AgentHighErrorRate rule, as Alertmanager posts it.
SEED_ALERT = {
    "receiver": "vigil",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "AgentHighErrorRate",
                "severity": "critical",
                "oncall": "page",
                "job": "agent-api",
            },
            "annotations": {
                "summary": "Agent error rate >10%",
                "description": "Error rate is 14.2%",
                "runbook": "https://wiki.company.com/runbooks/high-error-rate",
            },
            "startsAt": "2026-11-26T15:16:23.124Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
            "fingerprint": "agenthigherrorrate-1",
        }
    ],
    "groupLabels": {"alertname": "AgentHighErrorRate"},
    "commonLabels": {"alertname": "AgentHighErrorRate", "severity": "critical"},
    "commonAnnotations": {"summary": "Agent error rate >10%"},
    "externalURL": "http://alertmanager.example",
    "version": "4",
    "groupKey": '{}:{alertname="AgentHighErrorRate"}',
    "truncatedAlerts": 0,
}


@pytest.fixture
def incident(demo, live_server):
    """Alert → incident through Vigil's own Alertmanager webhook, over real HTTP."""
    team, users = demo
    integration, token = integration_create(
        team=team, kind=IntegrationKind.ALERTMANAGER, name="Prometheus"
    )
    request = urllib.request.Request(
        f"{live_server.url}/alerts/webhook/{integration.public_id}/",
        data=json.dumps(SEED_ALERT).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
    incident = AlertGroup.objects.get(integration=integration).incident
    assert incident is not None
    alert = TimelineEvent.objects.get(incident=incident, kind=EventKind.ALERT)
    assert alert.data["alertname"] == "AgentHighErrorRate"
    return incident


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(accounts_demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_responder_ticks_a_step_of_the_offered_runbook_and_the_timeline_shows_it(
    page, live_server, incident
):
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    panel = page.get_by_role("region", name="Runbooks")
    expect(panel).to_contain_text("High Error Rate")
    expect(panel).to_contain_text("matches alert AgentHighErrorRate")

    panel.get_by_role("link", name="Open High Error Rate beside the timeline").click()
    expect(page.get_by_role("heading", name="Runbooks for #")).to_be_visible()
    steps = page.get_by_role("list", name="Steps of High Error Rate")
    steps.get_by_role("button", name="Tick Step 2 — Check Error Patterns").click()

    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).to_contain_text("Step 2 — Check Error Patterns: done by Alex Rivera")
    expect(steps).to_contain_text("Done: Step 2 — Check Error Patterns")
    expect(page.get_by_text("1 of")).to_be_visible()

    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.RUNBOOK_STEP)
    assert event.body == "Step 2 — Check Error Patterns: done by Alex Rivera"
    assert event.author.username == "alex"
    assert StepCheck.objects.get(incident=incident).step_key == "step-2-check-error-patterns"

    # Ticked on reload, on this page and on the incident page.
    page.reload()
    expect(page.get_by_role("button", name="Tick Step 2 — Check Error Patterns")).to_have_count(0)
    expect(page.get_by_role("button", name="Tick Step 1 — Check Recent Changes")).to_be_visible()
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    expect(page.get_by_role("region", name="Runbooks")).to_contain_text(
        "Done: Step 2 — Check Error Patterns"
    )
    # The runbook lists where it was used.
    page.goto(f"{live_server.url}/runbooks/high-error-rate/")
    usage = page.get_by_role("region", name="Used on incidents")
    expect(usage).to_contain_text(incident.title)


def test_a_step_can_be_ticked_without_javascript(browser, live_server, incident):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server.url, "jordan")
    page.goto(f"{live_server.url}/runbooks/incidents/{incident.pk}/?runbook=high-error-rate")
    page.get_by_role("button", name="Tick Step 1 — Check Recent Changes").click()
    expect(page.get_by_role("list", name="Timeline")).to_contain_text(
        "Step 1 — Check Recent Changes: done by Jordan Lee"
    )
    context.close()


def test_a_viewer_sees_the_steps_but_cannot_tick_them(page, live_server, incident):
    log_in(page, live_server.url, "casey")
    page.goto(f"{live_server.url}/runbooks/incidents/{incident.pk}/")
    expect(page.get_by_role("list", name="Steps of High Error Rate")).to_contain_text(
        "Step 2 — Check Error Patterns"
    )
    expect(page.get_by_role("button", name="Tick Step 2 — Check Error Patterns")).to_have_count(0)


def test_runbook_pages_have_no_horizontal_scroll_on_a_390px_phone(browser, live_server, incident):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server.url, "sam")
    for path in [
        "/runbooks/",
        "/runbooks/high-error-rate/",
        "/runbooks/debugging-runaway-agent/",
        "/runbooks/deployment-rollback/",
        "/runbooks/high-error-rate/revisions/",
        "/runbooks/new/",
        f"/runbooks/incidents/{incident.pk}/",
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    # Long command lines scroll inside their own box instead.
    page.goto(f"{live_server.url}/runbooks/high-error-rate/")
    widths = page.evaluate(
        "[...document.querySelectorAll('.rb-body pre')].map(p => [p.scrollWidth, p.clientWidth])"
    )
    assert any(scroll > client for scroll, client in widths)
    assert all(client <= 390 for _, client in widths)
    context.close()


def test_every_code_block_has_a_copy_button_that_copies_it(browser, live_server, demo):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}/runbooks/high-error-rate/")
    blocks = page.locator(".rb-body pre").count()
    assert blocks == 7
    expect(page.get_by_role("button", name="Copy code block", exact=False)).to_have_count(blocks)
    button = page.get_by_role("button", name="Copy code block 1", exact=True)
    button.click()
    expect(button).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("# Check recent deployments\nkubectl rollout history")
    context.close()


def test_the_table_of_contents_links_to_heading_anchors(page, live_server, demo):
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}/runbooks/high-error-rate/")
    contents = page.get_by_role("navigation", name="Contents")
    contents.get_by_role("link", name="Step 3: Check Dependencies").click()
    assert page.url.endswith("#rb-step-3-check-dependencies")
    expect(page.get_by_role("heading", name="Step 3: Check Dependencies")).to_be_in_viewport()


def test_a_step_ticks_from_the_panel_on_the_incident_page(page, live_server, incident):
    log_in(page, live_server.url, "riley")
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    panel = page.get_by_role("region", name="Runbooks")
    panel.get_by_role("button", name="Tick Step 1 — Check Recent Changes").click()
    expect(panel).to_contain_text("Done: Step 1 — Check Recent Changes")
    expect(panel).to_contain_text("1 of 6 steps done")
    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.RUNBOOK_STEP)
    assert event.body == "Step 1 — Check Recent Changes: done by Riley Chen"


def test_a_step_ticked_on_the_incident_page_shows_live_to_a_colleague_without_console_errors(
    browser, web_process, incident
):
    pages, messages = [], []
    for username in ("alex", "riley"):
        context = browser.new_context()
        page = context.new_page()
        page.on("console", lambda message: messages.append(message.text))
        log_in(page, web_process.url, username)
        with page.expect_response(lambda r: "/events/stream" in r.url):
            page.goto(f"{web_process.url}/incidents/{incident.pk}/")
        pages.append(page)
    ticker, watcher = pages

    ticker.get_by_role("region", name="Runbooks").get_by_role(
        "button", name="Tick Step 1 — Check Recent Changes"
    ).click()
    expect(ticker.get_by_role("region", name="Runbooks")).to_contain_text(
        "Done: Step 1 — Check Recent Changes"
    )
    expect(timeline_of(ticker)).to_contain_text("Step 1 — Check Recent Changes: done by Alex")

    # The colleague's page follows without a reload: the timeline and the checklist.
    panel = watcher.get_by_role("region", name="Runbooks")
    expect(timeline_of(watcher)).to_contain_text("Step 1 — Check Recent Changes: done by Alex")
    expect(panel).to_contain_text("Done: Step 1 — Check Recent Changes")
    expect(panel).to_contain_text("1 of 6 steps done")
    expect(panel.get_by_role("button", name="Tick Step 1 — Check Recent Changes")).to_have_count(0)
    # And the colleague can tick the next one from the refreshed panel.
    panel.get_by_role("button", name="Tick Step 2 — Check Error Patterns").click()
    expect(ticker.get_by_role("region", name="Runbooks")).to_contain_text("2 of 6 steps done")

    assert not [m for m in messages if "oobErrorNoTarget" in m], messages
    for page in pages:
        page.context.close()


def timeline_of(page):
    return page.locator("#timeline-list")
