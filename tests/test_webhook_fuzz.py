"""Generated payloads against both alert webhooks: text with NUL, unpaired surrogates, control
characters and huge strings; deep nesting; values of the wrong type; bodies that are not JSON.

Whatever arrives, the answer is never a 5xx (a sender such as Alertmanager retries a 500
forever); a 4xx stores nothing; a 2xx stores every alert it counts, whole and storable."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.models import Alert, AlertGroup, IntegrationKind
from common.inputs import unstorable
from incidents.models import Incident, TimelineEvent
from tests.alerts_fixtures import (
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
)

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=75,  # per webhook kind: about 150 in all, in well under a minute
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one team and integration serve every example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

NASTY = ["\x00", "\ud800", "\udfff", "\x1b[31m", "\n", "\r\n", "\t", "\x7f", "\x85", "\u2028"]
NASTY += ["\ufeff", "\ufffd", "é", "😀", "a", "Z", " ", "=", '"', "{", "%00", "\\"]
texts = st.one_of(
    st.lists(st.sampled_from(NASTY), max_size=12).map("".join),
    st.text(max_size=20),
    st.sampled_from(["firing", "resolved", "critical", "warning", "4", "https://x.example/"]),
    st.builds(
        lambda char, n: char * n,
        st.sampled_from(["x", "\x00", "é"]),
        st.sampled_from([127, 129, 201, 2_001, 10_001, 20_001, 60_000, 200_000]),
    ),
)
times = st.one_of(
    st.sampled_from(
        [
            "2026-11-26T15:16:23.124Z",
            "2026-11-26T15:16:23.123456789+02:00",
            "0001-01-01T00:00:00Z",
            "0202-11-26T15:16:23Z",
            "9999-12-31T23:59:59-23:59",
            "2026-02-30T00:00:00Z",
            "soon",
        ]
    ),
    texts,
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts, times
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
string_maps = st.dictionaries(texts, texts, max_size=4)


def maybe(strategy):
    """Mostly the right shape, sometimes anything at all."""
    return st.one_of(*[strategy] * 9, anything)


am_alerts = st.fixed_dictionaries(
    {"labels": maybe(st.dictionaries(texts, texts, min_size=1, max_size=4))},
    optional={
        "status": maybe(st.sampled_from(["firing", "resolved"])),
        "annotations": maybe(string_maps),
        "startsAt": maybe(times),
        "endsAt": maybe(times),
        "generatorURL": maybe(texts),
        "fingerprint": maybe(texts),
    },
)
am_payloads = st.fixed_dictionaries(
    {"version": maybe(st.just("4")), "alerts": maybe(st.lists(am_alerts, max_size=4))},
    optional={
        "groupKey": maybe(texts),
        "status": maybe(texts),
        "commonLabels": maybe(string_maps),
        "commonAnnotations": maybe(string_maps),
        "receiver": anything,
        "truncatedAlerts": anything,
    },
)
links = st.fixed_dictionaries(
    {"href": maybe(st.sampled_from(["https://wiki.example/rb", "javascript:x"]) | texts)},
    optional={"text": maybe(st.sampled_from(["Runbook", "Dashboard", "Logs"]) | texts)},
)
generic_alerts = st.fixed_dictionaries(
    {"title": maybe(texts)},
    optional={
        "severity": maybe(st.sampled_from(["critical", "warning", "info"])),
        "status": maybe(st.sampled_from(["firing", "resolved"])),
        "dedup_key": maybe(texts),
        "description": maybe(texts),
        "labels": maybe(string_maps),
        "links": maybe(st.lists(links, max_size=3)),
    },
)
generic_payloads = st.one_of(
    generic_alerts,
    st.fixed_dictionaries({"alerts": maybe(st.lists(generic_alerts, max_size=4))}),
)


def bodies(payloads):
    """The payload as a sender encodes it (escaped, or raw UTF-8 with surrogates passed
    through), or bytes that are not JSON, or JSON nested deeper than anyone should."""
    escaped = payloads.map(lambda p: json.dumps(p).encode())
    raw = payloads.map(lambda p: json.dumps(p, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return st.one_of(
        *[escaped] * 4,
        *[raw] * 2,
        st.binary(max_size=64),
        st.integers(1, 50_000).map(lambda n: ("[" * n + "]" * n).encode()),
        st.integers(1, 5_000).map(lambda n: ('{"alerts":' * n + "[]" + "}" * n).encode()),
    )


def _counts():
    return (
        Alert.objects.count(),
        AlertGroup.objects.count(),
        Incident.objects.count(),
        TimelineEvent.objects.count(),
    )


def _storable(value) -> bool:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return not unstorable(text) and "\\u0000" not in text


def _assert_stored_whole(response, before):
    summary = response.json()
    assert summary["status"] == "accepted"
    assert Alert.objects.count() - before[0] == summary["new_alerts"]
    for group in AlertGroup.objects.prefetch_related("alerts"):
        assert group.title and group.group_key and group.status
        assert group.alerts.all(), "a group without its alerts"
        assert _storable([group.title, group.group_key, group.labels, group.annotations])
        for alert in group.alerts.all():
            assert alert.fingerprint and alert.status in ("firing", "resolved")
            assert alert.labels and all(isinstance(v, str) for v in alert.labels.values())
            assert _storable([alert.fingerprint, alert.labels, alert.annotations])
            assert _storable(alert.generator_url)


def _send(client, integration, token, body):
    before = _counts()
    response = client.post(
        integration.webhook_path(),
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert _counts() == before, "a refused payload stored something"
    else:
        assert response.status_code == 202
        _assert_stored_whole(response, before)


@pytest.fixture
def hooks():
    """One integration of each kind, shared by every example of a test."""
    team, _people = oncall_team()
    return {kind: integration_for(team, kind=kind, name=kind) for kind in IntegrationKind}


@FUZZ
@given(body=bodies(am_payloads))
def test_the_alertmanager_webhook_never_fails_and_never_half_stores(client, hooks, body):
    _send(client, *hooks[IntegrationKind.ALERTMANAGER], body)


@FUZZ
@given(body=bodies(generic_payloads))
def test_the_generic_webhook_never_fails_and_never_half_stores(client, hooks, body):
    _send(client, *hooks[IntegrationKind.GENERIC], body)
