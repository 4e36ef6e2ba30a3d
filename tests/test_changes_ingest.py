"""Change events coming into Vigil: the API, the changes webhook (GitHub deployment statuses,
PagerDuty Change Events, Vigil's own JSON), record_change for deploy scripts, and the flag
changes a job-store scan sees. A change just before an incident is its likely suspect and on
its timeline; a replay stores nothing new; a refusal says why and stores nothing."""

import datetime as dt
import hashlib
import hmac
import io
import json
import urllib.parse

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tokens import api_token_create
from alerts.models import IntegrationKind
from alerts.services import integration_create, integration_rotate_token
from changes.models import ChangeEvent, ChangeKind, ChangeSource, IncidentChange
from incidents.models import EventKind, Severity, TimelineEvent
from incidents.services import incident_declare
from jobstores import services as jobstores
from jobstores.models import FlagChange
from tests.alerts_fixtures import fast_passwords  # noqa: F401 (an autouse fixture)
from tests.factories import IncidentFactory, TeamFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/changes"


def iso(moment) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bearer(user) -> dict:
    _, raw = api_token_create(user=user, name="deploys")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def api_post(client, auth, body):
    return client.post(API, data=json.dumps(body), content_type="application/json", **auth)


def declare(team, by, *, started_at=None, is_private=False):
    return incident_declare(
        title="Checkout errors",
        severity=Severity.objects.get(level=2),
        team=team,
        by=by,
        started_at=started_at,
        is_private=is_private,
    )


def change_events_on(incident):
    return TimelineEvent.objects.filter(incident=incident, kind=EventKind.CHANGE)


@pytest.fixture
def hook(team):
    integration, token = integration_create(team=team, kind=IntegrationKind.CHANGES, name="Deploys")
    return integration, token


def send(client, integration, body, *, path_token=None, token=None, headers=None):
    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    extra.update(headers or {})
    return client.post(
        integration.webhook_path(path_token),
        data=raw,
        content_type="application/json",
        **extra,
    )


# --- an incident's recent changes ---------------------------------------------------------


def test_a_change_recorded_before_the_incident_is_declared_is_its_suspect_and_on_its_timeline(
    client, team, responder
):
    auth = bearer(responder)
    started = timezone.now() - dt.timedelta(minutes=1)
    answer = api_post(
        client,
        auth,
        {
            "team": team.slug,
            "service": "checkout",
            "summary": "Deploy v1.6.0",
            "version": "v1.6.0",
            "previous_version": "v1.5.2",
            "environment": "production",
            "occurred_at": iso(started - dt.timedelta(minutes=30)),
        },
    )
    assert answer.status_code == 201
    change = answer.json()
    assert change["author"] == "alex" and change["source"] == "api" and change["team"] == team.slug
    incident = declare(team, responder, started_at=started)
    listed = client.get(f"/api/v1/incidents/{incident.pk}/changes", **auth).json()
    assert [(c["id"], c["suspect"], c["minutes_before"]) for c in listed] == [
        (change["id"], True, 30)
    ]
    [event] = change_events_on(incident)
    assert "checkout v1.6.0" in event.body and event.data["change"] == change["id"]


def test_a_change_recorded_after_the_incident_was_declared_goes_on_its_timeline(
    client, team, responder
):
    auth = bearer(responder)
    started = timezone.now() - dt.timedelta(minutes=5)
    incident = declare(team, responder, started_at=started)
    assert not change_events_on(incident).exists()
    answer = api_post(
        client,
        auth,
        {
            "team": team.slug,
            "service": "checkout",
            "summary": "Raise the pool size",
            "kind": "config",
            "occurred_at": iso(started - dt.timedelta(minutes=30)),
        },
    )
    assert answer.status_code == 201
    [listed] = client.get(f"/api/v1/incidents/{incident.pk}/changes", **auth).json()
    assert listed["suspect"] is True and listed["minutes_before"] == 30
    assert listed["kind"] == "config"
    assert change_events_on(incident).count() == 1


def test_the_closest_change_before_the_start_is_the_suspect_and_later_ones_are_not(
    client, team, responder
):
    auth = bearer(responder)
    started = timezone.now() - dt.timedelta(minutes=20)
    incident = declare(team, responder, started_at=started)
    for minutes, summary in ((-90, "old"), (-30, "closest"), (10, "after the start")):
        api_post(
            client,
            auth,
            {
                "team": team.slug,
                "service": "checkout",
                "summary": summary,
                "occurred_at": iso(started + dt.timedelta(minutes=minutes)),
            },
        )
    listed = client.get(f"/api/v1/incidents/{incident.pk}/changes", **auth).json()
    assert [(c["summary"], c["suspect"], c["minutes_before"]) for c in listed] == [
        ("after the start", False, -10),
        ("closest", True, 30),
        ("old", False, 90),
    ]


