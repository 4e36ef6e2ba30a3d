"""Notes are Markdown, and nothing a person writes can run script in another's browser."""

from importlib import import_module

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from incidents import services
from incidents.models import EventKind, Severity, TimelineEvent
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db

VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src="x" onerror="alert(1)">',
    "<svg onload=alert(1)><circle r=1></svg>",
    '<a href="#" onclick="alert(1)">click</a>',
    '<div onmouseover="alert(1)">hover</div>',
    "[click](javascript:alert(1))",
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pic](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    "<style>body{display:none}</style>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
]
FORBIDDEN = [
    "<script",
    "onerror",
    "onload",
    "onclick",
    "onmouseover",
    "javascript:",
    "data:",
    "<iframe",
    "<object",
    "<style",
    "<form",
    "<svg",
]


@pytest.fixture
def setup():
    team = TeamFactory(slug="platform")
    alex = member(team, Role.RESPONDER, username="alex")
    incident = services.incident_declare(
        title="XSS drill", severity=Severity.objects.get(name="SEV3"), team=team, by=alex
    )
    client = Client()
    client.force_login(alex)
    return incident, client


@pytest.mark.parametrize("vector", VECTORS)
def test_a_note_cannot_carry_script(setup, vector):
    incident, client = setup
    response = client.post(reverse("incident_note_add", args=[incident.pk]), {"body": vector})
    assert response.status_code == 302
    note = TimelineEvent.objects.get(incident=incident, kind=EventKind.NOTE)
    html = note.body_html.lower()
    for bad in FORBIDDEN:
        assert bad not in html, (vector, note.body_html)
    page = client.get(incident.get_absolute_url()).content.decode()
    body = page.split(f'id="event-{note.pk}"')[1].split('class="event-body">')[1]
    assert body.startswith(note.body_html)  # only the sanitised HTML reaches the page
    assert vector not in page


def test_an_edited_note_is_sanitised_too(setup):
    incident, client = setup
    note = services.timeline_note_add(incident=incident, body="fine", author=incident.declared_by)
    client.post(
        reverse("incident_note_edit", args=[incident.pk, note.pk]),
        {"body": '<img src=x onerror="alert(1)"> [x](javascript:alert(1))'},
    )
    note.refresh_from_db()
    assert "onerror" not in note.body_html and "javascript:" not in note.body_html


@pytest.mark.parametrize(
    "body",
    [
        '<div id="checklist">hi</div>',
        '<span id="incident-header" class="status-actions">hi</span>',
        '<p id="event-1" class="badge key">Key event</p>',
        '<h2 id="timeline-inbox">x</h2>',
    ],
)
def test_a_note_cannot_take_an_id_or_dress_as_the_pages_own_markup(setup, body):
    # The page's live sections are found by id: a note holding one would receive the
    # checklist's, the header's or the timeline's updates in place of the real ones.
    incident, client = setup
    client.post(reverse("incident_note_add", args=[incident.pk]), {"body": body})
    html = TimelineEvent.objects.get(kind=EventKind.NOTE).body_html
    assert " id=" not in html and " class=" not in html, html
    page = client.get(incident.get_absolute_url()).content.decode()
    for page_id in ("checklist", "incident-header", "timeline-inbox"):
        assert page.count(f'id="{page_id}"') <= 1


def test_notes_stored_under_the_earlier_rules_are_sanitised_again(setup):
    incident, _ = setup
    note = services.timeline_note_add(incident=incident, body="x", author=incident.declared_by)
    stored = '<div id="checklist" class="badge key">hi</div><code class="language-sh">ls</code>'
    TimelineEvent.objects.filter(pk=note.pk).update(body_html=stored)
    import_module("incidents.migrations.0008_sanitise_stored_event_html").resanitise(apps, None)
    note.refresh_from_db()
    assert note.body_html == '<div>hi</div><code class="language-sh">ls</code>'


def test_fenced_code_keeps_its_language_class(setup):
    incident, client = setup
    client.post(reverse("incident_note_add", args=[incident.pk]), {"body": "```bash\nls\n```"})
    html = TimelineEvent.objects.get(kind=EventKind.NOTE).body_html
    assert '<code class="language-bash">' in html


def test_ordinary_markdown_survives(setup):
    incident, client = setup
    body = (
        "**Rollback** to `v1.5.1`\n\n- pods restarted\n- [dashboard](https://grafana.example/d/1)"
    )
    client.post(reverse("incident_note_add", args=[incident.pk]), {"body": body})
    html = TimelineEvent.objects.get(kind=EventKind.NOTE).body_html
    assert "<strong>Rollback</strong>" in html
    assert "<code>v1.5.1</code>" in html
    assert "<li>pods restarted</li>" in html
    assert 'href="https://grafana.example/d/1"' in html
