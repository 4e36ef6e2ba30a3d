"""The recovery watch against a local Prometheus API whose answers the tests change as they
go: the outcome on the timeline (back to normal, still failing, no data), the slots that stay
on the minute after an outage, one outcome however many workers tick, a real Celery worker
running a watch (and a worker killed mid-watch), and the chart on the incident."""

import json
import re
import threading
import time
import urllib.parse
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from changes import recovery
from changes.models import (
    ChangeEvent,
    ChangeSource,
    RecoverySample,
    RecoveryWatch,
    Service,
    TeamMetrics,
    WatchStatus,
)
from changes.tasks import recovery_watch_tick
from incidents.models import ChecklistFact, ChecklistItem, EventKind, TimelineEvent
from incidents.services import checklist_add_post_rollback
from tests.celery_worker import running_worker, wait_for
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db

ERROR_QUERY = "agent_error_ratio"
LATENCY_QUERY = "agent_p95_seconds"


class FakePrometheus:
    """Answers /api/v1/query like Prometheus: the error-rate and p95 queries (and their
    week-earlier forms, with "offset 1w") get the values in `values`; None answers no data,
    "down" answers HTTP 503. `delay` holds every answer back that many seconds."""

    def __init__(self):
        self.values = {
            "error": 0.12,
            "latency": 0.35,
            "normal_error": 0.0005,
            "normal_latency": 0.3,
        }
        self.delay = 0.0
        self.queries = []
        self.asked = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(parts.query).get("query", [""])[0]
                fake.queries.append(query)
                fake.asked.set()
                if fake.delay:
                    time.sleep(fake.delay)
                if parts.path != "/api/v1/query":
                    return self.answer(404, {"status": "error", "error": "not found"})
                key = ("normal_" if "offset 1w" in query else "") + (
                    "latency" if LATENCY_QUERY in query else "error"
                )
                value = fake.values[key]
                if value == "down":
                    return self.answer(503, "upstream overloaded")  # a proxy, not JSON
                result = (
                    [] if value is None else [{"metric": {}, "value": [time.time(), str(value)]}]
                )
                self.answer(
                    200, {"status": "success", "data": {"resultType": "vector", "result": result}}
                )

            def answer(self, status, body):
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_prometheus():
    with FakePrometheus() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fifteen_minutes_every_minute(settings):
    settings.RECOVERY_WATCH_MINUTES = 15
    settings.RECOVERY_WATCH_INTERVAL_SECONDS = 60
    settings.PROMETHEUS_URL = ""


@pytest.fixture
def agent(team, fake_prometheus):
    TeamMetrics.objects.create(team=team, prometheus_url=fake_prometheus.url)
    return Service.objects.create(
        team=team, name="agent-api", error_rate_query=ERROR_QUERY, latency_query=LATENCY_QUERY
    )


@pytest.fixture
def incident(team):
    incident = IncidentFactory(team=team, started_at=timezone.now() - timedelta(minutes=20))
    checklist_add_post_rollback(incident=incident)
    return incident


def recovery_events(incident) -> list[str]:
    return list(
        TimelineEvent.objects.filter(incident_id=incident.pk, kind=EventKind.RECOVERY)
        .order_by("seq")
        .values_list("body", flat=True)
    )


def recovered_item(incident) -> ChecklistItem:
    return ChecklistItem.objects.get(incident_id=incident.pk, fact=ChecklistFact.RECOVERED)


def watch_minute_by_minute(incident, fake, *, error_rate_at=None, latency_at=None):
    """Start a watch and tick at every minute of its 15, the metrics set for each minute."""
    with time_machine.travel(timezone.now(), tick=False) as clock:
        with transaction.atomic():
            watch = recovery.watch_start(incident=incident, trigger="Rollback")
        for minute in range(16):
            if error_rate_at:
                fake.values["error"] = error_rate_at(minute)
            if latency_at:
                fake.values["latency"] = latency_at(minute)
            assert recovery.watches_sample_due() == 1
            clock.shift(timedelta(seconds=60))
    watch.refresh_from_db()
    return watch


# --- starting ------------------------------------------------------------------------------


