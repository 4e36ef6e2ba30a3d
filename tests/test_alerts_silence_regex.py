"""Silence and routing regexes run with RE2 semantics, anchored as Alertmanager anchors them."""

import threading
import time

import pytest
from django import forms
from django.db import connection
from django.utils import timezone

from alerts.forms import parse_matchers
from alerts.models import AlertGroup, Decision, Silence, matchers_match
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db

EVIL = [{"name": "instance", "op": "=~", "value": "(a+)+b"}]


def finishes_within(seconds, fn):
    """Run fn in a thread; its result, or a failure if it is still running after `seconds`."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still matching after {seconds} s"
    return result["value"]


def test_a_catastrophic_pattern_matches_in_linear_time():
    labels = {"instance": "a" * 40 + "c"}  # Python's engine: hours; doubles per character
    assert finishes_within(2, lambda: matchers_match(EVIL, labels)) is False
    assert matchers_match(EVIL, {"instance": "aaab"}) is True


def test_regexes_are_anchored_as_alertmanager_anchors_them():
    warn = [{"name": "severity", "op": "=~", "value": "warn"}]
    assert not matchers_match(warn, {"severity": "warning"})
    assert matchers_match(
        [{"name": "severity", "op": "=~", "value": "warn.*"}], {"severity": "warning"}
    )
    # The anchors wrap the whole alternation, not just its ends.
    either = [{"name": "service", "op": "=~", "value": "api|web"}]
    assert matchers_match(either, {"service": "web"})
    assert not matchers_match(either, {"service": "api-gateway"})
    assert matchers_match([{"name": "service", "op": "!~", "value": "api|web"}], {"service": "db"})


def test_a_pattern_re2_refuses_is_refused_at_save_with_the_reason():
    with pytest.raises(forms.ValidationError, match="RE2"):
        parse_matchers('instance=~"(?=a)a"')
    with pytest.raises(forms.ValidationError, match="RE2"):
        parse_matchers(r'instance=~"(a)\1"')
    assert parse_matchers('instance=~"(a+)+b"') == EVIL


def test_a_stored_pattern_re2_refuses_silences_nothing():
    stored = [{"name": "instance", "op": "!~", "value": "(?=a)"}]
    assert not matchers_match(stored, {"instance": "anything"})


@pytest.mark.django_db(transaction=True)
def test_ingest_with_a_catastrophic_silence_answers_at_once(client):
    team, _ = oncall_team()
    integration, token = integration_for(team)
    Silence.objects.create(
        team=team,
        matchers=EVIL,
        ends_at=timezone.now() + timezone.timedelta(hours=1),
        reason="flaky hosts",
    )
    payload = am_payload(extra={"instance": "a" * 40 + "c"})
    started = time.monotonic()
    response = finishes_within(10, lambda: post(client, integration, payload, token=token))
    assert response.status_code == 202, time.monotonic() - started
    group = AlertGroup.objects.get()
    assert not group.silenced and group.decision == Decision.PAGE
