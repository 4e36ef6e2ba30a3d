"""A person logs in, sees the dashboard shell, logs out, in a real Chromium."""

import pytest
from playwright.sync_api import expect

from accounts import demo as accounts_demo
from oncall import demo as oncall_demo

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def demo_users():
    users = accounts_demo.seed()
    oncall_demo.seed(users=users)
    return users


def log_in(page, base_url, username, password=accounts_demo.DEMO_PASSWORD):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_demo_user_logs_in_sees_the_dashboard_and_logs_out(page, live_server, demo_users):
    log_in(page, live_server.url, "alex")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    for name in ["Dashboard", "Incidents", "On-call", "Runbooks", "Postmortems", "Checks"]:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_text("Platform")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="You are logged out")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Log in to Vigil")).to_be_visible()


def test_a_wrong_password_gets_a_clear_message(page, live_server, demo_users):
    log_in(page, live_server.url, "alex", "not-the-password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")


def test_the_layout_has_no_horizontal_scroll_on_a_phone(browser, live_server, demo_users):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    for path in ["/login/"]:
        page.goto(f"{live_server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    log_in(page, live_server.url, "sam")
    for path in ["/", "/incidents/", "/oncall/", "/checks/", "/profile/"]:
        page.goto(f"{live_server.url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    context.close()


def test_the_page_is_keyboard_navigable(page, live_server, demo_users):
    log_in(page, live_server.url, "alex")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # A fresh load, so focus starts at the top of the document as it does for a person.
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Vigil home")).to_be_focused()