def test_a_private_incidents_changes_are_a_404_to_an_outsider(client, team, responder, outsider):
    incident = declare(team, responder, is_private=True)
    url = f"/api/v1/incidents/{incident.pk}/changes"
    assert client.get(url, **bearer(outsider)).status_code == 404
    assert client.get(url, **bearer(responder)).status_code == 200
    assert client.get(url).status_code == 401
    assert client.get("/api/v1/incidents/999999/changes", **bearer(responder)).status_code == 404


def test_listing_an_incidents_changes_takes_the_same_queries_at_n_and_3n(client, team, responder):
    auth = bearer(responder)
    other = TeamFactory(slug="search", name="Search")
    started = timezone.now() - dt.timedelta(minutes=1)
    incident = IncidentFactory(team=team, started_at=started, affected_services=["search"])
    url = f"/api/v1/incidents/{incident.pk}/changes"

    def add(n, offset):
        for i in range(n):
            for whose, service in ((team, "checkout"), (other, "search")):
                ChangeEvent.objects.create(
                    team=whose,
                    service=whose.services.get_or_create(name=service)[0],
                    summary=f"Deploy {offset + i}",
                    source=ChangeSource.API,
                    occurred_at=started - dt.timedelta(minutes=offset + i + 1),
                )

    add(2, 0)
    client.get(url, **auth)  # the token's first use writes last_used_at
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(url, **auth).json()) == 4
    add(4, 10)
    with CaptureQueriesContext(connection) as many:
        listed = client.get(url, **auth).json()
    assert len(listed) == 12
    assert {c["team"] for c in listed} == {"platform", "search"}
    assert len(many.captured_queries) == len(few.captured_queries)


# --- POST /api/v1/changes ------------------------------------------------------------------


def test_the_api_stores_a_change_once_per_external_id(client, team, responder):
    auth = bearer(responder)
    declare(team, responder, started_at=timezone.now() - dt.timedelta(minutes=1))
    body = {
        "team": team.slug,
        "service": "checkout",
        "summary": "Deploy v1.6.0",
        "external_id": "run-42",
        "url": "https://ci.example/runs/42",
    }
    first = api_post(client, auth, body)
    again = api_post(client, auth, {**body, "summary": "A retry says the same thing"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["summary"] == "Deploy v1.6.0"
    assert first.json()["url"] == "https://ci.example/runs/42"
    assert ChangeEvent.objects.count() == 1
    assert TimelineEvent.objects.filter(kind=EventKind.CHANGE).count() == 1


def test_the_api_needs_the_responder_role_in_the_team(client, team, viewer, outsider):
    body = {"team": team.slug, "service": "checkout", "summary": "Deploy"}
    assert api_post(client, bearer(viewer), body).status_code == 403
    assert api_post(client, bearer(outsider), body).status_code == 403
    assert api_post(client, {}, body).status_code == 401
    assert api_post(client, {"HTTP_AUTHORIZATION": "Bearer vgl_wrong"}, body).status_code == 401
    assert not ChangeEvent.objects.exists()


def test_the_api_answers_404_for_an_unknown_team(client, responder):
    answer = api_post(
        client, bearer(responder), {"team": "nobody", "service": "x", "summary": "Deploy"}
    )
    assert answer.status_code == 404
    assert "nobody" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"occurred_at": "2026-02-30T10:00:00Z"}, "not a date and time"),
        ({"occurred_at": "2026-12-01T10:00:00"}, "needs a time zone"),
        ({"occurred_at": "9999-12-31T23:59:59Z"}, "between"),
        ({"occurred_at": "2026-12-01T10:00:00+15:00"}, "beyond ±14:00"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "in the future"),
        ({"url": "javascript:alert(1)"}, "http:// or https://"),
        ({"summary": "   "}, "needs a summary"),
        ({"summary": "x" * 501}, "limited to 500"),
        ({"kind": "reboot"}, "Invalid request"),
        ({"summary": "Deploy \u0000"}, "NUL"),
        ({"service": ""}, "needs a service"),
    ],
)
def test_the_api_refuses_a_bad_change_with_the_reason(client, team, responder, change, reason):
    body = {"team": team.slug, "service": "checkout", "summary": "Deploy", **change}
    answer = api_post(client, bearer(responder), body)
    assert answer.status_code == 400
    assert reason in answer.json()["detail"]
    assert not ChangeEvent.objects.exists()


