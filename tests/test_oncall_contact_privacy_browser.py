"""In a real Chromium: a viewer sees which kinds of contact the engineering lead has, masked;
the lead sees their own number in full."""

import pytest
from playwright.sync_api import expect

from tests.oncall_browser import log_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_viewer_sees_the_leads_phone_masked_and_the_lead_sees_it_whole(
    page, live_server, oncall_demo
):
    users, team = oncall_demo
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
