"""The timeline's event markup escapes everything a person wrote outside sanitised Markdown."""

import pytest
from django.test import Client

from incidents import services
from incidents.models import Severity
from teams.models import Role
from tests.factories import TeamFactory, member

pytestmark = pytest.mark.django_db


def test_names_and_earlier_note_text_are_escaped_on_the_incident_page():
    team = TeamFactory()
    author = member(team, Role.RESPONDER, first_name='<img src=x onerror="alert(1)">')
    incident = services.incident_declare(
        title="Checkout down", severity=Severity.objects.get(name="SEV2"), team=team, by=author
    )
    note = services.timeline_note_add(
        incident=incident, body="<script>x()</script>first", author=author
    )
    services.timeline_note_edit(event=note, body="second", by=author)
    client = Client()
    client.force_login(author)
    html = client.get(incident.get_absolute_url()).content.decode()
    assert "onerror=" not in html.replace("onerror=&quot;", "")
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<script>x()" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;first" in html  # the kept earlier text, escaped
    assert 'name="csrfmiddlewaretoken"' in html and "Pin as key event" in html