def test_starting_reads_last_weeks_values_and_says_what_it_watches(
    incident, agent, fake_prometheus
):
    watch = recovery.watch_start(incident=incident, trigger="Rollback", service=agent)
    assert watch.status == WatchStatus.WATCHING
    assert watch.service == agent
    assert (watch.normal_error_rate, watch.normal_latency) == (0.0005, 0.3)
    assert watch.next_sample_at == watch.started_at
    assert watch.ends_at - watch.started_at == timedelta(minutes=15)
    assert all("offset 1w" in q for q in fake_prometheus.queries)
    assert len(fake_prometheus.queries) == 2
    [started] = recovery_events(incident)
    assert started.startswith(
        "Recovery watch started: error rate and p95 latency of agent-api every 1 min for 15 min"
    )


def test_the_configured_length_and_interval_are_the_ones_it_says(settings, incident, agent):
    settings.RECOVERY_WATCH_MINUTES = 10
    settings.RECOVERY_WATCH_INTERVAL_SECONDS = 30
    watch = recovery.watch_start(incident=incident, trigger="Mitigated")
    assert watch.interval_seconds == 30
    assert recovery_events(incident)[0].startswith(
        "Recovery watch started: error rate and p95 latency of agent-api every 30 s for 10 min"
    )


def test_starting_again_while_it_watches_returns_the_running_watch(incident, agent):
    first = recovery.watch_start(incident=incident, trigger="Rollback")
    again = recovery.watch_start(incident=incident, trigger="Mitigated")
    assert again.pk == first.pk
    assert RecoveryWatch.objects.filter(incident=incident).count() == 1
    assert len(recovery_events(incident)) == 1


def test_it_watches_the_suspect_changes_service(team, incident, agent):
    worker = Service.objects.create(team=team, name="agent-worker")
    ChangeEvent.objects.create(
        team=team,
        service=worker,
        summary="Deploy v2.4.1",
        occurred_at=incident.started_at - timedelta(minutes=10),
        source=ChangeSource.API,
    )
    watch = recovery.watch_start(incident=incident, trigger="Rollback")
    assert watch.service == worker


def test_without_a_known_service_it_runs_and_ends_without_data(
    team, incident, agent, fake_prometheus
):
    Service.objects.create(team=team, name="agent-worker")  # two services: which one?
    watch = watch_minute_by_minute(incident, fake_prometheus)
    assert watch.service is None
    assert fake_prometheus.queries == []
    assert watch.status == WatchStatus.NO_DATA
    started, outcome = recovery_events(incident)
    assert "no service with metrics" in started
    assert outcome.startswith("Recovery watch: no data after 15 min: No service with metrics")
    assert watch.samples.count() == 16


# --- the outcome ---------------------------------------------------------------------------


def test_it_says_when_the_error_rate_came_back_under_normal_and_ticks_the_checklist(
    incident, agent, fake_prometheus
):
    # A dip at minutes 4 and 5 that did not last; back for good from minute 7.
    bad = {0, 1, 2, 3, 6}
    watch = watch_minute_by_minute(
        incident,
        fake_prometheus,
        error_rate_at=lambda minute: 0.12 if minute in bad else 0.0008,
    )
    assert watch.status == WatchStatus.RECOVERED
    assert watch.outcome == (
        "Recovery watch: error rate 0.08%, back under 0.1% normal after 7 min; "
        "p95 0.35 s (normal 0.3 s)"
    )
    assert recovery_events(incident)[-1] == watch.outcome
    assert watch.samples.count() == 16
    assert watch.finished_at is not None
    item = recovered_item(incident)
    assert item.done_at is not None and item.done_by_vigil


def test_an_error_rate_still_high_after_fifteen_minutes_says_escalate(
    incident, agent, fake_prometheus
):
    watch = watch_minute_by_minute(incident, fake_prometheus)
    assert watch.status == WatchStatus.NOT_RECOVERED
    assert watch.outcome == "Recovery watch: error rate still 12% after 15 min: escalate"
    assert recovery_events(incident)[-1] == watch.outcome
    assert recovered_item(incident).done_at is None


