"""Engineers on one incident in real browsers, against the real ASGI server.

Two uvicorn processes share the test database, as several web hosts do in production: what
one person posts through the first reaches a colleague connected to the second within a
second, without a reload, and a colleague whose connection drops gets what was missed, once.
"""

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from incidents import services
from incidents.models import EventKind, Severity, Status, TimelineEvent
from teams.models import Role
from tests import celery_worker
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
PORTS = range(18300, 18400)


def free_port(exclude=()):
    for port in PORTS:
        if port in exclude:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18300-18399")


class WebProcess:
    """One `uvicorn vigil.asgi:application` process on the test database."""

    def __init__(self, port):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="vigil-web-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self, timeout=30, attempts=5):
        env = {
            **os.environ,
            "DATABASE_URL": celery_worker.test_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CONN_MAX_AGE": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_ALLOW_ASYNC_UNSAFE": "",
        }
        cmd = [
            sys.executable, "-m", "uvicorn", "vigil.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--timeout-graceful-shutdown", "1", "--no-access-log",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        # Ready when this process says it listens (a connection alone could reach another
        # process holding the port: then this one failed to bind, and tries the next port).
        ready = f"Uvicorn running on {self.url}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                if "address already in use" in output and attempts > 1:
                    self.port = free_port(exclude={self.port})
                    self.url = f"http://127.0.0.1:{self.port}"
                    return self.start(timeout=timeout, attempts=attempts - 1)
                raise RuntimeError(output)
            if ready in self.output():
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), 0.2),
                ):
                    return self
            time.sleep(0.1)
        raise RuntimeError("uvicorn did not start:\n" + self.output())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def output(self):
        return Path(self.log.name).read_text()


@pytest.fixture
def incident():
    team = TeamFactory(slug="platform", name="Platform")
    alex = member(team, Role.RESPONDER, username="alex", first_name="Alex", last_name="Rivera")
    member(team, Role.RESPONDER, username="jordan", first_name="Jordan", last_name="Lee")
    return services.incident_declare(
        title="Authentication failures",
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        by=alex,
    )


def log_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def open_incident(page, base_url, incident):
    with page.expect_response(lambda r: "/events/stream" in r.url):
        page.goto(f"{base_url}{incident.get_absolute_url()}")


def incident_page_as(browser, base_url, incident, username="alex"):
    """A new browser context signed in as username, on the incident's page with its live
    stream connected."""
    context = browser.new_context()
    page = context.new_page()
    log_in(page, base_url, username)
    open_incident(page, base_url, incident)
    return context, page


def post_note(page, text):
    box = page.get_by_role("textbox", name="Note")
    box.fill(text)
    box.press("Enter")


def timeline_item(page, text):
    return page.locator("#timeline-list > li", has_text=text)


