"""Control characters in an alert's name never reach a title or a mail subject."""

import pytest
from django.core.mail import EmailMessage

from alerts.models import AlertGroup
from common.text import one_line
from paging.messages import alert_facts, email_message
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db

NAME = "Disk\nfull\r\nBcc: everyone@example.com\x1b[31m\u2028now"


def test_one_line_collapses_every_control_character_run_to_one_space():
    assert one_line(NAME) == "Disk full Bcc: everyone@example.com [31m now"
    assert one_line("a\x00\x7f\x85b") == "a b"
    assert one_line("  a\t\tb  ") == "a b"
    assert one_line("x" * 500, 300) == "x" * 300
    assert one_line(None) == ""


def test_an_alert_named_with_a_newline_still_gets_its_email_page(client):
    team, people = oncall_team()
    integration, token = integration_for(team)
    payload = am_payload(name=NAME)
    assert post(client, integration, payload, token=token).status_code == 202

    group = AlertGroup.objects.get()
    assert "\n" not in group.title and "\r" not in group.title and "\x00" not in group.title
    assert "\n" not in group.incident.title
    facts = alert_facts(incident=group.incident, group=group)
    mail = email_message(facts, to=people["primary"].email, ack_url="https://vigil.example/a")
    # Django refuses a header with a newline in it (BadHeaderError): this is what failed.
    message = EmailMessage(subject=mail["subject"], body=mail["body"], to=[mail["to"]]).message()
    assert message["Subject"].startswith("[CRITICAL] Disk full Bcc:")
    assert "Bcc" not in {key for key, _ in message.items() if key != "Subject"}