def test_a_latency_still_over_twice_normal_is_not_recovered(incident, agent, fake_prometheus):
    fake_prometheus.values["error"] = 0.0002
    watch = watch_minute_by_minute(incident, fake_prometheus, latency_at=lambda minute: 1.5)
    assert watch.status == WatchStatus.NOT_RECOVERED
    assert watch.outcome == (
        "Recovery watch: p95 latency still 1.5 s (over 2× normal 0.3 s) after 15 min: escalate"
    )


def test_a_normal_above_the_floor_is_the_limit(incident, agent, fake_prometheus):
    fake_prometheus.values["normal_error"] = 0.02
    fake_prometheus.values["error"] = 0.015
    watch = watch_minute_by_minute(incident, fake_prometheus)
    assert watch.status == WatchStatus.RECOVERED
    assert "error rate 1.5%, back under 2% normal from the first reading" in watch.outcome


def test_a_prometheus_that_never_answers_ends_without_data_and_says_why(
    incident, agent, fake_prometheus
):
    for key in fake_prometheus.values:
        fake_prometheus.values[key] = "down"
    watch = watch_minute_by_minute(incident, fake_prometheus)
    assert (watch.normal_error_rate, watch.normal_latency) == (None, None)
    assert watch.status == WatchStatus.NO_DATA
    assert watch.outcome.startswith("Recovery watch: no data after 15 min: ")
    assert "HTTP 503" in watch.outcome
    assert all(s.error_rate is None and "HTTP 503" in s.problem for s in watch.samples.all())
    assert recovered_item(incident).done_at is None


def test_readings_that_fail_for_a_while_are_not_counted(incident, agent, fake_prometheus):
    watch = watch_minute_by_minute(
        incident,
        fake_prometheus,
        error_rate_at=lambda minute: "down" if minute >= 12 else (0.12 if minute < 9 else 0.0001),
    )
    assert watch.status == WatchStatus.RECOVERED
    assert "back under 0.1% normal after 9 min" in watch.outcome


# --- slots ----------------------------------------------------------------------------------


def test_slots_stay_on_the_minute_and_missed_ones_are_skipped_not_burst(incident, agent):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        watch = recovery.watch_start(incident=incident, trigger="Rollback")
        start = watch.started_at
        assert recovery.watches_sample_due() == 1
        assert recovery.watches_sample_due() == 0  # not due again until the next minute
        # The tick ran 20 s late: the next slot is still on the minute.
        clock.shift(timedelta(seconds=80))
        assert recovery.watches_sample_due() == 1
        watch.refresh_from_db()
        assert watch.next_sample_at == start + timedelta(minutes=2)
        # No worker for five and a half minutes: one reading, then the next whole minute.
        clock.shift(timedelta(minutes=5, seconds=30) - timedelta(seconds=20))
        assert recovery.watches_sample_due() == 1
        assert recovery.watches_sample_due() == 0
        watch.refresh_from_db()
        assert watch.next_sample_at == start + timedelta(minutes=7)
        assert watch.samples.count() == 3


def test_a_watch_whose_end_passed_during_an_outage_finishes_at_the_next_tick(
    incident, agent, fake_prometheus
):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        watch = recovery.watch_start(incident=incident, trigger="Rollback")
        recovery.watches_sample_due()
        clock.shift(timedelta(minutes=40))
        assert recovery.watches_sample_due() == 1
        assert recovery.watches_sample_due() == 0
    watch.refresh_from_db()
    assert watch.status == WatchStatus.NOT_RECOVERED
    assert watch.samples.count() == 2
    assert len(recovery_events(incident)) == 2


def test_the_last_slot_is_the_end_when_the_interval_does_not_divide_it(settings, incident, agent):
    settings.RECOVERY_WATCH_INTERVAL_SECONDS = 420  # 7 min: slots at 0, 7, 14, then 15
    with time_machine.travel(timezone.now(), tick=False) as clock:
        watch = recovery.watch_start(incident=incident, trigger="Rollback")
        for _ in range(3):
            recovery.watches_sample_due()
            clock.shift(timedelta(minutes=7))
        watch.refresh_from_db()
        assert watch.next_sample_at == watch.ends_at
        clock.shift(timedelta(minutes=-6))
        assert recovery.watches_sample_due() == 1
    watch.refresh_from_db()
    assert watch.status != WatchStatus.WATCHING
    assert watch.samples.count() == 4


# --- two workers ------------------------------------------------------------------------------


