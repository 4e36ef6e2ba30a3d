"""Icons are inline SVG with accessible names, never emoji (an empty box where no emoji font
is installed); the site has a favicon; the postmortem editor trips no CSP rule."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts import demo as accounts_demo
from incidents import demo as incidents_demo
from incidents.models import Severity, Status
from incidents.services import incident_change_status, incident_declare
from oncall import demo as oncall_demo
from postmortems.models import SectionKey

# Pictographs, dingbats and symbols that fonts without emoji draw as empty boxes.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


@pytest.fixture
def demo_postmortem():
    """The draft postmortem of a resolved incident of the demo team, open in the editor."""
    users = accounts_demo.seed()
    team = oncall_demo.seed(users=users)
    incidents_demo.seed(team=team, users=users)
    incident = incident_declare(
        title="Login failures after deploy",
        severity=Severity.objects.get(level=2),
        team=team,
        by=users["alex"],
    )
    incident_change_status(incident=incident, status=Status.RESOLVED, by=users["alex"])
    return incident.postmortems.get(), users


def test_no_template_or_script_uses_an_emoji_as_an_icon():
    base = Path(settings.BASE_DIR)
    files = [*(base / "templates").rglob("*.html"), *(base / "static" / "js").rglob("*.js")]
    found = [
        f"{path.relative_to(base)}:{n}: {line.strip()[:80]}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if EMOJI.search(line)
    ]
    assert files and found == []


@pytest.mark.django_db
def test_the_bell_is_an_svg_icon_with_an_accessible_name(client, demo_postmortem):
    _, users = demo_postmortem
    client.force_login(users["alex"])
    html = client.get("/").content.decode()
    bell = re.search(r'<a id="notification-bell".*?</a>', html, re.S).group(0)
    assert 'aria-label="Notifications' in bell
    assert '<svg class="icon" role="img" aria-label="Bell"' in bell
    assert not EMOJI.search(html)


@pytest.mark.django_db
def test_every_page_links_the_favicon_and_it_is_served(client, demo_postmortem):
    _, users = demo_postmortem
    client.force_login(users["alex"])
    html = client.get("/").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html).group(1)
    response = client.get(href)
    assert response.status_code == 200
    assert b"<svg" in b"".join(response.streaming_content)
    client.logout()
    assert client.get("/login/").content.decode().count('rel="icon"') == 1


@pytest.mark.django_db
def test_the_postmortem_editor_has_no_inline_style(client, demo_postmortem):
    postmortem, users = demo_postmortem
    client.force_login(users["alex"])
    html = client.get(postmortem.get_absolute_url()).content.decode()
    assert "Root Cause (Markdown)" in html  # the editor is there
    assert not re.search(r"\sstyle=", html)
    assert "<style" not in html


@pytest.mark.django_db
def test_a_postmortems_check_and_cross_marks_are_named_svg_icons(client, demo_postmortem):
    postmortem, users = demo_postmortem
    postmortem.sections.filter(key=SectionKey.WENT_WELL).update(body="- \u2705 Paged in 2 min")
    postmortem.sections.filter(key=SectionKey.WENT_WRONG).update(body="- \u274c\ufe0f No canary")
    client.force_login(users["alex"])
    html = client.get(postmortem.get_absolute_url()).content.decode()
    previews = {
        key: html.split(f'id="preview-{key}"')[1].split("<details")[0]
        for key in ("went_well", "went_wrong")
    }
    assert 'role="img" aria-label="Check mark"' in previews["went_well"]
    assert "Paged in 2 min" in previews["went_well"]
    assert 'role="img" aria-label="Cross mark"' in previews["went_wrong"]
    assert "No canary" in previews["went_wrong"]
    assert not any(EMOJI.search(preview) for preview in previews.values())
    printed = client.get(f"{postmortem.get_absolute_url()}print/").content.decode()
    assert 'aria-label="Check mark"' in printed


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_bell_is_named_and_the_postmortem_editor_has_no_csp_violation(
    page, live_server, demo_postmortem
):
    postmortem, _ = demo_postmortem
    violations = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("alex")
    page.get_by_label("Password").fill(accounts_demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Notifications"))).to_be_visible()
    expect(page.get_by_role("img", name="Bell")).to_be_visible()

    page.goto(f"{live_server.url}{postmortem.get_absolute_url()}")
    editor = page.get_by_label("Root Cause (Markdown)")
    editor.fill("")
    editor.press_sequentially("The **canary** was too short.")
    expect(page.locator("#preview-root_cause")).to_contain_text("The canary was too short.")
    expect(page.locator("#preview-root_cause strong")).to_have_text("canary")
    page.get_by_role("button", name="Save Root Cause").click()
    expect(page.locator("#section-root_cause").get_by_text("Saved (version")).to_be_visible()
    expect(page.get_by_role("img", name="Bell")).to_be_visible()
    assert violations == []
