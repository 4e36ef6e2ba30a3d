"""Input no view can store is a 400 with the reason, never a 500: a NUL byte, an unpaired
surrogate or bytes that are not UTF-8 in a page's or the API's query, form or JSON; an
impossible or out-of-range date. An alert webhook instead stores what it can (U+FFFD for
what it cannot), so a sender such as Alertmanager never retries a 500 forever."""

import html
import json
import time

import pytest
from django.db import transaction

from accounts.tokens import api_token_create
from alerts.models import Alert, AlertGroup, IntegrationKind, SignedReceipt
from common.inputs import clean_json, parse_date, parse_datetime, unstorable_in_json
from incidents.models import Incident, Severity, TimelineEvent
from incidents.services import incident_declare
from oncall.models import Override
from runbooks.services import runbook_create
from tests.alerts_fixtures import (
    am_payload,
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
    post,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(client):
    """The Platform team with its schedule and lead (a manager), an incident, a runbook; the
    lead is signed in and holds an API token."""
    team, people = oncall_team()
    lead = people["lead"]
    runbook = runbook_create(
        title="High Error Rate",
        slug="high-error-rate",
        team=team,
        body="1. [ ] Check the dashboard",
        tags=["errors"],
        alert_names=["AgentHighErrorRate"],
        by=lead,
    )
    incident = incident_declare(
        title="Checkout errors", severity=Severity.objects.get(level=2), team=team, by=lead
    )
    schedule = team.schedules.get()
    client.force_login(lead)
    _, raw = api_token_create(user=lead, name="test")
    return {
        "team": team,
        "lead": lead,
        "incident": incident,
        "schedule": schedule,
        "layer": schedule.layers.order_by("position").first(),
        "runbook": runbook,
        "auth": {"HTTP_AUTHORIZATION": f"Bearer {raw}"},
    }


# Every page and API endpoint that reads query parameters, with the parameters it reads.
PAGES = [
    ("/incidents/", ["q", "severity", "team", "status", "sort", "page"]),
    ("/incidents/{incident}/", ["part", "filter", "before"]),
    ("/alerts/", ["status"]),
    ("/oncall/", ["anything"]),
    ("/oncall/mine/", ["anything"]),
    ("/oncall/schedules/{schedule}/", ["view", "date", "tz"]),
    ("/oncall/schedules/{schedule}/fairness/", ["start", "end"]),
    ("/oncall/layers/{layer}/cover/", ["start", "end", "replaces"]),
    ("/oncall/schedules/new/", ["team"]),
    ("/runbooks/", ["q", "team", "tag"]),
    ("/runbooks/{runbook}/revisions/diff/", ["old", "new"]),
    ("/runbooks/incidents/{incident}/", ["runbook"]),
    ("/postmortems/", ["q"]),
    ("/postmortems/action-items/", ["team", "priority", "status", "mine", "overdue"]),
    ("/api/v1/incidents/", ["q", "severity", "team", "status", "page", "page_size"]),
    ("/api/v1/incidents/{incident}/events", ["after_seq", "limit"]),
    ("/api/v1/oncall/now", ["team"]),
    ("/api/v1/schedules/{schedule}/shifts", ["start", "end"]),
    ("/api/v1/runbooks", ["q", "team", "tag", "alertname"]),
    ("/api/v1/postmortems/action-items", ["team", "priority", "status"]),
]
TEXT_CASES = [(url, name) for url, names in PAGES for name in names]
# Percent-encoded as a browser or a script sends them; reason shown for each.
BAD_TEXT = {
    "%00": "contains a NUL character",
    "a%ED%A0%80b": "is not valid UTF-8 text",  # an encoded surrogate
    "a%FFb": "is not valid UTF-8 text",
}


def _url(template, world):
    return template.format(
        incident=world["incident"].pk,
        schedule=world["schedule"].pk,
        layer=world["layer"].pk,
        runbook=world["runbook"].slug,
    )


def _get(client, world, url):
    # One savepoint per request: a request that failed in the database leaves the test usable.
    with transaction.atomic():
        return client.get(url, **world["auth"])


def _text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.parametrize(("template", "name"), TEXT_CASES)
def test_unstorable_text_in_a_query_parameter_is_a_400_with_the_reason(
    client, world, template, name
):
    url = _url(template, world)
    for value, reason in BAD_TEXT.items():
        response = _get(client, world, f"{url}?{name}={value}")
        assert response.status_code == 400, value
        assert f"The query parameter {name!r} {reason}" in _text(response)


@pytest.mark.parametrize("value", list(BAD_TEXT))
def test_unstorable_text_in_a_query_parameter_name_is_a_400(client, world, value):
    response = _get(client, world, f"/runbooks/?{value}=x")
    assert response.status_code == 400
    assert "The name of a query parameter" in _text(response)


@pytest.mark.parametrize(
    "path",
    [
        "/oncall/feeds/%00.ics",
        "/paging/ack/%00/",
        "/api/v1/runbooks/%00",
        "/postmortems/1/sections/%00/",
        "/oncall/swaps/1/%00/",
    ],
)
def test_a_nul_in_the_address_is_a_400(client, world, path):
    response = _get(client, world, path)
    assert response.status_code == 400
    assert "The address contains a NUL character" in _text(response)


def test_the_query_is_checked_under_asgi_too():
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    response = async_to_sync(AsyncClient().get)("/runbooks/?q=a%ED%A0%80")
    assert response.status_code == 400
    assert "The query parameter 'q' is not valid UTF-8 text" in _text(response)


# (page, parameter) for every page that reads a date or a time from its query.
DATE_CASES = [
    ("/oncall/schedules/{schedule}/", "date"),
    ("/oncall/schedules/{schedule}/fairness/", "start"),
    ("/oncall/schedules/{schedule}/fairness/", "end"),
    ("/oncall/layers/{layer}/cover/", "start"),
    ("/oncall/layers/{layer}/cover/", "end"),
]
BAD_DATES = {
    "2026-02-30": "is not a date",
    "2026-13-01": "is not a date",
    "0000-01-01": "is not a date",
    "0001-01-01": "must be between 2000-01-01 and 2999-12-31",
    "9999-12-31": "must be between 2000-01-01 and 2999-12-31",
    "1999-12-31": "must be between 2000-01-01 and 2999-12-31",
    "3000-01-01": "must be between 2000-01-01 and 2999-12-31",
}
BAD_TIMES = {
    "2026-02-30T10:00": "is not a date and time",
    "2026-03-01T25:00": "is not a date and time",
    "9999-12-31T23:59:59": "must be between",
    "0001-01-01T00:00:00": "must be between",
    "2999-12-31T23:59:59-23:59": "has an offset from UTC beyond",
    "2000-01-01T00:00:00%2B23:59": "has an offset from UTC beyond",
}


@pytest.mark.parametrize(("template", "name"), DATE_CASES)
@pytest.mark.parametrize("value", list(BAD_DATES))
def test_an_impossible_or_out_of_range_date_is_a_400_with_the_reason(
    client, world, template, name, value
):
    if "cover" in template:
        reason = "is not a date and time" if "is not" in BAD_DATES[value] else "must be between"
    else:
        reason = BAD_DATES[value]
    response = _get(client, world, f"{_url(template, world)}?{name}={value}")
    assert response.status_code == 400
    assert f"{name} {reason}" in _text(response)


@pytest.mark.parametrize("name", ["start", "end"])
@pytest.mark.parametrize("value", list(BAD_TIMES))
def test_an_impossible_time_on_the_cover_page_is_shown_by_its_form(client, world, name, value):
    response = _get(client, world, f"/oncall/layers/{world['layer'].pk}/cover/?{name}={value}")
    assert response.status_code == 400
    assert f"{name} {BAD_TIMES[value]}" in _text(response)
    assert 'class="form-error" role="alert"' in _text(response)


def test_the_calendar_still_shows_the_first_and_last_months_it_allows(client, world):
    base = f"/oncall/schedules/{world['schedule'].pk}/"
    for date in ("2000-01-01", "2999-12-31"):
        for view in ("week", "month"):
            assert _get(client, world, f"{base}?date={date}&view={view}").status_code == 200


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        ("2026-02-30T00:00:00Z", "2026-03-02T00:00:00Z", "start is not a date and time"),
        ("0000-01-01T00:00:00Z", "2026-03-02T00:00:00Z", "start is not a date and time"),
        ("9999-12-01T00:00:00Z", "9999-12-31T00:00:00Z", "start must be between"),
        ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "end must be between"),
        ("2999-12-01T00:00:00-23:59", "2999-12-31T00:00:00-23:59", "offset from UTC beyond"),
        ("2000-01-01T00:00:00+23:59", "2000-01-08T00:00:00Z", "offset from UTC beyond"),
        ("", "2026-01-01T00:00:00Z", "start is required"),
    ],
)
def test_the_shifts_api_refuses_impossible_windows_with_the_reason(
    client, world, start, end, reason
):
    url = f"/api/v1/schedules/{world['schedule'].pk}/shifts"
    with transaction.atomic():
        response = client.get(url, {"start": start, "end": end}, **world["auth"])
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_the_shifts_api_still_answers_the_edges_of_the_range(client, world):
    url = f"/api/v1/schedules/{world['schedule'].pk}/shifts"
    for start, end in [
        ("2000-01-01T00:00:00+14:00", "2000-01-08T00:00:00Z"),
        ("2999-12-01T00:00:00-14:00", "2999-12-31T23:59:59-14:00"),
        ("2026-01-01T00:00:00", "2026-01-08T00:00:00"),  # no offset: UTC
    ]:
        response = client.get(url, {"start": start, "end": end}, **world["auth"])
        assert response.status_code == 200, response.content


