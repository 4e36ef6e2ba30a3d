"""Benchmark: alert-to-first-notification latency and escalation lateness. Prints figures.

    .venv/bin/python bench/paging_bench.py [--alerts 1000] [--escalations 500]
                                           [--alerts-per-group 1]

1. A burst of 1,000 critical alerts (by default one per group, so every alert opens its own
   incident and page; --alerts-per-group 10 sends them grouped as Alertmanager does, 10 per
   payload), from 20 concurrent senders, into Vigil under
   uvicorn; a Celery worker (prefork, with its beat tick every second) delivers to a fake
   Slack receiver on 127.0.0.1. Latency = webhook request sent → the fake provider received
   the first notification about that alert (the #incidents post or the page to the
   primary), measured on one clock in this process. Target: p95 under 1 s.
2. 500 escalation steps due within the same minute, advanced by that worker's tick.
   Lateness = executed_at − due time for each step. Target: p99 under 2 s, never early.
"""

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alerts_bench import (  # noqa: E402
    ROOT,
    cpu_seconds,
    percentile,
    post,
    rebuild_database,
    setup_django,
    start_web,
    stop,
)

WEB_PORT, FAKE_PORT = 18650, 18651


def start_worker(concurrency):
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "w", prefix="vigil-bench-worker-", suffix=".log", delete=False
    )
    print(f"worker log: {log.name}")
    schedule = Path(tempfile.mkdtemp()) / "beat-schedule"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vigil",
            "worker",
            "-B",
            "--schedule",
            str(schedule),
            "-Q",
            "critical,default",
            "--pool",
            "prefork",
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=os.environ,  # as docker-compose.yml runs it: persistent connections per process
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    time.sleep(6)
    return proc


def summary(name, values, unit="ms"):
    return (
        f"  {name:<28} n={len(values):5d}  p50 {percentile(values, 50):8.1f} {unit}"
        f"  p95 {percentile(values, 95):8.1f} {unit}  p99 {percentile(values, 99):8.1f} {unit}"
        f"  max {max(values):8.1f} {unit}"
    )


def first_notification(args, http, integration, token, procs):
    url = f"http://127.0.0.1:{WEB_PORT}{integration.webhook_path()}"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    sent, answered = {}, {}

    per_group = args.alerts_per_group
    groups = args.alerts // per_group

    def send(i):
        name = f"Burst{i}"
        body = json.dumps(
            {
                "version": "4",
                "groupKey": f"burst-{i}",
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": name, "severity": "critical", "n": str(n)},
                        "annotations": {"summary": name, "description": f"{name} fired"},
                        "fingerprint": f"burst-{i}-{n}",
                    }
                    for n in range(per_group)
                ],
            }
        ).encode()
        sent[name] = time.perf_counter()
        status, _ = post(url, body, headers)
        answered[name] = time.perf_counter()
        return status

    # Warm-up: every web and worker process serves a few alerts first, as a running Vigil
    # has; their notifications are then forgotten.
    warm = range(groups, groups + args.warm_up)
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(send, warm))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len({r["path"] for r in http.requests}) < 2:
        time.sleep(0.5)
    time.sleep(3)
    with http._lock:
        http.requests.clear()
        http.accepted.clear()
    sent.clear()
    answered.clear()
    cpu_before = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(send, range(groups)))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        names = [(r["path"], r["json"]["text"].split("] ", 1)[1]) for r in http.requests]
        chats = {n for path, n in names if path == "/chat" and n in sent}
        pages = {n for path, n in names if path == "/dm" and n in sent}
        if len(chats) >= groups and len(pages) >= groups:
            break
        time.sleep(0.5)
    first, first_page = {}, {}
    for record in http.requests:
        name = record["json"]["text"].split("] ", 1)[1]
        first[name] = min(first.get(name, record["at"]), record["at"])
        if record["path"] == "/dm":
            first_page[name] = min(first_page.get(name, record["at"]), record["at"])
    latency = [(first[n] - sent[n]) * 1000 for n in sent if n in first]
    page_latency = [(first_page[n] - sent[n]) * 1000 for n in sent if n in first_page]
    # From Vigil's 202 (stored and committed) to the provider, without the web queue.
    after_answer = [max(0.0, first[n] - answered[n]) * 1000 for n in sent if n in first]
    ingest = [(answered[n] - sent[n]) * 1000 for n in sent]
    # Every alert of a payload shares its group's notification, so each group counts once
    # per alert in it: the percentiles are over alerts either way.
    print(
        f"first notification: {groups * per_group} alerts in {groups} groups "
        f"({per_group} per payload), 20 senders; {statuses.count(202)} payloads accepted"
    )
    print(summary("webhook → first notification", latency))
    print(summary("webhook → page to primary", page_latency))
    print(summary("202 answer → first notification", after_answer))
    print(summary("webhook answered (ingest)", ingest))
    cpu = {name: cpu_seconds(proc.pid) - cpu_before[name] for name, proc in procs.items()}
    print(
        f"  CPU per group (incident + page): web {cpu['web'] * 1000 / groups:.1f} ms, "
        f"worker {cpu['worker'] * 1000 / groups:.1f} ms"
    )
    print(
        f"  missing: {groups - len(latency)} groups without any notification (target p95 < 1000 ms)"
    )