def test_the_api_refuses_a_change_without_a_summary(client, team, responder):
    answer = api_post(client, bearer(responder), {"team": team.slug, "service": "checkout"})
    assert answer.status_code == 400
    assert "summary" in json.dumps(answer.json()["errors"])
    assert not ChangeEvent.objects.exists()


# --- the changes webhook: Vigil's own JSON -------------------------------------------------


def test_create_integration_changes_prints_the_changes_webhook_url_last(client, team, settings):
    settings.SITE_URL = "https://vigil.example"
    out = io.StringIO()
    call_command("create_integration", "changes", "Deploys", "--team", team.slug, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert lines[-1].startswith("https://vigil.example/changes/webhook/")
    assert any("GitHub" in line and "Secret" in line for line in lines[:-1])
    answer = client.post(
        lines[-1].removeprefix("https://vigil.example"),
        data=json.dumps({"service": "checkout", "summary": "Deploy v1.6.0"}),
        content_type="application/json",
    )
    assert answer.status_code == 201
    assert answer.json()["change"]["team"] == team.slug


def test_vigils_own_json_is_recorded_once_however_often_it_is_sent(client, team, responder, hook):
    integration, token = hook
    incident = declare(team, responder, started_at=timezone.now() - dt.timedelta(minutes=1))
    body = {"service": "checkout", "summary": "Deploy v1.6.0", "version": "v1.6.0"}
    first = send(client, integration, body, token=token)
    again = send(client, integration, body, path_token=token)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["change"]["id"] == again.json()["change"]["id"]
    change = ChangeEvent.objects.get()
    assert change.source == ChangeSource.API and change.integration == integration
    assert change_events_on(incident).count() == 1


def test_the_integration_names_the_team_of_the_change(client, hook):
    integration, token = hook
    answer = send(
        client, integration, {"team": "payments", "service": "x", "summary": "y"}, token=token
    )
    assert answer.status_code == 400
    assert "platform" in answer.json()["error"]
    assert not ChangeEvent.objects.exists()


def test_a_wrong_or_missing_token_is_401(client, hook):
    integration, token = hook
    body = {"service": "checkout", "summary": "Deploy"}
    assert send(client, integration, body, token=token + "x").status_code == 401
    assert send(client, integration, body, path_token="not-the-token").status_code == 401
    assert send(client, integration, body).status_code == 401
    assert not ChangeEvent.objects.exists()


def test_the_previous_token_works_during_a_rotation(client, hook):
    integration, old = hook
    new = integration_rotate_token(integration=integration)
    body = {"service": "checkout", "summary": "Deploy", "external_id": "a"}
    assert send(client, integration, body, path_token=old).status_code == 201
    assert send(client, integration, {**body, "external_id": "b"}, token=new).status_code == 201


def test_an_unknown_integration_or_one_for_alerts_is_404(client, team, hook):
    integration, token = hook
    alerts, alerts_token = integration_create(
        team=team, kind=IntegrationKind.ALERTMANAGER, name="Prometheus"
    )
    body = json.dumps({"service": "checkout", "summary": "Deploy"})
    unknown = "/changes/webhook/00000000-0000-0000-0000-000000000000/"
    for path, secret in (
        (unknown, token),
        (f"/changes/webhook/{alerts.public_id}/", alerts_token),
        # and the alert webhook takes no changes integration
        (f"/alerts/webhook/{integration.public_id}/", token),
    ):
        answer = client.post(
            path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
        assert answer.status_code == 404, path
    assert not ChangeEvent.objects.exists()


def test_the_webhook_takes_only_post(client, hook):
    integration, token = hook
    assert client.get(integration.webhook_path(token)).status_code == 405


def test_a_body_over_one_mebibyte_is_413(client, hook):
    integration, token = hook
    body = {"service": "checkout", "summary": "x" * (1024 * 1024)}
    assert send(client, integration, body, token=token).status_code == 413
    declared = client.post(
        integration.webhook_path(token),
        data="{}",
        content_type="application/json",
        CONTENT_LENGTH=str(2 * 1024 * 1024),
    )
    assert declared.status_code == 413
    assert not ChangeEvent.objects.exists()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("", "empty"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
        ("[1, 2]", "JSON object"),
        ('{"service": "checkout", "summary": "Deploy \\u0000"}', "NUL"),
        ('{"service": "checkout", "summary": "Deploy \\ud800"}', "unpaired surrogate"),
        (
            '{"service": "checkout", "summary": "Deploy", "occurred_at": "2026-13-45T99:00:00Z"}',
            "not a date and time",
        ),
        (
            '{"service": "checkout", "summary": "Deploy", "url": "javascript:alert(1)"}',
            "http:// or https://",
        ),
        ('{"service": "checkout"}', "needs a summary"),
        ('{"service": "checkout", "summary": {"text": "Deploy"}}', "must be a string"),
    ],
)
def test_the_webhook_refuses_a_bad_body_with_the_reason(client, hook, raw, reason):
    integration, token = hook
    answer = send(client, integration, raw, token=token)
    assert answer.status_code == 400
    assert reason in answer.json()["error"]
    assert not ChangeEvent.objects.exists()


# --- PagerDuty Change Events ----------------------------------------------------------------


def pagerduty_body(*, routing_key="", at=None):
    body = {
        "payload": {
            "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
            "timestamp": (at or timezone.now() - dt.timedelta(minutes=30)).strftime(
                "%Y-%m-%dT%H:%M:%S.000+0000"
            ),
            "source": "acme-build-pipeline",
            "custom_details": {
                "service": "checkout",
                "environment": "production",
                "revision": "a1b2c3d",
                "user": "sam",
                "build_number": 2,
            },
        },
        "links": [
            {"href": "javascript:alert(1)", "text": "not a link"},
            {"href": "https://ci.example/build/2", "text": "View more details"},
        ],
    }
    if routing_key:
        body["routing_key"] = routing_key
    return body


def test_a_pagerduty_change_event_is_accepted_once(client, team, responder, hook):
    integration, token = hook
    incident = declare(team, responder, started_at=timezone.now() - dt.timedelta(minutes=1))
    body = json.dumps(pagerduty_body())
    answers = [send(client, integration, body, path_token=token) for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == {"status": "success", "message": "Change event processed"}
    change = ChangeEvent.objects.get()
    assert change.source == ChangeSource.PAGERDUTY and change.service.name == "checkout"
    assert (change.environment, change.version, change.author) == ("production", "a1b2c3d", "sam")
    assert change.url == "https://ci.example/build/2"
    assert change.external_id == hashlib.sha256(body.encode()).hexdigest()
    assert change_events_on(incident).count() == 1
    assert IncidentChange.objects.filter(incident=incident).count() == 1


def test_a_pagerduty_routing_key_may_carry_the_token(client, hook):
    integration, token = hook
    assert send(client, integration, pagerduty_body(routing_key=token)).status_code == 202
    assert send(client, integration, pagerduty_body(routing_key="wrong")).status_code == 401
    assert send(client, integration, pagerduty_body(routing_key="\ud800")).status_code == 401
    assert ChangeEvent.objects.count() == 1


def test_a_pagerduty_event_without_a_summary_or_with_an_impossible_time_is_400(client, hook):
    integration, token = hook
    missing = pagerduty_body()
    del missing["payload"]["summary"]
    impossible = pagerduty_body()
    impossible["payload"]["timestamp"] = "2026-02-30T08:42:58.315+0000"
    for body, reason in ((missing, "payload.summary"), (impossible, "not a date and time")):
        answer = send(client, integration, body, token=token)
        assert answer.status_code == 400
        assert reason in answer.json()["error"]
    assert not ChangeEvent.objects.exists()


# --- GitHub deployment statuses ------------------------------------------------------------


def github_body(*, state="success", status_id=4242, at=None):
    at = at or timezone.now() - dt.timedelta(minutes=30)
    return {
        "action": "created",
        "deployment_status": {
            "id": status_id,
            "state": state,
            "creator": {"login": "alex"},
            "description": "",
            "environment": "production",
            "target_url": "javascript:alert(1)",
            "log_url": "https://github.com/acme/checkout/actions/runs/42",
            "environment_url": "https://checkout.example",
            "created_at": iso(at),
            "updated_at": iso(at),
        },
        "deployment": {
            "id": 987,
            "sha": "a1b2c3d4e5f6",
            "ref": "v1.6.0",
            "task": "deploy",
            "environment": "production",
            "description": "Deploy v1.6.0",
            "creator": {"login": "ci-bot"},
        },
        "repository": {"id": 1, "name": "checkout", "full_name": "acme/checkout"},
        "sender": {"login": "alex"},
    }


def github_headers(secret, raw: bytes, *, event="deployment_status", signature=None):
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"HTTP_X_GITHUB_EVENT": event, "HTTP_X_GITHUB_DELIVERY": "72d3162e"}
    if signature is not False:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature or f"sha256={digest}"
    return headers


def github_send(client, integration, token, body, **options):
    raw = json.dumps(body).encode()
    return send(
        client, integration, raw, path_token=token, headers=github_headers(token, raw, **options)
    )


def test_a_github_deployment_status_is_accepted_once(client, team, responder, hook):
    integration, token = hook
    incident = declare(team, responder, started_at=timezone.now() - dt.timedelta(minutes=1))
    first = github_send(client, integration, token, github_body())
    again = github_send(client, integration, token, github_body())
    assert (first.status_code, again.status_code) == (201, 200)
    change = ChangeEvent.objects.get()
    assert change.source == ChangeSource.GITHUB and change.kind == ChangeKind.DEPLOY
    assert (change.service.name, change.environment, change.version) == (
        "checkout",
        "production",
        "v1.6.0",
    )
    assert change.author == "alex" and change.summary == "Deploy v1.6.0 (success)"
    assert change.url == "https://github.com/acme/checkout/actions/runs/42"
    assert change.external_id == "deployment_status:4242"
    assert change.details["sha"] == "a1b2c3d4e5f6" and change.details["state"] == "success"
    assert change_events_on(incident).count() == 1
    [listed] = client.get(f"/api/v1/incidents/{incident.pk}/changes", **bearer(responder)).json()
    assert listed["suspect"] is True and listed["source"] == "github"


def test_a_github_delivery_form_encoded_as_githubs_default_is_read_too(client, hook):
    integration, token = hook
    raw = urllib.parse.urlencode({"payload": json.dumps(github_body())}).encode()
    answer = client.post(
        integration.webhook_path(token),
        data=raw,
        content_type="application/x-www-form-urlencoded",
        **github_headers(token, raw),
    )
    assert answer.status_code == 201
    assert ChangeEvent.objects.get().external_id == "deployment_status:4242"


def test_a_deploy_in_progress_and_its_success_are_two_changes(client, hook):
    integration, token = hook
    progress = github_send(
        client, integration, token, github_body(state="in_progress", status_id=1)
    )
    success = github_send(client, integration, token, github_body(status_id=2))
    assert (progress.status_code, success.status_code) == (201, 201)
    summaries = set(ChangeEvent.objects.values_list("summary", flat=True))
    assert summaries == {"Deploy v1.6.0 (in progress)", "Deploy v1.6.0 (success)"}


@pytest.mark.parametrize("state", ["pending", "queued", "failure", "error", "inactive"])
def test_a_deployment_that_is_not_a_change_yet_is_ignored_with_the_reason(client, hook, state):
    integration, token = hook
    answer = github_send(client, integration, token, github_body(state=state))
    assert answer.status_code == 202
    assert answer.json()["status"] == "ignored" and state in answer.json()["reason"]
    assert not ChangeEvent.objects.exists()


def test_githubs_ping_is_answered_and_other_events_are_ignored(client, hook):
    integration, token = hook
    ping = github_send(client, integration, token, {"zen": "Keep it simple."}, event="ping")
    assert (ping.status_code, ping.json()) == (200, {"status": "pong"})
    push = github_send(client, integration, token, {"ref": "main"}, event="push")
    assert push.status_code == 202 and "push" in push.json()["reason"]
    assert not ChangeEvent.objects.exists()


def test_a_github_request_needs_a_good_signature_and_the_token_in_its_url(client, hook):
    integration, token = hook
    raw = json.dumps(github_body()).encode()
    bad = github_headers(token, raw, signature="sha256=" + "0" * 64)
    assert send(client, integration, raw, path_token=token, headers=bad).status_code == 401
    missing = github_headers(token, raw, signature=False)
    assert send(client, integration, raw, path_token=token, headers=missing).status_code == 401
    odd = github_headers(token, raw, signature="sha256=é" * 200)
    assert send(client, integration, raw, path_token=token, headers=odd).status_code == 401
    # Signed with the token, but sent to the URL without it: Vigil keeps only the token's
    # hash, so it cannot check a signature on its own.
    tokenless = send(client, integration, raw, headers=github_headers(token, raw))
    assert tokenless.status_code == 401
    assert "token in it" in tokenless.json()["error"]
    wrong = github_headers("wrong", raw)
    assert send(client, integration, raw, path_token="wrong", headers=wrong).status_code == 401
    assert not ChangeEvent.objects.exists()


def test_a_github_event_with_an_impossible_time_is_400(client, hook):
    integration, token = hook
    body = github_body()
    body["deployment_status"]["created_at"] = "2026-02-30T10:00:00Z"
    answer = github_send(client, integration, token, body)
    assert answer.status_code == 400
    assert "deployment_status.created_at" in answer.json()["error"]
    assert not ChangeEvent.objects.exists()


# --- record_change ----------------------------------------------------------------------------


def test_record_change_stores_a_change_and_says_so(team, responder):
    started = timezone.now() - dt.timedelta(minutes=1)
    incident = declare(team, responder, started_at=started)
    out = io.StringIO()
    call_command(
        "record_change",
        "--team",
        team.slug,
        "--service",
        "checkout",
        "--summary",
        "Deploy v1.6.0",
        "--version",
        "v1.6.0",
        "--previous-version",
        "v1.5.2",
        "--at",
        iso(started - dt.timedelta(minutes=30)),
        "--id",
        "pipeline-7",
        stdout=out,
    )
    change = ChangeEvent.objects.get()
    assert change.source == ChangeSource.CLI and change.previous_version == "v1.5.2"
    assert f"Change id: {change.pk}" in out.getvalue() and "checkout v1.6.0" in out.getvalue()
    assert change_events_on(incident).count() == 1
    again = io.StringIO()
    call_command(
        "record_change",
        *("--team", team.slug, "--service", "checkout", "--summary", "Deploy v1.6.0"),
        *("--id", "pipeline-7"),
        stdout=again,
    )
    assert "Already recorded" in again.getvalue() and str(change.pk) in again.getvalue()
    assert ChangeEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("yesterday", "not a date and time"),
        ("2026-02-30T10:00:00Z", "not a date and time"),
        ("2026-12-01T10:00:00", "needs a time zone"),
    ],
)
def test_record_change_refuses_a_bad_at(team, at, reason):
    with pytest.raises(CommandError, match=reason):
        call_command(
            "record_change",
            *("--team", team.slug, "--service", "checkout", "--summary", "Deploy"),
            *("--at", at),
        )
    assert not ChangeEvent.objects.exists()


