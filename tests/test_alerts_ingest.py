import hashlib
import hmac
import io
import json
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from alerts.models import Alert, AlertGroup, Decision, GroupStatus, IntegrationKind, Silence
from alerts.services import integration_rotate_token
from incidents.models import EventKind, Incident, TimelineEvent
from paging.models import Escalation
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401, E402 (an autouse fixture)
    firing_payload,
    integration_for,
    oncall_team,
    post,
    resolved_payload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    team, _people = oncall_team()
    return team


@pytest.fixture
def hook(team):
    return integration_for(team)


def test_create_integration_prints_the_webhook_url_last(team, client, settings):
    settings.SITE_URL = "https://vigil.example"
    out = io.StringIO()
    call_command("create_integration", "alertmanager", "Prod", "--team", team.slug, stdout=out)
    url = out.getvalue().strip().splitlines()[-1]
    assert url.startswith("https://vigil.example/alerts/webhook/")
    path = url.removeprefix("https://vigil.example")
    response = client.post(path, data=json.dumps(firing_payload()), content_type="application/json")
    assert response.status_code == 202


def test_it_accepts_the_token_as_bearer_or_in_the_path(hook, client):
    integration, token = hook
    assert post(client, integration, firing_payload(), token=token).status_code == 202
    assert post(client, integration, firing_payload(), path_token=token).status_code == 202


def test_it_rejects_a_wrong_or_missing_token(hook, client):
    integration, token = hook
    assert post(client, integration, firing_payload(), token=token + "x").status_code == 401
    assert post(client, integration, firing_payload()).status_code == 401
    assert post(client, integration, firing_payload(), path_token="nope").status_code == 401
    assert not Alert.objects.exists()


def test_an_unknown_integration_is_404(hook, client):
    integration, token = hook
    response = client.post(
        "/alerts/webhook/00000000-0000-0000-0000-000000000000/",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 404


def test_both_tokens_work_during_a_rotation_and_the_old_one_expires(hook, client):
    integration, old = hook
    new = integration_rotate_token(integration=integration)
    integration.refresh_from_db()
    assert post(client, integration, firing_payload(), token=old).status_code == 202
    assert post(client, integration, firing_payload(), token=new).status_code == 202
    integration.previous_valid_until = timezone.now() - timezone.timedelta(seconds=1)
    integration.save()
    assert post(client, integration, firing_payload(), token=old).status_code == 401
    assert post(client, integration, firing_payload(), token=new).status_code == 202


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"version": "4", "status": "firing"}), "no 'alerts'"),
        (json.dumps({"version": "4", "alerts": [{"labels": {"a": 1}}]}), "must be a string"),
        (json.dumps({"version": "3", "alerts": []}), "version 4"),
        (json.dumps([1, 2]), "JSON object"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
        (json.dumps({"version": "4", "alerts": [{"labels": {}}]}), "must not be empty"),
        (
            json.dumps({"version": "4", "alerts": [{"labels": {"a": "b"}, "startsAt": "soon"}]}),
            "RFC 3339",
        ),
    ],
)
def test_it_refuses_a_bad_body_with_the_reason(hook, client, raw, reason):
    integration, token = hook
    response = post(client, integration, None, token=token, raw=raw)
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_a_start_before_2000_is_unknown_and_the_alert_still_pages(hook, client):
    # A sender's broken clock must not refuse the batch (Alertmanager would retry it forever).
    integration, token = hook
    payload = am_payload()
    payload["alerts"][0]["startsAt"] = "0202-11-26T15:16:23Z"
    assert post(client, integration, payload, token=token).status_code == 202
    alert = Alert.objects.get()
    assert alert.starts_at is None or alert.starts_at.year >= 2000
    incident = Incident.objects.get()
    assert incident.started_at.year >= 2000
    assert Escalation.objects.filter(incident=incident).exists()


