"""Secrets reach only those who own them: not the logs, not the audit trail, not a cache, and
calendar feed tokens not even the database."""

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import structlog
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from alerts.services import integration_create
from audit.models import AuditEntry
from common.logs import redact_secret_paths
from oncall import services
from oncall.models import CalendarToken, Schedule
from teams.models import Role, TeamRouting
from tests import celery_worker
from tests.alerts_fixtures import (
    fast_passwords,  # noqa: F401 (an autouse fixture)
    integration_for,
    oncall_team,
)
from tests.factories import PASSWORD, member

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
SECRET = "Zq7PsecretTokenValue-that-must-not-leak_0123456789abcdefgh"


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


@pytest.fixture
def vigil_log():
    """What Vigil's own log handler writes (the structlog-formatted lines), as text."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    handlers = [h for h in handlers if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)]
    assert handlers, "configure_logging's console handler is on the root logger"
    buffer = io.StringIO()
    # Swapped directly, not with setStream, which flushes the stream it replaces first.
    previous = [h.stream for h in handlers]
    for handler in handlers:
        handler.stream = buffer
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.stream = stream


def feed_token(by, **owner):
    return services.calendar_token_regenerate(by=by, **owner)[1]


def shown_url(response):
    found = re.search(
        r'id="feed-url" type="text" readonly value="([^"]+)"', response.content.decode()
    )
    return found[1]


# 1. Tokens in URL paths stay out of the logs.


@pytest.mark.parametrize(
    "name, args",
    [
        ("alerts_webhook_token", ["5a3c0f5e-8d1b-4c1e-9a51-0d6f1c2b3a4d", SECRET]),
        ("oncall_feed", [SECRET]),
        ("paging_ack_link", [SECRET]),
        ("paging_voice_ack", [SECRET]),
    ],
)
def test_every_route_with_a_secret_in_its_path_is_redacted(name, args):
    path = reverse(name, args=args)
    redacted = redact_secret_paths(f'"GET {path}?x=1 HTTP/1.1" 404')
    assert SECRET not in redacted
    assert path.split(SECRET)[0] + SECRET[:4] + "…" in redacted


def test_a_wrong_webhook_token_stays_out_of_the_request_log(client, caplog, vigil_log):
    team, _ = oncall_team()
    integration, token = integration_for(team)
    wrong = token[:-3] + "xyz"
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.post(
            integration.webhook_path(wrong), data="{}", content_type="application/json"
        )
    assert response.status_code == 401
    prefix = f"/alerts/webhook/{integration.public_id}/"
    assert f"Unauthorized: {prefix}{wrong[:4]}…/" in caplog.text
    assert wrong not in caplog.text and token not in caplog.text
    assert prefix in vigil_log.getvalue() and wrong not in vigil_log.getvalue()


def test_a_revoked_feed_url_stays_out_of_the_request_log(client, caplog, vigil_log):
    team, people = oncall_team()
    raw = feed_token(people["lead"], user=people["lead"])
    services.calendar_token_revoke(by=people["lead"], user=people["lead"])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("oncall_feed", args=[raw])).status_code == 404
        assert client.get(reverse("paging_ack_link", args=[SECRET])).status_code == 404
    assert f"Not Found: /oncall/feeds/{raw[:4]}…" in caplog.text
    assert "Not Found: /paging/ack/" in caplog.text
    for text in (caplog.text, vigil_log.getvalue()):
        assert raw not in text and SECRET not in text
    assert "/oncall/feeds/" in vigil_log.getvalue()


def test_at_debug_a_page_logs_neither_its_template_context_nor_its_csrf_token(
    client, caplog, vigil_log
):
    """At DEBUG Django's template engine logs a missing variable with the repr of the whole
    context: the CSRF token, and a query for each lazy relation in it. Vigil keeps that
    logger at INFO, whatever the root level."""
    team, people = oncall_team()
    login(client, people["primary"])
    caplog.set_level(logging.DEBUG)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode())[1]
    assert not [r for r in caplog.records if r.name.startswith("django.template")]
    assert token not in caplog.text + vigil_log.getvalue()


def test_a_structlog_event_that_carries_a_secret_path_is_redacted(vigil_log):
    structlog.get_logger("vigil.test").info("fetched", path=f"/oncall/feeds/{SECRET}.ics")
    line = vigil_log.getvalue()
    assert "/oncall/feeds/Zq7P…" in line and SECRET not in line


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def web_server(cmd, port):
    """A real web server on the test database; yields a function returning its output."""
    env = {
        **os.environ,
        "DATABASE_URL": celery_worker.test_database_url(),
        "CONN_MAX_AGE": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    with tempfile.NamedTemporaryFile(prefix="vigil-access-", suffix=".log") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, Path(log.name).read_text()
                assert time.monotonic() < deadline, Path(log.name).read_text()
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.2)
            yield lambda: Path(log.name).read_text()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _request(url, data=None):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def server_command(server, port):
    if server == "uvicorn":  # the Procfile's, without --no-access-log: uvicorn's default
        return ["-m", "uvicorn", "vigil.asgi:application", "--host", "127.0.0.1", "--port", port]
    # The Dockerfile's, with gunicorn's access log turned on.
    return [
        "-m", "gunicorn", "vigil.asgi:application", "-k", "uvicorn.workers.UvicornWorker",
        "--workers", "1", "--access-logfile", "-", "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_the_web_servers_access_log_never_shows_a_token(server):
    team, people = oncall_team()
    integration, token = integration_for(team)
    raw = feed_token(people["lead"], user=people["lead"])
    port = _free_port()
    cmd = [sys.executable, *server_command(server, str(port))]
    with web_server(cmd, port) as output:
        base = f"http://127.0.0.1:{port}"
        assert _request(base + reverse("oncall_feed", args=[raw])) == 200
        assert _request(base + integration.webhook_path(token[::-1]), data=b"{}") == 401
        assert _request(base + reverse("oncall_feed", args=[SECRET])) == 404
        # The server writes its access lines after answering: wait for the last one.
        deadline = time.monotonic() + 15
        while f"/oncall/feeds/{SECRET[:4]}…" not in (text := output()):
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
    assert f"/oncall/feeds/{raw[:4]}… HTTP/1.1" in text  # the access line of the good feed
    assert f"/alerts/webhook/{integration.public_id}/{token[::-1][:4]}…/" in text
    for secret in (raw, token, token[::-1], SECRET):
        assert secret not in text


# 2. Calendar feed tokens are stored as their hash and shown once.


def test_a_feed_token_is_stored_only_as_its_sha256(client):
    team, people = oncall_team()
    raw = feed_token(people["lead"], user=people["lead"])
    row = CalendarToken.objects.get()
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert row.prefix == raw[:6]
    assert raw not in json.dumps(list(CalendarToken.objects.values()), default=str)
    assert client.get(reverse("oncall_feed", args=[raw])).status_code == 200
    # Whoever reads the stored hash cannot use it as the URL's token.
    assert client.get(reverse("oncall_feed", args=[row.token_hash])).status_code == 404


def test_a_deactivated_persons_feed_is_gone(client):
    team, people = oncall_team()
    raw = feed_token(people["primary"], user=people["primary"])
    people["primary"].is_active = False
    people["primary"].save(update_fields=["is_active"])
    assert client.get(reverse("oncall_feed", args=[raw])).status_code == 404


@pytest.mark.parametrize("where", ["schedule", "mine"])
def test_the_feed_url_is_shown_once_then_only_its_first_characters(client, where):
    team, people = oncall_team()
    schedule = Schedule.objects.get(team=team)
    login(client, people["primary"])
    if where == "schedule":
        post_url = reverse("oncall_schedule_feed", args=[schedule.pk])
        page_url = reverse("oncall_schedule", args=[schedule.pk])
    else:
        post_url, page_url = reverse("oncall_my_feed"), reverse("oncall_mine")
    created = client.post(post_url, {"action": "regenerate"})
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    url = shown_url(created)
    assert "shown only once" in created.content.decode()
    assert client.get(urlsplit(url).path).status_code == 200
    raw = urlsplit(url).path.rsplit("/", 1)[1].removesuffix(".ics")
    html = client.get(page_url).content.decode()
    assert raw not in html
    assert f"{raw[:6]}…" in html and "Rotate" in html and "Revoke" in html
    rotated = client.post(post_url, {"action": "regenerate"})
    assert "was rotated" in rotated.content.decode() and "no-store" in rotated["Cache-Control"]
    assert client.get(urlsplit(url).path).status_code == 404
    assert client.get(urlsplit(shown_url(rotated)).path).status_code == 200


def test_the_migration_hashes_existing_tokens_and_their_urls_keep_working(client):
    team, people = oncall_team()
    schedule = Schedule.objects.get(team=team)
    before = ("oncall", "0002_layer_contactmethod_escalationpolicy_handoffnote_and_more")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps.get_model("oncall", "CalendarToken")
    old.objects.create(schedule_id=schedule.pk, token=SECRET)
    old.objects.create(user_id=people["lead"].pk, token=SECRET[::-1], revoked_at=timezone.now())
    with connection.cursor() as cursor:  # no pending foreign-key checks before ALTER TABLE
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # 0003_calendar_token_hash and on
    row = CalendarToken.objects.get(schedule=schedule)
    assert row.token_hash == hashlib.sha256(SECRET.encode()).hexdigest()
    assert row.prefix == SECRET[:6]
    assert client.get(reverse("oncall_feed", args=[SECRET])).status_code == 200
    assert client.get(reverse("oncall_feed", args=[SECRET[::-1]])).status_code == 404


# 3. Routing edits record that a credential changed, never the credential.


ROUTING_FORM = {
    "business_days": ["0", "1", "2", "3", "4"],
    "business_start": "09:00",
    "business_end": "17:00",
    "incidents_webhook_url": "",
    "oncall_webhook_url": "",
    "alerts_webhook_url": "",
    "pagerduty_routing_key": "",
    "severity_critical": "SEV1",
    "severity_warning": "SEV2",
}


def test_a_routing_edit_audits_credentials_masked(client):
    team, people = oncall_team()
    login(client, people["lead"])
    url = reverse("alerts_routing", args=[team.slug])
    old_hook = "https://hooks.slack.com/services/T000/B000/oldoldoldoldoldold"
    new_hook = "https://hooks.slack.com/services/T000/B000/newnewnewnewnewnew"
    key = "0123456789abcdef0123456789ab1234"
    first = {**ROUTING_FORM, "incidents_webhook_url": old_hook}
    assert client.post(url, first).status_code == 302
    second = {**first, "incidents_webhook_url": new_hook, "pagerduty_routing_key": key}
    assert client.post(url, second).status_code == 302
    assert TeamRouting.objects.get(team=team).pagerduty_routing_key == key
    entry = AuditEntry.objects.filter(action="routing.change").order_by("at", "pk").last()
    assert entry.before == {
        "incidents_webhook_url": "https://hooks.slack.com/…",
        "pagerduty_routing_key": "",
    }
    assert entry.after == {
        "incidents_webhook_url": "https://hooks.slack.com/…",
        "pagerduty_routing_key": "••••1234",
    }
    every_entry = json.dumps(list(AuditEntry.objects.values("before", "after")))
    for secret in (old_hook, new_hook, key, "oldoldold", "newnewnew", "B000"):
        assert secret not in every_entry


# 4. Pages that show a secret once are never cached.


def test_the_integration_token_page_is_never_cached(client):
    team, people = oncall_team()
    login(client, people["lead"])
    created = client.post(
        reverse("alerts_integration_new"),
        {"team": team.pk, "kind": "alertmanager", "name": "Prometheus"},
    )
    assert created.status_code == 200 and "shown only once" in created.content.decode()
    assert "no-store" in created["Cache-Control"]
    integration, _ = integration_create(team=team, kind="generic", name="Other", by=people["lead"])
    rotated = client.post(reverse("alerts_integration_rotate", args=[integration.pk]))
    assert rotated.status_code == 200 and "no-store" in rotated["Cache-Control"]


# 5. A failed sign-in is logged with the address it came from.


def test_a_failed_sign_in_is_logged_with_the_client_address(client, vigil_log):
    team, _ = oncall_team()
    user = member(team, Role.RESPONDER)
    client.post(
        reverse("login"),
        {"username": user.username, "password": "wrong"},
        REMOTE_ADDR="198.51.100.7",
    )
    lines = [line for line in vigil_log.getvalue().splitlines() if "login_failed" in line]
    assert lines and all("client_ip=198.51.100.7" in line for line in lines), lines