def test_a_note_reaches_a_colleague_on_another_web_process_within_a_second_and_a_dropped_connection_catches_up_exactly_once(  # noqa: E501
    browser, web_processes, incident
):
    first, second = web_processes
    alex_ctx, jordan_ctx = browser.new_context(), browser.new_context()
    alex, jordan = alex_ctx.new_page(), jordan_ctx.new_page()
    log_in(alex, first.url, "alex")
    log_in(jordan, second.url, "jordan")
    open_incident(alex, first.url, incident)
    open_incident(jordan, second.url, incident)
    jordan.evaluate("window.__sameDocument = true")

    started = time.monotonic()
    post_note(alex, "Error rate at 15%, auth failures")
    expect(timeline_item(jordan, "Error rate at 15%, auth failures")).to_have_count(1, timeout=1000)
    assert time.monotonic() - started < 1.0 + 0.2  # Playwright's own polling adds a little

    # A status change travels the same way and refreshes the colleague's header.
    alex.get_by_role("button", name="Acknowledge").click()
    expect(timeline_item(jordan, "marked the incident acknowledged")).to_have_count(1, timeout=1000)
    expect(jordan.locator("#incident-header [data-testid=status]")).to_have_text("Acknowledged")

    # Jordan's web process dies: the connection is cut while Alex keeps writing.
    second.stop()
    missed = [f"Missed note {i}" for i in range(1, 4)]
    for text in missed:
        post_note(alex, text)
        expect(timeline_item(alex, text)).to_have_count(1)
    first_note = TimelineEvent.objects.get(body="Error rate at 15%, auth failures")
    services.timeline_note_edit(
        event=first_note, body="Error rate at 15%, auth failures (edited)", by=first_note.author
    )
    for text in missed:
        expect(timeline_item(jordan, text)).to_have_count(0)

    second.start()  # the browser reconnects by itself, sending where it got to
    for text in missed:
        expect(timeline_item(jordan, text)).to_have_count(1, timeout=15_000)
    expect(timeline_item(jordan, "(edited)")).to_have_count(1)
    post_note(alex, "After the reconnect")
    expect(timeline_item(jordan, "After the reconnect")).to_have_count(1, timeout=1000)

    ids = jordan.eval_on_selector_all("#timeline-list > li[data-seq]", "els => els.map(e => e.id)")
    assert len(ids) == len(set(ids))
    expected = TimelineEvent.objects.filter(incident=incident, deleted_at__isnull=True).count()
    assert len(ids) == expected
    assert jordan.evaluate("window.__sameDocument") is True  # never reloaded
    alex_ctx.close()
    jordan_ctx.close()