def lateness(args):
    from django.db.models import Max, Min

    from incidents.models import Incident, Severity
    from paging.models import Escalation, StepRun
    from teams.models import Team

    team = Team.objects.get(slug="bench")
    sev = Severity.objects.get(name="SEV2")
    now = dt.datetime.now(dt.UTC)
    incidents = Incident.objects.bulk_create(
        [
            Incident(title=f"Lateness {i}", severity=sev, team=team, started_at=now)
            for i in range(args.escalations)
        ]
    )
    base = now + dt.timedelta(seconds=20)
    rng = random.Random(3)
    Escalation.objects.bulk_create(
        [
            Escalation(
                incident=incident,
                team=team,
                started_at=now,
                next_action_at=base + dt.timedelta(seconds=rng.uniform(0, 60)),
            )
            for incident in incidents
        ]
    )
    ids = [i.pk for i in incidents]
    deadline = time.monotonic() + 200
    runs = StepRun.objects.filter(escalation__incident_id__in=ids, number=1)
    while time.monotonic() < deadline and runs.count() < args.escalations:
        time.sleep(1)
    values = list(runs.values_list("lateness", flat=True))
    early = sum(
        1
        for executed, scheduled in runs.values_list("executed_at", "scheduled_at")
        if executed < scheduled
    )
    span = runs.aggregate(first=Min("scheduled_at"), last=Max("scheduled_at"))
    print(
        f"escalation lateness: {len(values)}/{args.escalations} steps due within "
        f"{(span['last'] - span['first']).total_seconds():.0f} s"
    )
    print(summary("lateness", [v * 1000 for v in values]))
    print(f"  early: {early} (target: p99 < 2000 ms, never early)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--escalations", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=40, help="payloads sent before measuring")
    parser.add_argument(
        "--alerts-per-group",
        type=int,
        default=1,
        help="alerts per Alertmanager payload (one group each); 1 = every alert a new incident",
    )
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    parser.add_argument("--server", choices=["uvicorn", "gunicorn"], default="uvicorn")
    args = parser.parse_args()

    rebuild_database()
    setup_django()
    from alerts.services import integration_create
    from oncall.models import ContactMethod, Layer, LayerMember, Schedule
    from teams.models import Membership, Team, TeamRouting
    from tests.paging_fakes import FakeHTTP

    with FakeHTTP(FAKE_PORT) as http:
        team = Team.objects.create(name="Bench", slug="bench")
        from accounts.models import User

        primary = User.objects.create(username="bench-primary", email="p@vigil.example")
        Membership.objects.create(team=team, user=primary, role="responder")
        schedule = Schedule.objects.create(team=team, name="Main")
        layer = Layer.objects.create(
            schedule=schedule, name="Primary", cadence="daily", start_date=dt.date(2020, 1, 1)
        )
        LayerMember.objects.create(layer=layer, user=primary)
        ContactMethod.objects.create(user=primary, kind="slack", value=http.url("/dm"))
        TeamRouting.objects.filter(team=team).update(incidents_webhook_url=http.url("/chat"))
        integration, token = integration_create(team=team, kind="alertmanager", name="Bench")

        web = start_web(WEB_PORT, args.web_workers, server=args.server)
        worker = start_worker(args.worker_concurrency)
        try:
            first_notification(args, http, integration, token, {"web": web, "worker": worker})
            lateness(args)
        finally:
            stop(worker)
            stop(web)


if __name__ == "__main__":
    main()
