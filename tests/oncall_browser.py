"""What the on-call browser tests share: signing in as a person does (the demo team is the
`oncall_demo` fixture in conftest)."""

import re

from playwright.sync_api import expect

from accounts import demo as accounts_demo


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(accounts_demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=re.compile("Log out", re.I))).to_be_visible()
