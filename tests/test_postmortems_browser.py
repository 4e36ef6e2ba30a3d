"""Postmortems in a real Chromium: concurrent edits, manager approval, the incident panel,
inline action item status, and the phone layout."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from accounts import demo as accounts_demo
from incidents.models import Severity, Status
from incidents.services import incident_change_status, incident_declare
from oncall import demo as oncall_demo
from postmortems import services
from postmortems.models import ActionItem, ActionItemStatus, Postmortem, Section, SectionKey

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def demo_team():
    users = accounts_demo.seed()
    team = oncall_demo.seed(users=users)
    return team, users


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(accounts_demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def resolved(team, by, *, level=2, title="Login failures after deploy"):
    incident = incident_declare(
        title=title, severity=Severity.objects.get(level=level), team=team, by=by
    )
    incident_change_status(incident=incident, status=Status.RESOLVED, by=by)
    return incident


def test_two_people_edit_the_same_section_and_the_second_save_is_refused_with_both_versions(
    browser, live_server, demo_team
):
    team, users = demo_team
    postmortem = resolved(team, users["alex"]).postmortems.get()
    url = f"{live_server.url}{postmortem.get_absolute_url()}"
    first, second = browser.new_context(), browser.new_context()
    alex, jordan = first.new_page(), second.new_page()
    log_in(alex, live_server.url, "alex")
    log_in(jordan, live_server.url, "jordan")
    alex.goto(url)
    jordan.goto(url)

    alex.get_by_label("Root Cause (Markdown)").fill("The JWT change crashed on expired tokens.")
    jordan.get_by_label("Root Cause (Markdown)").fill("The canary ran for five minutes only.")
    alex.get_by_role("button", name="Save Root Cause").click()
    expect(alex.locator("#section-root_cause").get_by_text("Saved (version 2).")).to_be_visible()

    jordan.get_by_role("button", name="Save Root Cause").click()
    section = jordan.locator("#section-root_cause")
    expect(section.get_by_role("alert")).to_contain_text("Not saved")
    expect(section.get_by_label("Their version")).to_have_text(
        "The JWT change crashed on expired tokens."
    )
    expect(section.get_by_label("Your version")).to_have_text(
        "The canary ran for five minutes only."
    )
    expect(section.get_by_label("Root Cause (Markdown)")).to_have_value(
        "The canary ran for five minutes only."
    )
    saved = Section.objects.get(postmortem=postmortem, key=SectionKey.ROOT_CAUSE)
    assert (saved.body, saved.version) == ("The JWT change crashed on expired tokens.", 2)

    # Jordan merges both and saves on top of the version now shown.
    section.get_by_label("Root Cause (Markdown)").fill(
        "The JWT change crashed on expired tokens. The canary ran for five minutes only."
    )
    jordan.get_by_role("button", name="Save Root Cause").click()
    expect(jordan.locator("#section-root_cause").get_by_text("Saved (version 3).")).to_be_visible()
    first.close()
    second.close()


def test_a_manager_approves_in_the_browser_and_reviewed_by_shows_the_name(
    page, live_server, demo_team
):
    team, users = demo_team
    postmortem = resolved(team, users["alex"]).postmortems.get()
    services.postmortem_submit_for_review(postmortem=postmortem, by=users["alex"])
    log_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/postmortems/queue/")
    page.get_by_role("link", name="Login failures after deploy").click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved.")
    expect(page.locator(".pm-footer")).to_contain_text("Reviewed by: Sam Okafor")
    expect(page.get_by_text("Approved by Sam Okafor on")).to_be_visible()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("button", name="Open a new revision")).to_be_visible()


def test_a_responder_generates_the_postmortem_from_the_incident_page(page, live_server, demo_team):
    team, users = demo_team
    incident = resolved(team, users["alex"], level=3, title="Slow search")
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}{incident.get_absolute_url()}")
    page.get_by_label("Timeline from").select_option("all")
    page.get_by_role("button", name="Generate postmortem").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Incident Postmortem: " + incident.started_at.astimezone(dt.UTC).strftime("%Y-%m-%d")
    )
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.timeline_source == "all"
    page.goto(f"{live_server.url}{incident.get_absolute_url()}")
    expect(page.get_by_role("link", name="Open postmortem")).to_be_visible()


def test_an_action_items_status_changes_inline(page, live_server, demo_team):
    team, users = demo_team
    incident = resolved(team, users["alex"], level=3)
    item = services.action_item_create(
        incident=incident,
        title="Add canary alerts",
        owner=users["alex"],
        due_date=dt.date.today() + dt.timedelta(days=2),
        priority="P1",
        by=users["alex"],
    )
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}/postmortems/action-items/?mine=1")
    page.get_by_label("Status of Add canary alerts").select_option("done")
    expect(page.locator(f"#item-{item.pk}")).to_have_class("pm-just-saved")
    item.refresh_from_db()
    assert item.status == ActionItemStatus.DONE
    page.reload()
    expect(page.get_by_label("Status of Add canary alerts")).to_have_value("done")
    expect(page.get_by_role("cell", name="100%")).to_be_visible()


def test_postmortem_pages_fit_a_phone(browser, live_server, demo_team):
    team, users = demo_team
    postmortem = resolved(team, users["alex"]).postmortems.get()
    ActionItem.objects.create(
        incident=postmortem.incident,
        team=team,
        title="A long action item title that should wrap on a small phone screen nicely",
        owner=users["alex"],
        due_date=dt.date.today(),
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server.url, "sam")
    for path in [
        postmortem.get_absolute_url(),
        "/postmortems/",
        "/postmortems/queue/",
        "/postmortems/action-items/",
        f"/postmortems/{postmortem.pk}/print/",
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    context.close()


def test_the_preview_follows_typing_and_a_draft_saves_itself(page, live_server, demo_team):
    team, users = demo_team
    postmortem = resolved(team, users["alex"]).postmortems.get()
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}{postmortem.get_absolute_url()}")
    editor = page.get_by_label("What Went Wrong (Markdown)")
    editor.fill("")
    editor.press_sequentially("- Alex forgot the **canary**", delay=20)
    preview = page.locator("#preview-went_wrong")
    expect(preview.locator("strong", has_text="canary")).to_be_visible()
    expect(preview.get_by_role("note", name="Blameless check")).to_contain_text("forgot")
    expect(page.locator("#autosave-went_wrong")).to_contain_text(
        "Saved automatically", timeout=10_000
    )
    saved = Section.objects.get(postmortem=postmortem, key=SectionKey.WENT_WRONG)
    assert saved.body == "- Alex forgot the **canary**"
    # The autosave moved the version on: a manual save right after is not a conflict.
    editor.press_sequentially(" period", delay=20)
    page.get_by_role("button", name="Save What Went Wrong").click()
    expect(page.locator("#section-went_wrong").get_by_text("Saved (version 3).")).to_be_visible()
