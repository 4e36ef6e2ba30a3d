"""Job stores through Vigil's services on a real Redis: a scan is recorded and turns into an
alert that opens an incident and resolves; a kill is audited and on the incident's timeline;
queues, flags and "Disable feature"; a target that does not answer fails the run, not the
worker."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from alerts.models import AlertGroup, GroupStatus, IntegrationKind
from audit.models import AuditEntry
from incidents.models import EventKind, TimelineEvent
from jobstores import services
from jobstores.models import FlagChange, JobStore, QueueSample, RunStatus, RunTrigger, ScanRun
from tests.alerts_fixtures import fast_passwords  # noqa: F401
from tests.jobstores_fixtures import NOW, seed_job, store_url

pytestmark = pytest.mark.django_db


def scan(store, now=NOW):
    run = ScanRun.objects.create(store=store, trigger=RunTrigger.SCHEDULE, max_age_seconds=300)
    return services.scan_run(run.pk, now=now)


def stale_group(store):
    return AlertGroup.objects.filter(
        integration__kind=IntegrationKind.INTERNAL,
        group_key=f"vigil:{services.stale_alert_key(store)}",
    ).first()


def test_a_scan_is_recorded_with_its_counts_and_stale_jobs(store, watched):
    seed_job(watched, "stuck", age=900, message="x" * 300)
    seed_job(watched, "young", age=10)
    seed_job(watched, "done", status="completed", age=900)
    watched.set("job:garbage", b"not json")
    run = scan(store)
    assert run.status == RunStatus.OK
    assert run.keys_scanned == 4
    assert run.counts["stale"] == 1 and run.counts["not_json"] == 1
    assert run.counts["processing"] == 1 and run.counts["other_status"] == 1
    [job] = run.stale_jobs
    assert job["job_id"] == "stuck" and job["user_id"] == "user-stuck"
    assert job["message"] == "x" * 100
    assert job["age_seconds"] == 900
    assert run.duration_seconds is not None and run.finished_at is not None


def test_stale_jobs_raise_one_alert_that_opens_an_incident_and_resolves_when_gone(store, watched):
    for i in range(3):
        seed_job(watched, f"stuck-{i}", age=900)
    scan(store)
    scan(store)  # a second run finding the same: still one group
    groups = AlertGroup.objects.filter(integration__kind=IntegrationKind.INTERNAL)
    assert groups.count() == 1
    group = groups.get()
    assert group.status == GroupStatus.FIRING
    assert group.title == "Stale jobs in Agent platform"
    assert group.incident is not None and group.incident.is_open
    assert group.labels["jobstore"] == "Agent platform"

    watched.delete(*[f"job:stuck-{i}" for i in range(3)])
    scan(store)
    group.refresh_from_db()
    assert group.status == GroupStatus.RESOLVED


def test_a_target_that_does_not_answer_fails_the_run_with_the_reason_and_no_password(on_call):
    team, _ = on_call
    dead = JobStore.objects.create(
        team=team, name="Gone", redis_url="redis://:s3cret-pass@127.0.0.1:1/0"
    )
    run = scan(dead)
    assert run.status == RunStatus.FAILED
    assert run.errors and "s3cret-pass" not in json.dumps(run.errors)
    assert stale_group(dead) is None


def test_a_kill_is_audited_and_on_the_open_incidents_timeline(store, watched, on_call):
    _, people = on_call
    seed_job(watched, "a", age=900)
    seed_job(watched, "b", age=900)
    seed_job(watched, "c", age=900)
    scan(store)
    incident = stale_group(store).incident
    result = services.kill_jobs(store=store, job_ids=["a", "b"], by=people["primary"], now=NOW)
    assert sorted(result.killed) == ["a", "b"]
    job = json.loads(watched.get("job:a"))
    assert job["status"] == "failed"
    assert job["error"] == "Killed: Processing timeout (300s)"
    assert 3500 < watched.ttl("job:a") <= 3600
    assert json.loads(watched.get("job:c"))["status"] == "processing"
    entry = AuditEntry.objects.get(action="jobstore.kill")
    assert entry.actor == people["primary"] and sorted(entry.after["killed"]) == ["a", "b"]
    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.MITIGATION)
    assert "Killed 2 stale jobs in Agent platform" in event.body


def test_a_job_that_finished_after_the_scan_is_left_alone(store, watched, on_call):
    _, people = on_call
    seed_job(watched, "a", age=900)
    scan(store)
    finished = seed_job(watched, "a", status="completed", age=900)
    result = services.kill_jobs(store=store, by=people["primary"], now=NOW)
    assert result.killed == []
    assert [s["job_id"] for s in result.skipped] == ["a"]
    assert json.loads(watched.get("job:a")) == finished
    assert watched.ttl("job:a") == -1


def test_killing_needs_a_finished_scan_with_those_jobs(store, watched, on_call):
    _, people = on_call
    with pytest.raises(services.JobStoreError, match="Scan the store first"):
        services.kill_jobs(store=store, by=people["primary"])
    scan(store)
    with pytest.raises(services.JobStoreError, match="no stale jobs"):
        services.kill_jobs(store=store, by=people["primary"])


def test_a_queue_over_its_threshold_for_the_whole_window_raises_an_alert(store, watched):
    store.queue_depth_threshold = 10
    store.queue_depth_minutes = 15
    store.save()
    watched.rpush("queue:priority:1", *range(50))
    watched.rpush("queue:priority:2", 1)
    start = timezone.now() - dt.timedelta(minutes=16)
    for minute in range(0, 17):
        services.monitor_store(store, now=start + dt.timedelta(minutes=minute))
    assert QueueSample.objects.filter(store=store, key="queue:priority:1").count() == 17
    group = AlertGroup.objects.get(
        group_key=f"vigil:{services.queue_alert_key(store, 'queue:priority:1')}"
    )
    assert group.status == GroupStatus.FIRING
    assert not AlertGroup.objects.filter(
        group_key=f"vigil:{services.queue_alert_key(store, 'queue:priority:2')}",
        status=GroupStatus.FIRING,
    ).exists()
    watched.delete("queue:priority:1")
    services.monitor_store(store, now=start + dt.timedelta(minutes=17))
    group.refresh_from_db()
    assert group.status == GroupStatus.RESOLVED


def test_flag_changes_are_recorded_after_the_first_reading(store, watched):
    watched.set("flag:search_tool", "true")
    services.monitor_store(store)
    assert FlagChange.objects.count() == 0  # the baseline
    watched.set("flag:search_tool", "false")
    watched.set("flag:new_planner", "on")
    services.monitor_store(store)
    changes = {(c.key, c.before, c.after) for c in FlagChange.objects.all()}
    assert changes == {("flag:search_tool", "true", "false"), ("flag:new_planner", None, "on")}


def test_disable_feature_turns_the_flag_off_and_records_it_on_the_incident(store, watched, on_call):
    _, people = on_call
    watched.set("flag:search_tool", "true", ex=600)
    services.monitor_store(store)
    seed_job(watched, "a", age=900)
    scan(store)
    incident = stale_group(store).incident
    change = services.flag_disable(
        store=store, key="flag:search_tool", by=people["primary"], incident=incident
    )
    assert watched.get("flag:search_tool") == b"false"
    assert watched.ttl("flag:search_tool") > 0
    assert (change.before, change.after, change.by) == ("true", "false", people["primary"])
    event = TimelineEvent.objects.get(incident=incident, kind=EventKind.MITIGATION)
    assert "flag:search_tool" in event.body
    assert AuditEntry.objects.filter(action="jobstore.flag_disable").count() == 1


def test_a_flag_changed_since_vigils_reading_is_not_overwritten(store, watched, on_call):
    _, people = on_call
    watched.set("flag:search_tool", "true")
    services.monitor_store(store)
    watched.set("flag:search_tool", "rollout-50")
    with pytest.raises(services.JobStoreError, match="changed since Vigil last read it"):
        services.flag_disable(store=store, key="flag:search_tool", by=people["primary"])
    assert watched.get("flag:search_tool") == b"rollout-50"
    assert not FlagChange.objects.filter(by__isnull=False).exists()


def test_saving_keeps_the_password_when_an_edit_leaves_it_out_and_never_audits_it(on_call):
    team, people = on_call
    manager = people["lead"]
    saved = services.store_save(
        team=team,
        data={"name": "Prod", "redis_url": "redis://:hunter2@127.0.0.1:6379/3"},
        by=manager,
    )
    services.store_save(
        team=team,
        data={"name": "Prod", "redis_url": "redis://127.0.0.1:6379/4"},
        by=manager,
        store=saved,
    )
    saved.refresh_from_db()
    assert saved.redis_url == "redis://:hunter2@127.0.0.1:6379/4"
    assert "hunter2" not in saved.redacted_url
    trail = json.dumps([[e.before, e.after] for e in AuditEntry.objects.all()])
    assert "hunter2" not in trail


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("unix:///var/run/redis.sock", "redis:// or rediss://"),
        ("http://127.0.0.1:6379", "redis:// or rediss://"),
        ("redis://127.0.0.1:99999/0", "port"),
        ("redis:///0", "no host"),
    ],
)
def test_a_url_that_is_not_a_redis_url_is_refused(on_call, url, reason):
    team, people = on_call
    with pytest.raises(services.JobStoreError, match=reason):
        services.store_save(team=team, data={"name": "X", "redis_url": url}, by=people["lead"])
    assert not JobStore.objects.exists()


def test_a_private_address_is_refused_unless_the_operator_allows_it(on_call, settings):
    team, people = on_call
    settings.OUTBOUND_ALLOWED_HOSTS = []
    with pytest.raises(services.JobStoreError, match="loopback"):
        services.store_save(
            team=team, data={"name": "X", "redis_url": store_url()}, by=people["lead"]
        )


def test_a_run_asked_for_while_one_runs_is_that_run(store):
    first = services.scan_start(store=store)
    again = services.scan_start(store=store)
    assert first.pk == again.pk
    assert ScanRun.objects.filter(store=store).count() == 1