def watch_at_its_end(incident) -> RecoveryWatch:
    with transaction.atomic():
        watch = recovery.watch_start(incident=incident, trigger="Rollback")
    now = timezone.now()
    RecoveryWatch.objects.filter(pk=watch.pk).update(
        started_at=now - timedelta(minutes=15), ends_at=now, next_sample_at=now
    )
    return watch


def in_thread(target):
    results = []

    def run():
        try:
            results.append(target())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@pytest.mark.django_db(transaction=True)
def test_two_ticks_at_once_write_one_outcome(incident, agent, fake_prometheus):
    watch = watch_at_its_end(incident)
    fake_prometheus.delay = 0.5
    barrier = threading.Barrier(2)

    def tick():
        barrier.wait(10)
        return recovery.watches_sample_due()

    threads = [in_thread(tick) for _ in range(2)]
    for thread, _ in threads:
        thread.join(30)
    assert sorted(r for _, results in threads for r in results) == [0, 1]
    watch.refresh_from_db()
    assert watch.status == WatchStatus.NOT_RECOVERED
    assert watch.samples.count() == 1
    assert len(recovery_events(incident)) == 2


@pytest.mark.django_db(transaction=True)
def test_a_worker_slow_on_the_last_reading_and_one_that_takes_it_again_write_one_outcome(
    incident, agent, fake_prometheus
):
    watch = watch_at_its_end(incident)
    fake_prometheus.delay = 1.0
    fake_prometheus.asked.clear()
    slow, slow_results = in_thread(recovery.watches_sample_due)
    assert fake_prometheus.asked.wait(10), "the first worker never read"
    # The first worker's claim moved the slot on; a later tick finds the watch due again.
    RecoveryWatch.objects.filter(pk=watch.pk).update(next_sample_at=timezone.now())
    assert recovery.watches_sample_due() == 1
    slow.join(30)
    assert slow_results == [1]
    watch.refresh_from_db()
    assert watch.status == WatchStatus.NOT_RECOVERED
    assert watch.samples.count() == 1
    assert len(recovery_events(incident)) == 2


def test_the_task_samples_the_due_watches(incident, agent):
    watch = recovery.watch_start(incident=incident, trigger="Rollback")
    assert recovery_watch_tick() == 1
    assert recovery_watch_tick() == 0
    assert watch.samples.count() == 1


# --- a real worker --------------------------------------------------------------------------


