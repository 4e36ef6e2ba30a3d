"""What the Slack, email, webhook and PagerDuty bodies say, as written to the outbox from a
real webhook ingest (the bytes a delivery sends are exactly these)."""

import datetime as dt

import pytest
import time_machine

from oncall.models import ContactMethod
from paging.messages import alert_value
from paging.models import Channel, Notification
from paging.services import engine_tick
from teams.models import TeamRouting
from tests.alerts_fixtures import (
    am_payload,
    clone,
    fast_passwords,  # noqa: F401, E402 (an autouse fixture)
    firing_payload,
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db
SATURDAY_NIGHT = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def hook():
    team, people = oncall_team(contacts=False)
    primary = people["primary"]
    ContactMethod.objects.create(user=primary, kind="email", value="primary@vigil.example")
    ContactMethod.objects.create(user=primary, kind="slack", value="http://127.0.0.1:9/dm")
    ContactMethod.objects.create(user=primary, kind="webhook", value="http://127.0.0.1:9/hook")
    TeamRouting.objects.filter(team=team).update(
        incidents_webhook_url="http://127.0.0.1:9/incidents",
        oncall_webhook_url="http://127.0.0.1:9/oncall",
        pagerduty_routing_key="R0UT1NGKEY",
    )
    return integration_for(team)


def _ingest(client, hook, payload, at=SATURDAY_NIGHT):
    integration, token = hook
    with time_machine.travel(at, tick=False):
        assert post(client, integration, payload, token=token).status_code == 202
        engine_tick()
    return {
        n.channel if n.purpose == "page" else n.purpose: n.payload
        for n in Notification.objects.all()
    }


def _with_description(payload, description):
    payload = clone(payload)
    for alert in payload["alerts"]:
        alert["annotations"]["description"] = description
    return payload


@pytest.mark.parametrize(
    ("description", "value"),
    [
        ("Error rate is 12.5%", "12.5%"),
        ("p95 latency is 7.31s (threshold: 5s)", "7.31s"),
        ("Queue has 1234 jobs waiting", "1234"),
        ("Cache hit rate dropped to 42.1%", "42.1%"),
        ("All agent API instances are down for 2+ minutes", ""),
        ("vector(1) always fires", ""),
        ("", ""),
    ],
)
def test_the_value_is_the_one_the_seeds_descriptions_carry(description, value):
    assert alert_value(labels={}, annotations={"description": description}) == value


def test_a_value_annotation_or_label_wins_over_the_description():
    assert alert_value(labels={}, annotations={"value": "0.93", "description": "x is 1"}) == "0.93"
    assert alert_value(labels={"value": "17"}, annotations={"description": "x is 1"}) == "17"


def test_every_message_carries_the_value_from_the_description(client, hook):
    payload = _with_description(am_payload(), "Error rate is 12.5%")
    sent = _ingest(client, hook, payload)

    chat = sent["chat"]
    assert chat["channel"] == "#incidents"
    assert chat["blocks"][2]["fields"] == [
        {"type": "mrkdwn", "text": "*Severity:*\ncritical"},
        {"type": "mrkdwn", "text": "*Value:*\n12.5%"},
    ]
    assert sent[Channel.SLACK]["blocks"][2]["fields"][1]["text"] == "*Value:*\n12.5%"
    body = sent[Channel.EMAIL]["body"]
    assert "Value: 12.5%" in body and "n/a" not in body
    assert sent[Channel.WEBHOOK]["alert"]["value"] == "12.5%"
    assert sent["trigger"]["payload"]["custom_details"]["value"] == "12.5%"


def test_a_real_alert_without_a_value_leaves_the_field_out(client, hook):
    sent = _ingest(client, hook, firing_payload())

    for slack in (sent["chat"], sent[Channel.SLACK]):
        assert slack["blocks"][2]["fields"] == [{"type": "mrkdwn", "text": "*Severity:*\ncritical"}]
        assert "n/a" not in str(slack)
    body = sent[Channel.EMAIL]["body"]
    assert "Value" not in body and "n/a" not in body
    assert "Severity: critical" in body
    assert sent[Channel.WEBHOOK]["alert"]["value"] is None
    assert "value" not in sent["trigger"]["payload"]["custom_details"]


def test_the_on_call_channel_is_named_as_the_ui_names_it(client, hook):
    payload = _with_description(
        am_payload(name="AgentQueueDepthHigh", severity="warning"), "Queue has 1234 jobs waiting"
    )
    sent = _ingest(client, hook, payload)
    assert sent["chat"]["channel"] == "#on-call"
    assert sent["chat"]["blocks"][2]["fields"][1]["text"] == "*Value:*\n1234"