def test_a_take_this_shift_with_an_impossible_time_is_refused_by_the_form(client, world):
    url = f"/oncall/layers/{world['layer'].pk}/cover/"
    response = client.post(
        url, {"kind": "take", "start": "2026-02-30T10:00:00Z", "end": "2026-03-02T10:00:00Z"}
    )
    assert response.status_code == 400
    assert "start is not a date and time" in _text(response)
    missing = client.post(url, {"kind": "take", "start": "", "end": ""})
    assert missing.status_code == 400
    assert "Give both a start and an end." in _text(missing)
    assert not Override.objects.exists()


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", "-1", "1e3"])
def test_a_junk_id_is_ignored_not_a_500(client, world, value):
    layer = world["layer"]
    cover = _get(client, world, f"/oncall/layers/{layer.pk}/cover/?replaces={value}")
    assert cover.status_code == 200
    incident = _get(client, world, f"/incidents/{world['incident'].pk}/?before={value}")
    assert incident.status_code == 200
    response = client.post("/oncall/mine/contact/", {"remove": value})
    assert response.status_code == 400  # read as an (empty) new contact method


def test_unstorable_text_in_a_form_is_a_400_and_nothing_is_stored(client, world):
    incident = world["incident"]
    before = TimelineEvent.objects.count()
    url = f"/incidents/{incident.pk}/notes"
    urlencoded = client.generic(
        "POST", url, b"body=a%00b", content_type="application/x-www-form-urlencoded"
    )
    assert urlencoded.status_code == 400
    assert "The form field 'body' contains a NUL character" in _text(urlencoded)
    not_utf8 = client.generic(
        "POST", url, b"body=a%ED%A0%80b", content_type="application/x-www-form-urlencoded"
    )
    assert not_utf8.status_code == 400
    assert "is not valid UTF-8 text" in _text(not_utf8)
    multipart = client.post(url, {"body": "a\x00b"})  # the test client sends multipart
    assert multipart.status_code == 400
    assert "The form field 'body' contains a NUL character" in _text(multipart)
    assert TimelineEvent.objects.count() == before


