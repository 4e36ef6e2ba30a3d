"""In a real Chromium: a viewer sees which kinds of contact the engineering lead has, masked;
the lead sees their own number in full."""

import pytest
from django.db import transaction
from playwright.sync_api import expect

from accounts import demo as accounts_demo
from oncall import demo as oncall_demo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def demo():
    with transaction.atomic():
        users = accounts_demo.seed()
        team = oncall_demo.seed(users=users)
    return users, team


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(accounts_demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_viewer_sees_the_leads_phone_masked_and_the_lead_sees_it_whole(page, live_server, demo):
    users, team = demo
    sam = users["sam"]
    log_in(page, live_server.url, "casey")
    page.goto(f"{live_server.url}/oncall/")
    lead = page.get_by_role("group", name=f"{team.name} engineering lead")
    reach = lead.get_by_role("list", name=f"How to reach {sam}")
    expect(reach.get_by_role("listitem").filter(has_text="Phone call ····0958")).to_be_visible()
    expect(reach.get_by_role("link")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("7946")

    page.context.clear_cookies()
    log_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/oncall/")
    reach = page.get_by_role("group", name=f"{team.name} engineering lead").get_by_role(
        "list", name=f"How to reach {sam}"
    )
    expect(reach.get_by_role("link", name="+44 20 7946 0958")).to_be_visible()
