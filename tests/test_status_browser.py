"""In a real Chromium: the incident's communications lead writes an update from the
Identified template, publishes it with a component's status, and the public status page,
read by someone signed out, shows it, and never the incident's internal title."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services as incidents
from incidents.models import Severity
from status.models import Component, ComponentGroup, StatusPage, StatusUpdate
from teams.models import Role
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

INTERNAL_TITLE = "[CRITICAL] checkout-api 5xx on pod checkout-7f9c"


@pytest.fixture
def incident():
    team = TeamFactory(slug="platform", name="Platform")
    commander = member(team, Role.RESPONDER, username="alex", first_name="Alex")
    riley = member(team, Role.RESPONDER, username="riley", first_name="Riley")
    page = StatusPage.objects.create(slug="acme", title="Acme status", team=team, is_default=True)
    api = ComponentGroup.objects.create(page=page, name="API")
    Component.objects.create(page=page, group=api, name="Checkout API")
    Component.objects.create(page=page, name="Dashboard")
    incident = incidents.incident_declare(
        title=INTERNAL_TITLE,
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=commander,
    )
    incident.summary = "Card payments fail for about 30% of checkouts"
    incident.started_at = timezone.now() - timedelta(minutes=20)
    incident.save(update_fields=["summary", "started_at"])
    incidents.incident_assign_role(incident=incident, role="comms_lead", user=riley, by=commander)
    return incident


def test_the_communications_lead_publishes_from_a_template_and_the_public_page_shows_it(
    browser, live_server, incident
):
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(f"{live_server.url}{incident.get_absolute_url()}")
    tab.get_by_label("Username").fill("riley")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    expect(tab.get_by_role("heading", name=INTERNAL_TITLE)).to_be_visible()

    comms = tab.get_by_role("region", name="Communications")
    expect(comms).to_contain_text("Nothing about this incident is on a public status page")
    comms.get_by_role("link", name="Identified").click()

    expect(tab.get_by_role("heading", name="Status update")).to_be_visible()
    text = tab.get_by_label("Update (Identified)")
    expect(text).to_have_value(
        re.compile(r"^We have identified the cause of Card payments fail for about 30%")
    )
    tab.get_by_role("radio", name="Public, on the status page Acme status").check()
    tab.get_by_label("Public title").fill("Card payments failing")
    tab.get_by_label("Impact").select_option(label="Major")
    tab.get_by_label("API · Checkout API").select_option(label="Partial outage")
    tab.get_by_role("button", name="Post update").click()

    expect(tab.get_by_text("Status update published on Acme status.")).to_be_visible()
    comms = tab.get_by_role("region", name="Communications")
    expect(comms).to_contain_text("as “Card payments failing”: Identified")
    timeline = tab.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("Riley")
    expect(timeline).to_contain_text("(Identified, public, on Acme status)")

    update = StatusUpdate.objects.get()
    assert update.posted_by.username == "riley" and update.is_public

    # Someone signed out reads the public page.
    public = browser.new_context().new_page()
    public.goto(f"{live_server.url}/status/")
    expect(public.get_by_role("heading", name="Acme status")).to_be_visible()
    expect(public.get_by_text("Card payments failing").first).to_be_visible()
    expect(public.get_by_text("We have identified the cause").first).to_be_visible()
    expect(public.get_by_text("Partial outage").first).to_be_visible()
    expect(public.get_by_text(INTERNAL_TITLE)).to_have_count(0)
    context.close()
