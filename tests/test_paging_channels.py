"""Real Celery worker (with its beat tick) delivering to fake Slack, PagerDuty, SMTP and
webhook receivers on 127.0.0.1."""

import base64
import hashlib
import hmac
import re
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

from oncall.models import ContactMethod
from paging.models import DeliveryAttempt, InAppNotification, Notification
from paging.services import incident_acknowledge
from teams.models import TeamRouting
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)
from tests.celery_worker import running_worker, wait_for
from tests.paging_fakes import FakeHTTP, FakeSMTP, worker_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.slow,
]

HTTP_PORT, SMTP_PORT = 18601, 18602


@pytest.fixture
def providers():
    with FakeHTTP(HTTP_PORT) as http, FakeSMTP(SMTP_PORT) as smtp:
        yield http, smtp


def _setup(http, *, webhook_path="/hook"):
    team, people = oncall_team(contacts=False)
    primary = people["primary"]
    ContactMethod.objects.create(user=primary, kind="email", value="primary@vigil.example")
    ContactMethod.objects.create(user=primary, kind="slack", value=http.url("/slack-dm"))
    ContactMethod.objects.create(user=primary, kind="webhook", value=http.url(webhook_path))
    TeamRouting.objects.filter(team=team).update(
        incidents_webhook_url=http.url("/slack-incidents"),
        pagerduty_routing_key="R0UT1NGKEY",
    )
    integration, token = integration_for(team)
    return team, people, integration, token