def test_on_a_phone_severity_status_and_acknowledge_are_visible_without_scrolling(
    browser, web_processes, incident
):
    first, _ = web_processes
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    log_in(page, first.url, "alex")
    open_incident(page, first.url, incident)
    header = page.locator("#incident-header")
    expect(header.get_by_text("SEV2", exact=True)).to_be_in_viewport(ratio=1)
    expect(header.get_by_text("Triggered", exact=True)).to_be_in_viewport(ratio=1)
    acknowledge = page.get_by_role("button", name="Acknowledge")
    expect(acknowledge).to_be_in_viewport(ratio=1)
    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # The note box is one tap away, wherever the reader has scrolled to.
    page.mouse.wheel(0, 5000)
    page.get_by_role("link", name="Add note").tap()
    expect(page.get_by_role("textbox", name="Note")).to_be_focused()
    page.evaluate("window.scrollTo(0, 0)")

    acknowledge.tap()
    expect(header.get_by_text("Acknowledged", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(timeline_item(page, "marked the incident acknowledged")).to_have_count(1)
    incident.refresh_from_db()
    assert incident.status == Status.ACKNOWLEDGED
    context.close()


def test_enter_posts_a_note_and_shift_enter_starts_a_new_line(browser, web_processes, incident):
    first, _ = web_processes
    context, page = incident_page_as(browser, first.url, incident)
    box = page.get_by_role("textbox", name="Note")
    box.click()
    page.keyboard.type("Rolled back to **v1.5.1**")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("pods healthy")
    expect(box).to_have_value("Rolled back to **v1.5.1**\npods healthy")
    page.keyboard.press("Enter")
    item = timeline_item(page, "pods healthy")
    expect(item).to_have_count(1)
    expect(item.locator("strong")).to_have_text("v1.5.1")
    expect(box).to_have_value("")
    note = TimelineEvent.objects.get(incident=incident, kind=EventKind.NOTE)
    assert note.body == "Rolled back to **v1.5.1**\npods healthy"
    assert note.author.username == "alex"
    # The live stream delivers the same event too (its resume point moves to it); shown once.
    expect(page.locator("[data-last-seq]")).to_have_attribute("data-last-seq", str(note.seq))
    expect(item).to_have_count(1)

    # An empty Enter posts nothing; a refused note shows why and keeps the text.
    box.press("Enter")
    box.fill("x" * 20_001)
    page.evaluate("document.getElementById('note-body').removeAttribute('maxlength')")
    box.fill("x" * 20_001)
    box.press("Enter")
    expect(page.get_by_role("status").filter(has_text="20,000 characters")).to_be_visible()
    assert len(box.input_value()) == 20_001  # what was typed is still there to fix
    assert TimelineEvent.objects.filter(incident=incident, kind=EventKind.NOTE).count() == 1
    context.close()


def test_a_responder_works_the_incident_page_without_reloading(browser, web_processes, incident):
    first, _ = web_processes
    context, page = incident_page_as(browser, first.url, incident)
    page.evaluate("window.__sameDocument = true")

    # Edit a note in place; the earlier text is kept and the note is marked edited.
    post_note(page, "Rollback at 03:20")
    item = timeline_item(page, "Rollback at 03:20")
    expect(item).to_have_count(1)
    item.get_by_role("link", name="Edit").click()
    editor = item.get_by_role("textbox", name="Edit note")
    editor.fill("Rollback at 03:22")
    editor.press("Enter")
    item = timeline_item(page, "Rollback at 03:22")
    expect(item).to_have_count(1)
    expect(item.get_by_text("edited", exact=True)).to_be_visible()
    expect(timeline_item(page, "Rollback at 03:20")).to_have_count(1)  # the same li, with history

    # Pin it as a key event, then look at key events only.
    item.get_by_role("button", name="Pin as key event").click()
    expect(item.get_by_text("Key event", exact=True)).to_be_visible()
    page.get_by_role("navigation", name="Timeline filter").get_by_role("link", name="Notes").click()
    expect(page).to_have_url(re.compile(r"\?filter=notes$"))
    expect(timeline_item(page, "declared the incident")).to_have_count(0)
    expect(timeline_item(page, "Rollback at 03:22")).to_have_count(1)

    # Change severity and assign the commander; the header follows.
    page.locator("summary", has_text="Change severity").click()
    page.get_by_label("Severity").select_option("SEV1")
    page.get_by_role("button", name="Change severity", exact=True).click()
    expect(page.locator("#incident-header [data-testid=severity]")).to_have_text("SEV1")
    page.locator("summary", has_text="Assign roles").click()
    page.get_by_label("Role").select_option("commander")
    page.get_by_label("Person").select_option("alex")
    page.get_by_role("button", name="Assign", exact=True).click()
    commander = page.locator("#incident-header .roles div", has_text="Commander")
    expect(commander.locator("dd")).to_have_text("Alex Rivera")

    # Tick a checklist item and post a status update.
    check = page.get_by_role("checkbox", name="Dashboard opened")
    check.click()
    expect(page.get_by_role("checkbox", name="Dashboard opened")).to_be_checked()
    page.get_by_role("textbox", name="Status update").fill("Rolling back; next update in 15 min")
    page.get_by_role("button", name="Post status update").click()
    expect(page.get_by_role("status").filter(has_text="Status update posted")).to_be_visible()
    expect(page.locator("#status-update")).to_contain_text("Last update")

    # Resolving ends the lifecycle: no status button is left to press.
    page.get_by_role("button", name="Resolve").click()
    # Resolving a SEV1 also drafts its postmortem and stops paging in the same transaction.
    expect(page.locator("#incident-header [data-testid=status]")).to_have_text(
        "Resolved", timeout=15_000
    )
    expect(page.locator(".status-actions button")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    kinds = set(TimelineEvent.objects.filter(incident=incident).values_list("kind", flat=True))
    assert {"note", "severity", "role", "checklist", "comms", "status"} <= kinds
    context.close()


def test_a_button_pressed_the_moment_a_refreshed_part_appears_does_not_reload_the_page(
    browser, web_processes, incident
):
    """A colleague's change refreshes the header; a person presses Acknowledge in the new header
    the instant it is shown (the next task, as a click on a busy machine lands). htmx handles
    the press, so the page stays: a swapped-in form that htmx had not taken over yet posted
    natively and reloaded the page."""
    first, _ = web_processes
    context, page = incident_page_as(browser, first.url, incident)
    page.evaluate("window.__sameDocument = true")
    page.evaluate(
        """() => document.addEventListener("htmx:afterSwap", function press(event) {
            if (event.target.id !== "incident-header") { return; }
            document.removeEventListener("htmx:afterSwap", press);
            setTimeout(() => event.target.querySelector(".status-actions button").click());
        })"""
    )
    jordan = get_user_model().objects.get(username="jordan")
    services.incident_assign_role(incident=incident, role="scribe", user=jordan, by=jordan)
    scribe = page.locator("#incident-header .roles div", has_text="Scribe")
    expect(scribe.locator("dd")).to_have_text("Jordan Lee")
    expect(timeline_item(page, "marked the incident acknowledged")).to_have_count(1)
    expect(page.locator("#incident-header [data-testid=status]")).to_have_text("Acknowledged")
    assert page.evaluate("window.__sameDocument") is True
    context.close()


def test_a_colleagues_change_never_wipes_a_status_update_being_written(
    browser, web_processes, incident
):
    first, _ = web_processes
    context, page = incident_page_as(browser, first.url, incident)
    refreshes = []
    page.on(
        "request", lambda request: refreshes.append(request.url) if "part=" in request.url else None
    )
    box = page.get_by_role("textbox", name="Status update")
    box.fill("Rolling back v1.5.2; next update at 03:45")
    page.get_by_role("heading", name="Timeline").click()  # the text is unsent, focus elsewhere

    # A colleague raises the severity: the header and the status-update policy both change,
    # so the stream names both, but the box holding unsent text is not even asked for.
    services.incident_change_severity(
        incident=incident,
        severity=Severity.objects.get(name="SEV1"),
        by=get_user_model().objects.get(username="jordan"),
    )
    expect(page.locator("#incident-header [data-testid=severity]")).to_have_text("SEV1")
    # Both were named in one message and looked at in turn: the header's answer has landed,
    # so the status update box's request, had it been made, was made before it.
    assert any("part=header" in url for url in refreshes)
    assert not any("part=status_update" in url for url in refreshes)
    expect(box).to_have_value("Rolling back v1.5.2; next update at 03:45")

    page.get_by_role("button", name="Post status update").click()
    expect(page.get_by_role("status").filter(has_text="Status update posted")).to_be_visible()
    expect(page.get_by_text("SEV1 policy: an update every 15 minutes.")).to_be_visible()
    expect(timeline_item(page, "Rolling back v1.5.2")).to_have_count(1)
    context.close()


def test_a_colleagues_change_never_folds_away_a_form_a_person_opened(
    browser, web_processes, incident
):
    first, _ = web_processes
    context, page = incident_page_as(browser, first.url, incident)
    refreshes = []
    page.on(
        "request", lambda request: refreshes.append(request.url) if "part=" in request.url else None
    )
    page.locator("summary", has_text="Assign roles").click()

    # A colleague raises the severity: the stream names the header and the status update box.
    services.incident_change_severity(
        incident=incident,
        severity=Severity.objects.get(name="SEV1"),
        by=get_user_model().objects.get(username="jordan"),
    )
    expect(page.get_by_text("SEV1 policy: an update every 15 minutes.")).to_be_visible()
    # The header was looked at first (the names come in order) and left open for its form.
    assert not any("part=header" in url for url in refreshes)

    page.get_by_label("Role").select_option("commander")
    page.get_by_label("Person").select_option("alex")
    page.get_by_role("button", name="Assign", exact=True).click()
    commander = page.locator("#incident-header .roles div", has_text="Commander")
    expect(commander.locator("dd")).to_have_text("Alex Rivera")
    expect(page.locator("#incident-header [data-testid=severity]")).to_have_text("SEV1")
    context.close()


def test_older_events_load_on_demand(browser, web_processes, incident):
    first, _ = web_processes
    author = incident.declared_by
    for i in range(205):
        services.timeline_event_add(
            incident=incident,
            kind=EventKind.ALERT,
            body=f"Alert {i:03d}",
            author=author,
            occurred_at=incident.declared_at - timedelta(minutes=300 - i),
        )
    context, page = incident_page_as(browser, first.url, incident)
    expect(page.locator("#timeline-list > li[data-seq]")).to_have_count(200)
    expect(timeline_item(page, "Alert 006")).to_have_count(1)
    expect(timeline_item(page, "Alert 005")).to_have_count(0)
    page.get_by_role("link", name="Load older events").click()
    expect(page.locator("#timeline-list > li[data-seq]")).to_have_count(206)
    expect(timeline_item(page, "Alert 000")).to_have_count(1)
    expect(page.get_by_role("link", name="Load older events")).to_have_count(0)
    context.close()


def open_list_with(browser, base_url, incident, severity, *titles):
    """Declares more incidents in the incident's team, then opens the list as alex, marking
    the document so a test can tell that filtering and sorting never reloaded it."""
    for title in titles:
        services.incident_declare(
            title=title,
            severity=Severity.objects.get(name=severity),
            team=incident.team,
            by=incident.declared_by,
        )
    context = browser.new_context()
    page = context.new_page()
    log_in(page, base_url, "alex")
    page.goto(f"{base_url}/incidents/")
    page.evaluate("window.__sameDocument = true")
    return context, page


def test_list_filters_update_in_place_and_live_in_the_url(browser, web_processes, incident):
    first, _ = web_processes
    context, page = open_list_with(browser, first.url, incident, "SEV3", "Search latency")
    results = page.locator("#incident-results")
    expect(results.get_by_role("link", name="Search latency")).to_be_visible()
    expect(results.get_by_role("link", name="Authentication failures")).to_be_visible()
    page.get_by_label("Severity").select_option("SEV3")
    expect(page).to_have_url(re.compile(r"severity=SEV3"))
    expect(results.get_by_role("link", name="Authentication failures")).to_have_count(0)
    expect(results.get_by_role("link", name="Search latency")).to_be_visible()
    page.get_by_label("Severity").select_option("")
    page.get_by_label("Search").fill("auth")
    expect(page).to_have_url(re.compile(r"q=auth"))
    expect(results.get_by_role("link", name="Search latency")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    shared = page.url
    other = context.new_page()  # a colleague opening the shared link sees the same list
    other.goto(shared)
    expect(other.locator("#incident-results .incident-link")).to_have_text(
        ["Authentication failures"]
    )
    context.close()


def test_column_headers_sort_the_list_in_place_and_the_sort_menu_follows(
    browser, web_processes, incident
):
    first, _ = web_processes
    context, page = open_list_with(
        browser, first.url, incident, "SEV4", "Zone transfer failing", "Billing export stuck"
    )
    links = page.locator("#incident-results .incident-link")
    title_header = page.get_by_role("columnheader", name="Title")

    title_header.get_by_role("link", name="Title").click()
    expect(page).to_have_url(re.compile(r"sort=title(&|$)"))
    expect(title_header).to_have_attribute("aria-sort", "ascending")
    expect(links).to_have_text(
        ["Authentication failures", "Billing export stuck", "Zone transfer failing"]
    )
    expect(page.get_by_label("Sort")).to_have_value("title")

    title_header.get_by_role("link", name="Title").click()  # a second click reverses it
    expect(title_header).to_have_attribute("aria-sort", "descending")
    expect(links).to_have_text(
        ["Zone transfer failing", "Billing export stuck", "Authentication failures"]
    )
    expect(page.get_by_label("Sort")).to_have_value("title_desc")

    page.get_by_label("Severity").select_option("SEV4")  # a filter keeps the column's sort
    expect(page).to_have_url(re.compile(r"severity=SEV4.*sort=title_desc"))
    expect(links).to_have_text(["Zone transfer failing", "Billing export stuck"])

    page.get_by_role("columnheader", name="Severity").get_by_role("link").click()
    expect(page.get_by_role("columnheader", name="Severity")).to_have_attribute(
        "aria-sort", "ascending"
    )
    expect(page.get_by_role("columnheader", name="Title")).not_to_have_attribute(
        "aria-sort", re.compile(".*")
    )
    assert page.evaluate("window.__sameDocument") is True
    context.close()