def worker_env():
    return {
        "RECOVERY_WATCH_MINUTES": "0.1",
        "RECOVERY_WATCH_INTERVAL_SECONDS": "1",
        "RECOVERY_WATCH_TICK_SECONDS": "1",
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        "PROMETHEUS_URL": "",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_a_real_worker_watches_and_writes_the_outcome_to_the_timeline(
    settings, incident, agent, fake_prometheus
):
    # The watch's length and interval are its row's (set here); the worker's settings tick.
    settings.RECOVERY_WATCH_MINUTES = 0.2
    settings.RECOVERY_WATCH_INTERVAL_SECONDS = 1
    fake_prometheus.values["error"] = 0.0008
    with running_worker(beat=True, env=worker_env()):
        with transaction.atomic():
            watch = recovery.watch_start(incident=incident, trigger="Rollback")
        finished = wait_for(
            lambda: (
                RecoveryWatch.objects.filter(pk=watch.pk)
                .exclude(status=WatchStatus.WATCHING)
                .exists()
            ),
            timeout=60,
        )
    assert finished, "the worker never finished the watch"
    watch.refresh_from_db()
    assert watch.status == WatchStatus.RECOVERED
    assert "back under 0.1% normal" in watch.outcome
    assert recovery_events(incident)[-1] == watch.outcome
    assert len(recovery_events(incident)) == 2
    assert watch.samples.count() >= 2
    assert recovered_item(incident).done_by_vigil


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_a_watch_survives_a_worker_killed_mid_watch(settings, incident, agent, fake_prometheus):
    settings.RECOVERY_WATCH_MINUTES = 0.75
    settings.RECOVERY_WATCH_INTERVAL_SECONDS = 1
    with running_worker(beat=True, env=worker_env()) as worker:
        with transaction.atomic():
            watch = recovery.watch_start(incident=incident, trigger="Rollback")
        assert wait_for(lambda: watch.samples.count() >= 2, timeout=60), "no readings"
        worker.kill()  # SIGKILL: no clean-up, whatever it was doing is lost
        worker.wait()
    stopped_at = timezone.now()
    before = watch.samples.count()
    watch.refresh_from_db()
    assert watch.status == WatchStatus.WATCHING
    with running_worker(beat=True, env=worker_env()):
        finished = wait_for(
            lambda: (
                RecoveryWatch.objects.filter(pk=watch.pk)
                .exclude(status=WatchStatus.WATCHING)
                .exists()
            ),
            timeout=90,
        )
    assert finished, "the watch never finished after the restart"
    watch.refresh_from_db()
    assert watch.status == WatchStatus.NOT_RECOVERED
    assert watch.outcome == "Recovery watch: error rate still 12% after 45 s: escalate"
    assert watch.samples.filter(at__gt=stopped_at).exists()
    assert watch.samples.count() > before
    assert recovery_events(incident).count(watch.outcome) == 1
    assert len(recovery_events(incident)) == 2


# --- the chart -------------------------------------------------------------------------------


def watch_with_samples(incident, *, service, count=5, error_rates=None):
    started = timezone.now() - timedelta(minutes=15)
    watch = RecoveryWatch.objects.create(
        incident=incident,
        service=service,
        trigger="Rollback",
        started_at=started,
        ends_at=started + timedelta(minutes=15),
        next_sample_at=started + timedelta(minutes=count),
        normal_error_rate=0.0005,
        normal_latency=0.3,
    )
    error_rates = error_rates or [0.12] * (count - 1) + [0.0008]
    RecoverySample.objects.bulk_create(
        RecoverySample(
            watch=watch,
            at=started + timedelta(minutes=i),
            error_rate=error_rates[i],
            latency=None if error_rates[i] is None else 0.35,
            problem="Error rate: no data for the query." if error_rates[i] is None else "",
        )
        for i in range(count)
    )
    return watch


def polylines(svg) -> list[int]:
    return [len(points.split()) for points in re.findall(r'<polyline points="([^"]+)"', svg)]


def test_the_chart_draws_every_reading_with_the_latest_in_words(team, incident):
    service = Service.objects.create(team=team, name='<script>alert("x")</script>')
    watch_with_samples(incident, service=service)
    watch = recovery.watch_for_incident(incident=incident)
    svg = str(recovery.chart_svg(watch))
    assert polylines(svg) == [5, 5]
    assert 'viewBox="0 0 320 120"' in svg and 'width="100%"' in svg
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in svg
    label = re.search(r'aria-label="([^"]+)"', svg).group(1)
    assert "error rate 0.08% (normal under 0.1%)" in label
    assert "p95 latency 0.35 s (normal 0.3 s)" in label
    assert "<title>" in svg and "<desc>" in svg
    assert svg.count('stroke-dasharray="4 3"') == 2
    assert svg.count("<tr>") == 1 + 5  # the header and a row per reading
    assert ">0 min<" in svg and ">15 min<" in svg


def test_a_failed_reading_breaks_the_line_and_is_in_the_table(team, incident, agent):
    watch_with_samples(incident, service=agent, error_rates=[0.12, 0.1, None, 0.01, 0.0008])
    svg = str(recovery.chart_svg(recovery.watch_for_incident(incident=incident)))
    assert polylines(svg) == [2, 2, 2, 2]
    assert "Error rate: no data for the query." in svg


def test_a_watch_without_readings_says_so(incident, agent):
    recovery.watch_start(incident=incident, trigger="Rollback")
    svg = str(recovery.chart_svg(recovery.watch_for_incident(incident=incident)))
    assert polylines(svg) == []
    assert "No reading yet." in svg


@pytest.mark.parametrize("count", [3, 30])
def test_the_chart_costs_two_queries_however_many_readings(
    django_assert_num_queries, count, incident, agent
):
    watch_with_samples(incident, service=agent, count=count, error_rates=[0.01] * count)
    with django_assert_num_queries(2):
        svg = str(recovery.chart_svg(recovery.watch_for_incident(incident=incident)))
    assert polylines(svg) == [count, count]
