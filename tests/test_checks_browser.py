"""In a real Chromium: a manager starts a check from the seed's example, sets up a Redis
check by the form's labels (a bad target first), runs it and sees its history chart."""

import os
import urllib.parse

import pytest
from playwright.sync_api import expect

from checks.models import Check
from teams.models import Role
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


@pytest.fixture
def manager():
    team = TeamFactory(slug="platform", name="Platform")
    return member(team, Role.MANAGER, username="morgan")


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def redis_target() -> str:
    base = urllib.parse.urlsplit(os.environ["REDIS_URL"])
    return f"redis://{base.hostname}:{base.port or 6379}/{base.path.strip('/') or 0}"


def test_a_manager_adds_a_check_runs_it_and_sees_its_history(page, live_server, manager):
    log_in(page, live_server.url, manager.username)
    page.goto(f"{live_server.url}/checks/")
    page.get_by_role("link", name="Add a check").click()
    expect(page.get_by_role("heading", name="Add a check")).to_be_visible()

    # The seed's p95 alert fills in a Prometheus check.
    page.get_by_label("Start from the seed's alert").select_option(
        label="p95 latency above 5 s (AgentHighLatency)"
    )
    page.get_by_role("button", name="Use example").click()
    expect(page.get_by_label("Prometheus query")).to_have_value(
        "histogram_quantile(0.95, rate(agent_response_seconds_bucket[5m]))"
    )
    expect(page.get_by_label("Threshold")).to_have_value("5.0")

    # A Redis PING instead, with a bad regex first: the error is shown in the form.
    target = redis_target()
    page.get_by_label("Name").fill("Platform Redis")
    page.get_by_label("Kind").select_option(label="Redis PING")
    page.get_by_label("Target").fill("redis://127.0.0.1:99999/0")
    page.get_by_role("button", name="Save check").click()
    expect(page.get_by_text("port must be a number from 1 to 65535")).to_be_visible()
    page.get_by_label("Target").fill(target)
    page.get_by_role("button", name="Save check").click()

    expect(page.get_by_role("heading", name="Platform Redis")).to_be_visible()
    expect(page.get_by_role("img", name="No results yet")).to_be_visible()
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_text("Platform Redis passed: PONG.")).to_be_visible()
    expect(
        page.get_by_role("img", name="Latency and outcome of the last 1 results")
    ).to_be_visible()
    history = page.get_by_role("region", name="History")
    expect(history.get_by_role("cell", name="PONG.")).to_be_visible()
    assert Check.objects.get(name="Platform Redis").results.count() == 1

    page.goto(f"{live_server.url}/checks/")
    expect(page.get_by_role("link", name="Platform Redis")).to_be_visible()