def test_a_bad_alert_late_in_a_payload_stores_nothing(hook, client):
    integration, token = hook
    payload = am_payload(n=5)
    payload["alerts"][4]["labels"]["bad"] = 3
    assert post(client, integration, payload, token=token).status_code == 400
    assert not AlertGroup.objects.exists() and not Alert.objects.exists()


def test_a_body_over_one_mebibyte_is_413(hook, client):
    integration, token = hook
    raw = json.dumps({"alerts": [], "pad": "x" * (1024 * 1024)})
    response = post(client, integration, None, token=token, raw=raw)
    assert response.status_code == 413


def test_ten_thousand_alerts_in_one_payload_are_stored_and_more_are_refused(hook, client):
    integration, token = hook
    alerts = [
        {"labels": {"alertname": "Big", "severity": "info", "i": str(i)}, "fingerprint": f"f{i}"}
        for i in range(10_000)
    ]
    payload = {"version": "4", "groupKey": "big", "alerts": alerts}
    raw = json.dumps(payload, separators=(",", ":"))
    assert len(raw) < 1024 * 1024
    response = post(client, integration, None, token=token, raw=raw)
    assert response.status_code == 202, response.content
    assert Alert.objects.count() == 10_000
    payload["alerts"].append({"labels": {"alertname": "x"}, "fingerprint": "y"})
    raw = json.dumps(payload, separators=(",", ":"))
    response = post(client, integration, None, token=token, raw=raw)
    assert response.status_code == 413
    assert "10,000" in response.json()["error"]


def test_a_firing_alert_opens_an_incident_with_its_alert_event(hook, client):
    integration, token = hook
    assert post(client, integration, am_payload(), token=token).status_code == 202
    group = AlertGroup.objects.get()
    assert group.status == GroupStatus.FIRING and group.incident is not None
    incident = group.incident
    assert incident.severity.name == "SEV1"
    event = incident.events.get(kind=EventKind.ALERT)
    assert set(event.data) >= {
        "alertname",
        "labels",
        "annotations",
        "fingerprint",
        "group_key",
        "status",
        "runbook_url",
        "dashboard_url",
    }
    assert event.data["alertname"] == "AgentHighErrorRate"
    assert event.data["runbook_url"] == "https://wiki.example/runbooks/high-error-rate"
    assert event.data["dashboard_url"] == "https://grafana.example/agent-health"
    assert incident.events.filter(kind=EventKind.ROUTING).exists()
    assert Escalation.objects.filter(incident=incident).exists()


def test_the_same_payload_twice_changes_nothing(hook, client):
    integration, token = hook
    post(client, integration, am_payload(n=3), token=token)
    before = (Alert.objects.count(), AlertGroup.objects.count(), TimelineEvent.objects.count())
    response = post(client, integration, am_payload(n=3), token=token)
    assert response.status_code == 202
    assert (
        Alert.objects.count(),
        AlertGroup.objects.count(),
        TimelineEvent.objects.count(),
    ) == before


def test_a_resolved_payload_resolves_the_alerts_and_the_group(hook, client):
    integration, token = hook
    post(client, integration, am_payload(n=2), token=token)
    response = post(client, integration, am_payload(n=2, status="resolved"), token=token)
    assert response.status_code == 202
    group = AlertGroup.objects.get()
    assert group.status == GroupStatus.RESOLVED and group.resolved_at
    assert set(group.alerts.values_list("status", flat=True)) == {"resolved"}
    resolved = group.incident.events.filter(kind=EventKind.ALERT, data__status="resolved")
    assert resolved.count() == 1
    # A repeat of the resolution changes nothing; a new firing opens a new group.
    post(client, integration, am_payload(n=2, status="resolved"), token=token)
    assert resolved.count() == 1
    post(client, integration, am_payload(n=2), token=token)
    assert AlertGroup.objects.count() == 2


def test_a_partial_resolution_keeps_the_group_open(hook, client):
    integration, token = hook
    post(client, integration, am_payload(n=2), token=token)
    payload = am_payload(n=2)
    payload["alerts"][0]["status"] = "resolved"
    post(client, integration, payload, token=token)
    assert AlertGroup.objects.get().status == GroupStatus.FIRING