def test_odd_content_types_and_lengths_are_never_a_500(client, world):
    url = f"/incidents/{world['incident'].pk}/notes"
    for content_type in (
        "application/x-www-form-urlencoded; charset=nonsense",
        "application/x-www-form-urlencoded; charset=latin-1; x=y",
        "multipart/form-data",  # no boundary
        "multipart/form-data; boundary=",
        "text/plain; charset=utf-8",
    ):
        response = client.generic("POST", url, b"body=hello", content_type=content_type)
        assert response.status_code < 500, content_type
    response = client.generic(
        "POST", url, b"body=hello", content_type="text/plain", CONTENT_LENGTH="-5"
    )
    assert response.status_code < 500


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"title": "a\x00b", "severity": "SEV2", "team": "platform"}, "a NUL character"),
        ({"title": "a\ud800b", "severity": "SEV2", "team": "platform"}, "an unpaired surrogate"),
        ({"title": "ok", "severity": "SEV2", "team": "platform", "x\udfff": 1}, "unpaired"),
        ({"title": "ok", "severity": "SEV2", "team": "platform", "x": [[{"y": "\x00"}]]}, "NUL"),
    ],
)
def test_unstorable_text_in_an_api_json_body_is_a_400_with_the_reason(client, world, body, reason):
    before = Incident.objects.count()
    response = client.post(
        "/api/v1/incidents/", json.dumps(body), content_type="application/json", **world["auth"]
    )
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert Incident.objects.count() == before


def test_a_note_with_a_surrogate_posted_to_the_api_is_a_400(client, world):
    response = client.post(
        f"/api/v1/incidents/{world['incident'].pk}/events",
        b'{"body": "\xed\xa0\x80 raw surrogate bytes"}',
        content_type="application/json",
        **world["auth"],
    )
    assert response.status_code == 400
    assert "unpaired surrogate" in response.json()["detail"]


# --- alert webhooks: stored with U+FFFD, never refused for one label ---------------------------


