"""Only http(s) links are rendered from an alert's annotations: anyone can write those."""

import pytest
from django.urls import reverse

from alerts.models import AlertGroup
from common.links import http_url
from incidents.models import EventKind
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(document.domain)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "http://[oops",
        "https://",
        None,
        42,
    ],
)
def test_anything_but_an_http_link_with_a_host_is_dropped(value):
    assert http_url(value) == ""


def test_http_and_https_links_are_kept():
    assert http_url("https://wiki.example/rb") == "https://wiki.example/rb"
    assert http_url("HTTP://grafana.example/d?x=1") == "HTTP://grafana.example/d?x=1"


def test_a_javascript_runbook_annotation_reaches_no_page(client):
    team, people = oncall_team()
    integration, token = integration_for(team)
    payload = am_payload()
    for alert in payload["alerts"]:
        alert["annotations"]["runbook"] = "javascript:alert(document.cookie)"
        alert["annotations"]["dashboard_url"] = "data:text/html,<script>alert(1)</script>"
        alert["annotations"]["dashboard"] = "https://grafana.example/agent-health"
    assert post(client, integration, payload, token=token).status_code == 202

    group = AlertGroup.objects.get()
    assert group.runbook_url == ""
    assert group.dashboard_url == "https://grafana.example/agent-health"
    event = group.incident.events.filter(kind=EventKind.ALERT).first()
    assert event.data.get("runbook_url", "") == ""

    client.force_login(people["primary"])
    for path in (
        reverse("alerts_group_detail", args=[group.pk]),
        group.incident.get_absolute_url(),
    ):
        html = client.get(path).content.decode()
        assert "javascript:" not in html and "data:text/html" not in html, path
    assert (
        'href="https://grafana.example/agent-health"'
        in client.get(reverse("alerts_group_detail", args=[group.pk])).content.decode()
    )