def test_each_notification_arrives_once_with_its_documented_shape(providers, client, settings):
    http, smtp = providers
    settings.PAGERDUTY_EVENTS_URL = http.url("/pagerduty")
    team, people, integration, token = _setup(http)
    env = worker_env(smtp_port=SMTP_PORT, pagerduty_url=http.url("/pagerduty"))
    with running_worker(beat=True, env=env):
        assert post(client, integration, am_payload(), token=token).status_code == 202
        done = wait_for(lambda: Notification.objects.filter(state="sent").count() >= 6, timeout=30)
        assert done, list(Notification.objects.values_list("key", "state", "last_error"))
        # Acknowledging sends PagerDuty's acknowledge with the same dedup_key.
        incident = integration.groups.get().incident
        incident_acknowledge(incident=incident, by=people["primary"])
        assert wait_for(lambda: http.accepted_at("/pagerduty")[1:], timeout=20)
        wait_for(lambda: False, timeout=2)  # anything duplicated would arrive now

    chat = http.accepted_at("/slack-incidents")
    assert len(chat) == 1
    blocks = chat[0]["json"]["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "actions"]
    assert blocks[0]["text"]["text"] == "🚨 AgentHighErrorRate"
    assert blocks[1]["text"]["text"] == "AgentHighErrorRate is happening"
    assert blocks[2]["fields"][0]["text"] == "*Severity:*\ncritical"
    assert len(blocks[2]["fields"]) == 1  # the alert carries no value: no "Value: n/a"
    buttons = {e["text"]["text"]: e["url"] for e in blocks[3]["elements"]}
    assert buttons["Runbook"] == "https://wiki.example/runbooks/high-error-rate"
    assert buttons["Dashboard"] == "https://grafana.example/agent-health"

    dm = http.accepted_at("/slack-dm")
    assert len(dm) == 1
    dm_buttons = {e["text"]["text"]: e["url"] for e in dm[0]["json"]["blocks"][3]["elements"]}
    assert "/paging/ack/" in dm_buttons["Acknowledge"]

    pd = http.accepted_at("/pagerduty")
    assert [e["json"]["event_action"] for e in pd] == ["trigger", "acknowledge"]
    assert {e["json"]["dedup_key"] for e in pd} == {f"vigil-incident-{incident.pk}"}
    assert pd[0]["json"]["routing_key"] == "R0UT1NGKEY"
    assert pd[0]["json"]["payload"]["severity"] == "critical"
    assert pd[0]["json"]["payload"]["custom_details"]["runbook"].endswith("high-error-rate")

    hook = http.accepted_at("/hook")
    assert len(hook) == 1
    headers = hook[0]["headers"]
    stamp = headers["X-Vigil-Timestamp"]
    expected = hmac.new(
        django_settings.PAGING_WEBHOOK_SECRET.encode(),
        f"{stamp}.".encode() + hook[0]["raw"],
        hashlib.sha256,
    ).hexdigest()
    assert headers["X-Vigil-Signature"] == f"t={stamp},v1={expected}"
    assert hook[0]["json"]["event"] == "page"
    assert hook[0]["json"]["ack_url"]

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["to"] == ["primary@vigil.example"]
    assert "Subject: [CRITICAL] AgentHighErrorRate" in mail["data"]
    assert "/paging/ack/" in mail["data"]

    assert InAppNotification.objects.filter(user=people["primary"]).count() == 1
    assert not InAppNotification.objects.exclude(user=people["primary"]).exists()


def test_a_provider_answering_500_is_retried_with_backoff(client):
    with FakeHTTP(HTTP_PORT, script={"/hook": [500, 500]}) as http:
        team, people, integration, token = _setup(http)
        TeamRouting.objects.filter(team=team).update(pagerduty_routing_key="")
        ContactMethod.objects.exclude(kind="webhook").delete()
        with running_worker(beat=True, env=worker_env()):
            post(client, integration, am_payload(), token=token)
            note = wait_for(
                lambda: Notification.objects.filter(channel="webhook", state="sent").first(),
                timeout=30,
            )
            assert note, list(Notification.objects.values_list("key", "state", "last_error"))
            incident = integration.groups.get().incident
            incident_acknowledge(incident=incident, by=people["primary"])
            wait_for(lambda: False, timeout=2)
    attempts = list(DeliveryAttempt.objects.filter(notification=note).order_by("number"))
    assert [(a.number, a.ok, a.status_code) for a in attempts] == [
        (1, False, 500),
        (2, False, 500),
        (3, True, 200),
    ]
    # Exponential backoff (base 0.3 s in this worker): at least 0.3 s, then at least 0.6 s.
    assert (attempts[1].started_at - attempts[0].finished_at).total_seconds() >= 0.3
    assert (attempts[2].started_at - attempts[1].finished_at).total_seconds() >= 0.6
    assert len(http.accepted_at("/hook")) == 1
    assert len([r for r in http.requests if r["path"] == "/hook"]) == 3


def test_sms_and_phone_calls_go_through_a_twilio_compatible_api_once(providers, client):
    http, _ = providers
    team, people = oncall_team(contacts=False)
    primary = people["primary"]
    ContactMethod.objects.create(user=primary, kind="sms", value="+4917012345678")
    ContactMethod.objects.create(user=primary, kind="phone", value="+4917012345679")
    integration, token = integration_for(team)
    env = worker_env(
        extra={
            "SMS_API_URL": http.url("/twilio"),
            "SMS_ACCOUNT_SID": "AC123",
            "SMS_AUTH_TOKEN": "twilio-secret",
            "SMS_FROM_NUMBER": "+15005550006",
        }
    )
    with running_worker(beat=True, env=env):
        assert post(client, integration, am_payload(), token=token).status_code == 202
        sent = wait_for(
            lambda: (
                Notification.objects.filter(channel__in=["sms", "voice"], state="sent").count() == 2
            ),
            timeout=30,
        )
        assert sent, list(Notification.objects.values_list("key", "state", "last_error"))
        wait_for(lambda: False, timeout=2)  # anything duplicated would arrive now

    texts = http.accepted_at("/twilio/2010-04-01/Accounts/AC123/Messages.json")
    calls = http.accepted_at("/twilio/2010-04-01/Accounts/AC123/Calls.json")
    assert len(texts) == 1 and len(calls) == 1
    auth = "Basic " + base64.b64encode(b"AC123:twilio-secret").decode()
    assert texts[0]["headers"]["Authorization"] == auth
    text = texts[0]["form"]
    assert text["To"] == "+4917012345678" and text["From"] == "+15005550006"
    assert text["Body"].startswith("Vigil [CRITICAL] AgentHighErrorRate")
    assert "/paging/ack/" in text["Body"] and len(text["Body"]) <= 459
    call = calls[0]["form"]
    assert call["To"] == "+4917012345679"
    assert call["Twiml"].startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Gather')
    assert "AgentHighErrorRate" in call["Twiml"] and "Press 1 to acknowledge" in call["Twiml"]

    # The provider posts the digit pressed to the page's signed single-use URL.
    action = re.search(r'action="([^"]+)"', call["Twiml"]).group(1).replace("&amp;", "&")
    path = urlsplit(action).path
    assert path.startswith("/paging/voice/")
    other = client.post(path, {"Digits": "2"})
    assert b"Not acknowledged" in other.content and other["Content-Type"] == "text/xml"
    incident = integration.groups.get().incident
    incident.refresh_from_db()
    assert incident.status == "triggered"
    ack = client.post(path, {"Digits": "1"})
    assert b"Acknowledged: " in ack.content
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.events.filter(body__contains="(phone call)").exists()
    assert b"already acknowledged" in client.post(path, {"Digits": "1"}).content
    assert b"could not be found" in client.post("/paging/voice/forged/", {"Digits": "1"}).content


def test_sms_without_a_provider_fails_at_once_with_the_reason(settings):
    from paging.delivery import deliver

    settings.SMS_ACCOUNT_SID = ""
    team, people = oncall_team(contacts=False)
    notification = Notification.objects.create(
        key="sms-unconfigured",
        user=people["primary"],
        channel="sms",
        purpose="page",
        target="+4917012345678",
        payload={"to": "+4917012345678", "body": "Vigil [CRITICAL] Test"},
    )
    assert deliver(notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.state == "failed" and notification.attempts == 1
    assert "SMS_ACCOUNT_SID" in notification.last_error
    attempt = DeliveryAttempt.objects.get(notification=notification)
    assert not attempt.ok and "not set up" in attempt.error