def _stored_text(*rows) -> str:
    return json.dumps(rows, default=str, ensure_ascii=False)


def test_an_alertmanager_alert_with_nul_and_surrogates_is_stored_with_replacement_characters(
    client,
):
    team, _ = oncall_team()
    integration, token = integration_for(team)
    payload = am_payload(name="Disk\x00Full")
    alert = payload["alerts"][0]
    alert["labels"]["service\x00"] = "check\ud800out"
    alert["annotations"]["summary"] = "half \udfff a pair"
    alert["annotations"]["runbook\x00"] = "x\x00y"
    alert["fingerprint"] = "fp\x00"
    alert["generatorURL"] = "http://prometheus.example/graph?\x00"
    payload["groupKey"] = '{}:{alertname="Disk\x00Full"}'
    payload["commonAnnotations"] = {"team\ud83d": "platform\x00"}
    response = post(client, integration, payload, token=token)
    assert response.status_code == 202, response.content
    stored = Alert.objects.select_related("group").get()
    assert stored.labels["alertname"] == "Disk\ufffdFull"
    assert stored.labels["service\ufffd"] == "check\ufffdout"
    assert stored.annotations["summary"] == "half \ufffd a pair"
    assert stored.annotations["runbook\ufffd"] == "x\ufffdy"
    assert stored.annotations["team\ufffd"] == "platform\ufffd"
    assert stored.fingerprint == "fp\ufffd"
    assert stored.generator_url.endswith("?\ufffd")
    group = stored.group
    assert group.group_key == '{}:{alertname="Disk\ufffdFull"}'
    assert group.incident is not None
    text = _stored_text(
        stored.labels,
        stored.annotations,
        group.title,
        group.labels,
        group.annotations,
        group.incident.title,
        list(group.incident.events.values_list("body", "data")),
    )
    assert "\ufffd" in text
    assert not unstorable_in_json(json.loads(text))


def test_a_generic_alert_with_nul_and_surrogates_is_stored_with_replacement_characters(client):
    team, _ = oncall_team()
    integration, token = integration_for(team, kind=IntegrationKind.GENERIC, name="Generic")
    body = {
        "title": "Queue\x00 stuck \ud800",
        "dedup_key": "queue\x00",
        "description": "lone \udc00 low half",
        "labels": {"service\x00": "jobs\ud800"},
        "links": [{"text": "Runbook\x00", "href": "https://wiki.example/rb\x00"}],
    }
    response = post(client, integration, body, token=token)
    assert response.status_code == 202, response.content
    stored = Alert.objects.get()
    assert stored.fingerprint == "queue\ufffd"
    assert stored.labels["service\ufffd"] == "jobs\ufffd"
    assert stored.annotations["summary"] == "Queue\ufffd stuck \ufffd"
    assert stored.annotations["description"] == "lone \ufffd low half"
    assert stored.annotations["runbook_url"] == "https://wiki.example/rb\ufffd"
    assert AlertGroup.objects.get().incident is not None


