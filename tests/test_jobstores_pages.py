"""The job-store pages: only the team sees a store, responders scan and kill after a
confirmation, managers configure it, the password never comes back, bad input is a 400."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobstores import services
from jobstores.models import FlagChange, FlagState, JobStore, QueueSample, RunTrigger, ScanRun
from teams.models import Role
from tests.alerts_fixtures import fast_passwords  # noqa: F401
from tests.factories import member
from tests.jobstores_fixtures import NOW, seed_job, store_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(on_call, other_team):
    team, found = on_call
    return {
        "manager": found["lead"],
        "responder": found["primary"],
        "viewer": member(team, Role.VIEWER, username="agents-viewer"),
        "outsider": member(other_team, username="payments-person"),
    }


def as_(client, user):
    client.force_login(user)
    return client


def scanned(store, watched, *ids):
    for job_id in ids:
        seed_job(watched, job_id, age=900)
    run = ScanRun.objects.create(store=store, trigger=RunTrigger.PERSON, max_age_seconds=300)
    return services.scan_run(run.pk, now=NOW)


def test_only_the_stores_team_sees_it(client, store, people):
    assert as_(client, people["outsider"]).get(reverse("jobstores")).status_code == 200
    assert "Agent platform" not in client.get(reverse("jobstores")).content.decode()
    assert client.get(reverse("jobstore_detail", args=[store.pk])).status_code == 404
    as_(client, people["viewer"])
    assert "Agent platform" in client.get(reverse("jobstores")).content.decode()
    assert client.get(reverse("jobstore_detail", args=[store.pk])).status_code == 200


def test_a_viewer_may_not_scan_kill_or_disable(client, store, people, watched):
    scanned(store, watched, "a")
    as_(client, people["viewer"])
    assert client.post(reverse("jobstore_scan", args=[store.pk])).status_code == 403
    kill = client.post(reverse("jobstore_kill", args=[store.pk]), {"all": "yes", "confirm": "yes"})
    assert kill.status_code == 403
    assert json.loads(watched.get("job:a"))["status"] == "processing"
    flag = client.post(reverse("jobstore_flag_disable", args=[store.pk]), {"key": "flag:x"})
    assert flag.status_code == 403
    page = client.get(reverse("jobstore_detail", args=[store.pk])).content.decode()
    assert "Kill selected jobs" not in page and "Scan now" not in page


def test_a_responder_kills_after_confirming(client, store, people, watched):
    scanned(store, watched, "a", "b", "c")
    as_(client, people["responder"])
    page = client.get(reverse("jobstore_detail", args=[store.pk])).content.decode()
    assert "Stale jobs (3)" in page
    confirm = client.post(reverse("jobstore_kill", args=[store.pk]), {"job_id": ["a", "b"]})
    assert confirm.status_code == 200
    assert "Kill 2 stale jobs?" in confirm.content.decode()
    assert json.loads(watched.get("job:a"))["status"] == "processing"  # nothing yet
    done = client.post(
        reverse("jobstore_kill", args=[store.pk]),
        {"job_id": ["a", "b"], "confirm": "yes"},
        follow=True,
    )
    assert "Killed 2 stale jobs." in done.content.decode()
    assert json.loads(watched.get("job:a"))["status"] == "failed"
    assert json.loads(watched.get("job:c"))["status"] == "processing"


def test_killing_nothing_chosen_says_so(client, store, people, watched):
    scanned(store, watched, "a")
    as_(client, people["responder"])
    answer = client.post(reverse("jobstore_kill", args=[store.pk]), {}, follow=True)
    assert "Choose the jobs to kill" in answer.content.decode()


def test_a_manager_adds_a_store_and_its_password_is_never_shown_again(client, people, team):
    as_(client, people["manager"])
    team_id = people["manager"].memberships.get().team_id
    form = {
        "team": team_id,
        "name": "Production agents",
        "redis_url": "redis://:hunter2@127.0.0.1:6379/12",
        "format": "json",
        "job_pattern": "job:*",
        "conv_pattern": "conv:*",
        "queue_pattern": "queue:priority:*",
        "flag_pattern": "flag:*",
        "stale_after_seconds": 300,
        "queue_depth_threshold": 1000,
        "queue_depth_minutes": 15,
        "errors_stream": "errors",
        "errors_query": "sum by (type) (increase(agent_errors_total[1h]))",
        "visibility_timeout_seconds": 3600,
        "enabled": "on",
    }
    answer = client.post(reverse("jobstore_new"), form)
    assert answer.status_code == 302, answer.content.decode()
    saved = JobStore.objects.get(name="Production agents")
    assert saved.redis_url == "redis://:hunter2@127.0.0.1:6379/12"
    for url in (
        reverse("jobstore_detail", args=[saved.pk]),
        reverse("jobstore_edit", args=[saved.pk]),
    ):
        assert "hunter2" not in client.get(url).content.decode()
    # Saving the edit form as shown (no password in it) keeps the password.
    form["redis_url"] = "redis://127.0.0.1:6379/12"
    assert client.post(reverse("jobstore_edit", args=[saved.pk]), form).status_code == 302
    saved.refresh_from_db()
    assert saved.redis_url == "redis://:hunter2@127.0.0.1:6379/12"


def test_a_responder_may_not_add_or_edit_a_store(client, store, people):
    as_(client, people["responder"])
    assert client.get(reverse("jobstore_new")).status_code == 403
    assert client.get(reverse("jobstore_edit", args=[store.pk])).status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "bad\x00name"),
        ("stale_after_seconds", "99999999999999999999"),
        ("stale_after_seconds", "0"),
        ("redis_url", "unix:///tmp/redis.sock"),
        ("format", "pickle"),
    ],
)
def test_bad_input_is_a_400_with_the_reason_and_saves_nothing(client, people, field, value):
    as_(client, people["manager"])
    form = {
        "team": people["manager"].memberships.get().team_id,
        "name": "X",
        "redis_url": store_url(),
        "format": "json",
        "job_pattern": "job:*",
        "conv_pattern": "conv:*",
        "queue_pattern": "q:*",
        "flag_pattern": "flag:*",
        "stale_after_seconds": 300,
        "queue_depth_threshold": 1000,
        "queue_depth_minutes": 15,
        "errors_stream": "errors",
        "visibility_timeout_seconds": 3600,
        field: value,
    }
    answer = client.post(reverse("jobstore_new"), form)
    assert answer.status_code == 400
    if "\x00" not in value:  # a NUL is refused before any form sees it
        assert "errorlist" in answer.content.decode()
    assert not JobStore.objects.exists()


def test_the_run_part_reports_progress_while_a_scan_runs(client, store, people):
    run = ScanRun.objects.create(
        store=store, trigger=RunTrigger.PERSON, dbsize=1000, keys_scanned=250
    )
    as_(client, people["viewer"])
    part = client.get(reverse("jobstore_run", args=[store.pk, run.pk]), HTTP_HX_REQUEST="true")
    html = part.content.decode()
    assert "Scanning: 250 of 1000 keys" in html and 'value="25"' in html
    assert 'sse-swap="scan-run"' in html  # the page's live stream replaces it as it moves


def test_the_conversation_and_error_tools_answer_on_the_page(client, store, people, watched):
    watched.set(
        "conv:c1",
        json.dumps(
            [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}]
        ),
    )
    watched.xadd("errors", {"type": "RateLimitError"})
    as_(client, people["viewer"])
    page = client.get(reverse("jobstore_conversation", args=[store.pk]), {"conv_id": "c1"})
    assert (
        page.status_code == 200
        and "2 (1 from the user, 1 from the assistant)" in page.content.decode()
    )
    missing = client.get(reverse("jobstore_conversation", args=[store.pk]), {"conv_id": "nope"})
    assert "Conversation not found" in missing.content.decode()
    errors = client.get(
        reverse("jobstore_errors", args=[store.pk]), {"source": "stream", "hours": 1}
    )
    assert "RateLimitError" in errors.content.decode()
    bad = client.get(
        reverse("jobstore_errors", args=[store.pk]), {"source": "stream", "hours": "x"}
    )
    assert bad.status_code == 400


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def _fill(store, n):
    now = timezone.now()
    start = store.flags.count()
    FlagState.objects.bulk_create(
        [FlagState(store=store, key=f"flag:f{start + i}", value="true") for i in range(n)]
    )
    FlagChange.objects.bulk_create(
        [FlagChange(store=store, key=f"flag:f{i}", before="false", after="true") for i in range(n)]
    )
    QueueSample.objects.bulk_create(
        [QueueSample(store=store, key=f"queue:priority:{i}", depth=i, at=now) for i in range(n)]
    )
    ScanRun.objects.bulk_create(
        [ScanRun(store=store, trigger=RunTrigger.SCHEDULE, status="ok") for _ in range(n)]
    )


def test_the_pages_run_the_same_queries_at_n_and_10n_rows(
    client, store, people, django_assert_num_queries
):
    as_(client, people["responder"])
    team = store.team
    _fill(store, 3)
    JobStore.objects.bulk_create(
        [JobStore(team=team, name=f"Store {i}", redis_url=store_url()) for i in range(3)]
    )
    detail = reverse("jobstore_detail", args=[store.pk])
    at_n = {url: _queries(client, url) for url in (reverse("jobstores"), detail)}
    _fill(store, 30)
    JobStore.objects.bulk_create(
        [JobStore(team=team, name=f"More {i}", redis_url=store_url()) for i in range(30)]
    )
    for url, count in at_n.items():
        with django_assert_num_queries(count):
            client.get(url)