def test_the_real_alertmanager_payloads_are_understood(hook, client):
    integration, token = hook
    assert post(client, integration, firing_payload(), token=token).status_code == 202
    group = AlertGroup.objects.get(group_key='{}:{alertname="AlwaysFiring"}')
    assert group.alerts.get().fingerprint == "6b157f79b26a43ad"
    assert post(client, integration, resolved_payload(), token=token).status_code == 202


def _sign(token, body, stamp=None):
    stamp = stamp or int(time.time())
    sig = hmac.new(token.encode(), f"{stamp}.".encode() + body.encode(), hashlib.sha256).hexdigest()
    return {"HTTP_X_VIGIL_SIGNATURE": f"t={stamp},v1={sig}"}


def test_a_signed_request_is_accepted_once_and_a_replay_refused(team, client):
    integration, token = integration_for(team, kind=IntegrationKind.GENERIC, name="Generic")
    body = json.dumps({"title": "Disk full", "severity": "warning", "dedup_key": "disk"})
    headers = _sign(token, body)
    assert (
        post(client, integration, None, token=token, raw=body, headers=headers).status_code == 202
    )
    replay = post(client, integration, None, token=token, raw=body, headers=headers)
    assert replay.status_code == 409
    tampered = post(client, integration, None, token=token, raw=body + " ", headers=headers)
    assert tampered.status_code == 401
    old = _sign(token, body, stamp=int(time.time()) - 3600)
    assert post(client, integration, None, token=token, raw=body, headers=old).status_code == 401


def test_the_generic_format_with_links_and_labels(team, client):
    integration, token = integration_for(team, kind=IntegrationKind.GENERIC, name="Generic")
    body = {
        "title": "Checkout errors",
        "severity": "critical",
        "dedup_key": "checkout-errors",
        "description": "Error rate 45%",
        "links": [
            {"text": "Runbook", "href": "https://wiki.example/rb"},
            {"text": "Dashboard", "href": "https://grafana.example/d"},
        ],
        "labels": {"service": "checkout", "sev": "SEV2"},
    }
    assert post(client, integration, body, token=token).status_code == 202
    group = AlertGroup.objects.get()
    assert group.runbook_url == "https://wiki.example/rb"
    assert group.incident.severity.name == "SEV2"
    bad = post(client, integration, {"title": "x", "labels": {"n": 1}}, token=token)
    assert bad.status_code == 400


def test_a_silenced_alert_is_stored_and_visible_but_pages_nobody(team, hook, client):
    integration, token = hook
    Silence.objects.create(
        team=team,
        matchers=[{"name": "alertname", "op": "=", "value": "AgentHighErrorRate"}],
        ends_at=timezone.now() + timezone.timedelta(hours=1),
        reason="known",
    )
    post(client, integration, am_payload(), token=token)
    group = AlertGroup.objects.get()
    assert group.silenced and group.decision == Decision.SILENCED
    assert group.alerts.get().silenced
    assert not Incident.objects.exists() and not Escalation.objects.exists()


def test_maintenance_mode_stores_alerts_and_pages_nobody(hook, client):
    integration, token = hook
    integration.maintenance_until = timezone.now() + timezone.timedelta(hours=1)
    integration.save()
    post(client, integration, am_payload(), token=token)
    assert AlertGroup.objects.get().decision == Decision.MAINTENANCE
    assert not Escalation.objects.exists()


def test_label_matchers_send_alerts_to_another_team(hook, client):
    from alerts.models import RoutingRule

    integration, token = hook
    other, _ = oncall_team(slug="database")
    RoutingRule.objects.create(
        integration=integration,
        matchers=[{"name": "service", "op": "=~", "value": "db.*"}],
        team=other,
    )
    post(client, integration, am_payload(extra={"service": "db-main"}), token=token)
    assert AlertGroup.objects.get().team == other
    assert Incident.objects.get().team == other
