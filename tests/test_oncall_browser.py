"""On-call in a real Chromium: a swap accepted on My shifts changes "On call now"."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from oncall import services
from oncall.models import Schedule
from oncall.selectors import oncall_at
from tests.oncall_browser import log_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_accepting_a_swap_request_changes_who_is_on_call_now(page, live_server, oncall_demo):
    users, team = oncall_demo
    now = timezone.now()
    primary_now = oncall_at(team=team, at=now)["Primary"][0]
    helper = next(users[n] for n in ("alex", "jordan", "riley") if users[n].pk != primary_now.pk)
    layer = Schedule.objects.get(team=team).layers.get(name="Primary")
    services.swap_request_create(
        layer=layer,
        requester=primary_now,
        recipient=helper,
        start=now - dt.timedelta(minutes=5),
        end=now + dt.timedelta(hours=2),
        reason="Doctor's appointment",
        by=primary_now,
    )
    log_in(page, live_server.url, helper.username)
    page.goto(f"{live_server.url}/oncall/")
    primary_group = page.get_by_role("group", name=f"{team.name} Primary")
    expect(primary_group).to_contain_text(primary_now.display_name)

    page.goto(f"{live_server.url}/oncall/mine/")
    expect(page.get_by_text("Doctor's appointment")).to_be_visible()
    page.get_by_role("button", name="Accept swap").click()
    expect(page.get_by_text("Swap request accepted.")).to_be_visible()

    page.get_by_role("link", name="On call now").first.click()
    primary_group = page.get_by_role("group", name=f"{team.name} Primary")
    expect(primary_group).to_contain_text(helper.display_name)
    expect(primary_group).to_contain_text("override")
    expect(primary_group).not_to_contain_text(primary_now.display_name)


def test_the_calendar_places_shift_blocks_and_pages_over_htmx(page, live_server, oncall_demo):
    users, team = oncall_demo
    schedule = Schedule.objects.get(team=team)
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}/oncall/schedules/{schedule.pk}/")
    block = page.locator(".cal-block").first
    expect(block).to_be_visible()
    assert page.evaluate("document.querySelector('.cal-block').style.left") != ""
    heading = page.locator("#cal-heading")
    before = heading.inner_text()
    page.get_by_role("link", name="Next week").click()
    expect(heading).not_to_have_text(before)
    assert page.url.count("date=") == 1  # pushed URL, also a real href
    # The new week's blocks are placed too (a locator assertion: the page's CSP forbids the
    # string evaluation wait_for_function polls with).
    expect(page.locator(".cal-block").first).to_have_attribute("style", re.compile(r"left:"))
    page.get_by_role("link", name="Month", exact=True).click()
    expect(page.locator(".cal-month-grid")).to_be_visible()


def test_on_call_pages_fit_a_phone(browser, live_server, oncall_demo):
    users, team = oncall_demo
    schedule = Schedule.objects.get(team=team)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server.url, "sam")
    for path in [
        "/oncall/",
        "/oncall/mine/",
        f"/oncall/schedules/{schedule.pk}/",
        f"/oncall/schedules/{schedule.pk}/?view=month",
        f"/oncall/schedules/{schedule.pk}/edit/",
        f"/oncall/schedules/{schedule.pk}/fairness/",
    ]:
        page.goto(f"{live_server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    context.close()


def test_the_week_calendars_day_labels_stand_apart_on_a_390px_phone(
    browser, live_server, oncall_demo
):
    users, team = oncall_demo
    schedule = Schedule.objects.get(team=team)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server.url, "alex")
    page.goto(f"{live_server.url}/oncall/schedules/{schedule.pk}/?date=2026-11-30")
    labels = page.locator(".cal-days > li")
    expect(labels).to_have_count(7)
    expect(labels.first).to_have_text(re.compile(r"^\s*Mon\s+30\s*$"))
    boxes = [labels.nth(i).bounding_box() for i in range(7)]
    for left, right in zip(boxes, boxes[1:], strict=False):
        assert left["x"] + left["width"] < right["x"], (left, right)  # a gap between days
    # Every label's text fits its own column: nothing spills into the next day's.
    spills = labels.evaluate_all(
        "els => els.flatMap(li => [...li.children]).filter(s => s.scrollWidth > s.clientWidth + 1 "
        "|| s.getBoundingClientRect().right > s.parentElement.getBoundingClientRect().right + 1)"
        ".map(s => s.textContent)"
    )
    assert spills == []
    assert "Mon 30Tue" not in page.locator(".cal-days").inner_text()
    context.close()


def test_a_manager_previews_an_edit_and_a_missing_dst_time_is_refused(
    page, live_server, oncall_demo
):
    users, team = oncall_demo
    schedule = Schedule.objects.get(team=team)
    log_in(page, live_server.url, "sam")
    page.goto(f"{live_server.url}/oncall/schedules/{schedule.pk}/edit/")
    page.get_by_role("button", name="Preview next four weeks").click()
    expect(
        page.get_by_role("heading", name="Preview: the next four weeks (not saved yet)")
    ).to_be_visible()
    page.get_by_label("Handoff day (weekly)").first.select_option(label="Sunday")
    page.get_by_label("Handoff time").first.fill("02:30")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("alert").first).to_contain_text("02:30 does not exist in Europe/Berlin")
    schedule.refresh_from_db()
    assert schedule.layers.get(name="Primary").handoff_weekday == 0