def test_record_change_refuses_an_unknown_team_and_a_bad_link(team):
    with pytest.raises(CommandError, match="No team"):
        call_command("record_change", "--team", "nobody", "--service", "x", "--summary", "y")
    with pytest.raises(CommandError, match="http"):
        call_command(
            "record_change",
            *("--team", team.slug, "--service", "x", "--summary", "y"),
            *("--url", "javascript:alert(1)"),
        )
    assert not ChangeEvent.objects.exists()


# --- flag snapshots ----------------------------------------------------------------------------


def test_a_flag_change_a_scan_sees_becomes_a_flag_change_event(store, watched, on_call):
    team, people = on_call
    incident = declare(team, people["primary"], started_at=timezone.now())
    watched.set("flag:search_tool", "true")
    watched.set("flag:old_planner", "on")
    jobstores.monitor_store(store)
    assert not ChangeEvent.objects.exists()  # the first reading is the baseline
    watched.set("flag:search_tool", "false")
    watched.set("flag:new_planner", "on")
    watched.delete("flag:old_planner")
    jobstores.monitor_store(store)
    changes = {c.summary: c for c in ChangeEvent.objects.select_related("service")}
    assert set(changes) == {
        "Feature flag flag:search_tool: true → false",
        "Feature flag flag:new_planner: appeared as on",
        "Feature flag flag:old_planner: deleted (was on)",
    }
    change = changes["Feature flag flag:search_tool: true → false"]
    flag = FlagChange.objects.get(key="flag:search_tool")
    assert (change.kind, change.source, change.author) == (ChangeKind.FLAG, ChangeSource.FLAGS, "")
    assert change.service.name == store.name and change.team == team
    assert change.external_id == f"flagchange:{flag.pk}" and change.occurred_at == flag.at
    assert change_events_on(incident).count() == 3


def test_a_flag_a_person_turns_off_is_a_change_by_that_person(store, watched, on_call):
    _, people = on_call
    watched.set("flag:search_tool", "true")
    jobstores.monitor_store(store)
    jobstores.flag_disable(store=store, key="flag:search_tool", by=people["primary"])
    change = ChangeEvent.objects.get()
    assert change.summary == "Feature flag flag:search_tool: true → false"
    assert change.author == people["primary"].username and change.kind == ChangeKind.FLAG