def test_a_webhook_body_that_is_not_utf8_or_is_labelled_a_form_is_still_stored(client):
    team, _ = oncall_team()
    integration, token = integration_for(team)
    raw = json.dumps(am_payload(name="Latin")).encode().replace(b"Latin", b"Lat\xefn")
    response = post(client, integration, None, token=token, raw=raw)
    assert response.status_code == 202, response.content
    assert Alert.objects.get().labels["alertname"] == "Lat\ufffdn"
    # curl -d sends JSON as application/x-www-form-urlencoded: it is not read as a form.
    raw = json.dumps(am_payload(name="Form%00%ED%A0%80"))
    response = client.post(
        integration.webhook_path(),
        raw,
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 202, response.content
    assert Alert.objects.filter(labels__alertname="Form%00%ED%A0%80").exists()


def test_an_alert_with_a_long_name_and_summary_opens_its_incident(client):
    # Each within its 10,000-character limit, together longer than one timeline event.
    team, _ = oncall_team()
    integration, token = integration_for(team)
    payload = am_payload(name="N" * 10_000)
    payload["alerts"][0]["annotations"] = {"summary": "S" * 10_000}
    payload["alerts"][0]["fingerprint"] = "long"
    assert post(client, integration, payload, token=token).status_code == 202
    generic, generic_token = integration_for(team, kind=IntegrationKind.GENERIC, name="Generic")
    body = {"title": "T" * 100_000, "dedup_key": "long", "severity": "critical"}
    assert post(client, generic, body, token=generic_token).status_code == 202
    assert Incident.objects.count() == 2
    event = TimelineEvent.objects.filter(kind="alert").order_by("pk").first()
    assert event.body.startswith("Alert **" + "N" * 300 + "** fired: SSS")


def test_webhook_times_with_huge_offsets_or_beyond_the_range_are_stored(client):
    import datetime as dt

    team, _ = oncall_team()
    integration, token = integration_for(team)
    payload = am_payload(n=2)
    payload["alerts"][0]["startsAt"] = "2026-11-26T15:16:23-23:59"
    payload["alerts"][1]["status"] = "resolved"
    payload["alerts"][1]["endsAt"] = "9999-12-31T23:59:59-23:59"
    response = post(client, integration, payload, token=token)
    assert response.status_code == 202, response.content
    first, second = Alert.objects.order_by("fingerprint")
    assert first.starts_at == dt.datetime(2026, 11, 27, 15, 15, 23, tzinfo=dt.UTC)
    assert second.ends_at is None  # unknown, like a clock before 2000


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("t=1,v1=" + "a" * 600, "X-Vigil-Signature must be ASCII and at most 512 characters"),
        ("t=1,v1=\u00e9\u00e9", "X-Vigil-Signature must be ASCII and at most 512 characters"),
        ("t=" + "9" * 400 + ",v1=ab", "X-Vigil-Signature must be 't=<unix time>,v1=<hex>'"),
        ("t=\u00b2,v1=ab", "X-Vigil-Signature must be ASCII"),
        ("t=-5,v1=ab", "X-Vigil-Signature must be 't=<unix time>,v1=<hex>'"),
        ("v1=ab", "X-Vigil-Signature must be 't=<unix time>,v1=<hex>'"),
    ],
)
def test_a_malformed_signature_header_is_a_400_and_stores_nothing(client, header, reason):
    team, _ = oncall_team()
    integration, token = integration_for(team, kind=IntegrationKind.GENERIC, name="Generic")
    body = json.dumps({"title": "Disk full", "dedup_key": f"disk-{time.time()}"})
    headers = {"HTTP_X_VIGIL_SIGNATURE": header}
    response = post(client, integration, None, token=token, raw=body, headers=headers)
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert not Alert.objects.exists() and not SignedReceipt.objects.exists()


def test_odd_webhook_headers_are_never_a_500(client):
    team, _ = oncall_team()
    integration, token = integration_for(team)
    body = json.dumps(am_payload())
    url = integration.webhook_path()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for extra in (
        {"CONTENT_LENGTH": "-5"},
        {"CONTENT_LENGTH": "1e3"},
        {"CONTENT_LENGTH": "9" * 5000},
        {"HTTP_AUTHORIZATION": "Bearer \u00e9\u00ff"},
        {"HTTP_AUTHORIZATION": "Bearer " + "x" * 10_000},
    ):
        response = client.generic(
            "POST", url, body, content_type="application/json", **{**auth, **extra}
        )
        assert response.status_code < 500, extra
    for content_type in (
        "application/json; charset=nonsense",
        "application/json; charset=utf-16",
        "text/plain",
        "multipart/form-data",
    ):
        response = client.generic("POST", url, body, content_type=content_type, **auth)
        assert response.status_code < 500, content_type


# --- the shared helpers ------------------------------------------------------------------------


def test_clean_json_replaces_in_keys_and_values_at_any_depth():
    deep = current = []
    for _ in range(5000):  # deeper than Python's recursion limit
        current.append([])
        current = current[0]
    current.append("\x00")
    data = clean_json({"a\x00": ["b\ud800", {"c": "\udfff"}], "n": 1, "deep": deep})
    assert data["a\ufffd"] == ["b\ufffd", {"c": "\ufffd"}]
    assert data["n"] == 1
    assert not unstorable_in_json(data)
    assert unstorable_in_json({"k": [1, {"x": "\x00"}]}) == "a NUL character"
    assert unstorable_in_json({"\ud800": 1}) == "an unpaired surrogate"
    assert unstorable_in_json({"ok": "😀"}) == ""


def test_parse_date_and_parse_datetime_read_what_browsers_and_scripts_send():
    import datetime as dt

    assert parse_date("2026-03-01", "d") == dt.date(2026, 3, 1)
    assert parse_date("", "d") is None and parse_date(None, "d") is None
    utc = parse_datetime("2026-03-01T10:00", "t", naive_tz=dt.UTC)
    assert utc == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert parse_datetime("2026-03-01T10:00:00Z", "t").utcoffset() == dt.timedelta(0)
    assert parse_datetime("2026-03-01 10:00:00+14:00", "t").utcoffset() == dt.timedelta(hours=14)
