"""The notification bell updates live, in a real browser against the real ASGI server.

A page delivered to a person shows on their bell within a couple of seconds without a reload;
a hidden tab lets its stream go and catches up when it is shown again.
"""

import time

import pytest
from playwright.sync_api import expect

from paging import delivery
from paging.models import Channel, DeliveryState, InAppNotification, Notification
from teams.models import Role
from tests.factories import TeamFactory, member
from tests.test_incidents_live import log_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def deliver_in_app(user, title):
    """A page to `user` through the real outbox delivery, as a Celery worker runs it."""
    notification = Notification.objects.create(
        key=f"test:{user.pk}:{title}",
        user=user,
        channel=Channel.IN_APP,
        purpose="page",
        target=user.username,
        payload={"title": title, "body": "Checkout error rate at 12%", "url": "/"},
    )
    assert delivery.deliver(notification.pk) == "sent"
    notification.refresh_from_db()
    assert notification.state == DeliveryState.SENT


def bell(page, unread):
    return page.get_by_role("link", name=f"Notifications: {unread} unread")


def set_hidden(page, hidden):
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_a_page_lights_the_bell_without_a_reload_and_a_hidden_tab_catches_up(browser, web_process):
    team = TeamFactory(slug="payments", name="Payments")
    alex = member(team, Role.RESPONDER, username="alex", first_name="Alex", last_name="Rivera")
    page = browser.new_context().new_page()
    log_in(page, web_process.url, "alex")
    # A page with no live part of its own: its bell has a stream of its own.
    page.goto(web_process.url + "/incidents/")
    expect(bell(page, 0)).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    started = time.monotonic()
    deliver_in_app(alex, "[CRITICAL] CheckoutErrors")
    expect(bell(page, 1)).to_be_visible(timeout=3000)
    assert time.monotonic() - started < 3.0
    assert page.evaluate("window.__sameDocument") is True  # no reload happened

    # A hidden tab lets its connection go: nothing arrives until it is shown again.
    with page.expect_event("requestfailed", lambda request: "/bell/stream" in request.url):
        set_hidden(page, True)  # the stream is closed, not merely quiet
    deliver_in_app(alex, "[CRITICAL] PaymentsLatency")
    expect(bell(page, 1)).to_be_visible()
    set_hidden(page, False)
    expect(bell(page, 2)).to_be_visible(timeout=3000)

    # Reading them all (on the notifications page) puts the bell back to zero.
    bell(page, 2).click()
    expect(page.get_by_text("[CRITICAL] PaymentsLatency")).to_be_visible()
    page.get_by_role("button", name="Mark all read").click()
    expect(bell(page, 0)).to_be_visible(timeout=3000)
    assert InAppNotification.objects.filter(user=alex, read_at__isnull=True).count() == 0


def test_the_dashboard_shows_new_incidents_and_the_bell_on_its_one_stream(browser, web_process):
    from incidents import services
    from incidents.models import Severity

    team = TeamFactory(slug="payments", name="Payments")
    alex = member(team, Role.RESPONDER, username="alex", first_name="Alex", last_name="Rivera")
    page = browser.new_context().new_page()
    streams = []
    page.on("request", lambda request: streams.append(request.url) if "stream" in request.url
            or "/live/" in request.url else None)  # fmt: skip
    log_in(page, web_process.url, "alex")
    expect(page.get_by_text("No open incidents. All quiet.")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    services.incident_declare(
        title="Checkout errors", severity=Severity.objects.get(name="SEV2"), team=team, by=alex
    )
    expect(page.get_by_role("link", name="Checkout errors")).to_be_visible(timeout=3000)
    deliver_in_app(alex, "[CRITICAL] CheckoutErrors")
    expect(bell(page, 1)).to_be_visible(timeout=3000)
    assert page.evaluate("window.__sameDocument") is True
    # One connection carries both: the dashboard's, never a second one for the bell.
    assert [url for url in streams if "/live/" in url or "stream" in url] == [
        web_process.url + "/live/?dashboard=1"
    ]
