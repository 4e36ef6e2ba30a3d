"""Benchmark: webhook ingest throughput and latency. Prints its figures.

    .venv/bin/python bench/alerts_bench.py [--requests 3000] [--senders 20] [--web-workers 4]

Vigil runs under uvicorn (several worker processes) on a PostgreSQL bench database
(vigil_h5_bench, rebuilt each run). 20 concurrent senders POST Alertmanager v4 payloads of
10 alerts each over 100 group keys, as Alertmanager does: the first payload of a key opens a
group (an incident, a page), later ones add or repeat alerts. Latency is measured by the
sender (request sent → answer read). Target: p95 under 25 ms.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_h5_bench")
os.environ["DATABASE_URL"] = BENCH_DB
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def rebuild_database():
    name = BENCH_DB.rsplit("/", 1)[1]
    admin = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-q", "-c", sql], check=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True, env=os.environ
    )


def setup_django():
    import django

    django.setup()


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def start_web(port, workers, env=None, server="uvicorn"):
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "w", prefix=f"vigil-bench-web-{port}-", suffix=".log", delete=False
    )
    print(f"web log: {log.name}")
    if server == "gunicorn":
        # WSGI threads keep their database connection between requests.
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "vigil.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
        ]
        conn_max_age = "60"
    else:
        # Under ASGI each request runs in its own thread: persistent connections would leak,
        # so the web process uses the connection pool, as docker-compose.yml runs it
        # (DATABASE_POOL=false in the environment measures without it).
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "vigil.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        conn_max_age = "0"
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={
            "DATABASE_POOL": "true" if server == "uvicorn" else "false",
            **os.environ,
            "CONN_MAX_AGE": conn_max_age,
            **(env or {}),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from tests.paging_fakes import wait_port

    wait_port(port, timeout=30)
    time.sleep(1.0)  # every worker process up
    return proc


def cpu_seconds(pid) -> float:
    """User + system CPU of a process and all its descendants, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, times = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, grew = {pid}, True
    while grew:
        found = {p for p, parent in parents.items() if parent in tree} - tree
        grew = bool(found)
        tree |= found
    return sum(times.get(p, 0.0) for p in tree)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        status = 0  # no answer in time: counted as an error
    return status, time.perf_counter() - started


def server_time(integration, token, bodies):
    """The view's own cost: Django's test client in this process, one request at a time."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    path = integration.webhook_path()
    times = []
    for body in bodies:
        started = time.perf_counter()
        response = client.post(
            path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 202, response.content
    return times


def payload(key, batch):
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": f"Bench{key}",
                "severity": "warning",
                "oncall": "slack",
                "instance": f"node-{batch % 7}-{m}",
            },
            "annotations": {"summary": f"bench key {key}", "runbook": "https://wiki.example/rb"},
            "startsAt": "2026-11-26T15:16:23.124Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"k{key}-{batch % 7}-{m}",
        }
        for m in range(10)
    ]
    return {"version": "4", "status": "firing", "groupKey": f"bench-{key}", "alerts": alerts}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=18640)
    parser.add_argument("--server", choices=["uvicorn", "gunicorn"], default="uvicorn")
    args = parser.parse_args()

    # 100 group keys opened at once are a storm by Vigil's default limit; the bench measures
    # ingest with every key its own group, as before the limit (both in this process and the
    # web processes, which inherit the environment).
    os.environ.setdefault("ALERT_STORM_GROUPS_PER_MINUTE", "100000")
    rebuild_database()
    setup_django()
    from alerts.services import integration_create
    from teams.models import Team

    team = Team.objects.create(name="Bench", slug="bench")
    integration, token = integration_create(team=team, kind="alertmanager", name="Bench")
    url = f"http://127.0.0.1:{args.port}{integration.webhook_path()}"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    bodies = [json.dumps(payload(i % 100, i // 100)).encode() for i in range(args.requests)]

    in_process = server_time(integration, token, bodies[:300])
    web = start_web(args.port, args.web_workers, server=args.server)
    try:
        # Warm-up: every worker process connects to the database once.
        with ThreadPoolExecutor(args.senders) as pool:
            list(pool.map(lambda b: post(url, b, headers), bodies[:100]))
        started = time.perf_counter()
        with ThreadPoolExecutor(args.senders) as pool:
            results = list(pool.map(lambda b: post(url, b, headers), bodies[100:]))
        wall = time.perf_counter() - started
    finally:
        stop(web)
    latencies = [t * 1000 for s, t in results if s == 202]
    errors = [s for s, _ in results if s != 202]
    n = len(results)
    print(
        f"ingest: {n} payloads x 10 alerts, {args.senders} senders, "
        f"{args.web_workers} {args.server} workers"
    )
    print(f"  throughput  {n / wall:8.1f} payloads/s  ({n * 10 / wall:8.1f} alerts/s)")
    print(
        f"  latency     p50 {percentile(latencies, 50):6.1f} ms"
        f"   p95 {percentile(latencies, 95):6.1f} ms"
        f"   p99 {percentile(latencies, 99):6.1f} ms   max {max(latencies):6.1f} ms"
    )
    print(f"  errors      {len(errors)} {sorted(set(errors))}")
    print(
        f"  server time in-process, one sender: p50 {percentile(in_process, 50):6.1f} ms"
        f"   p95 {percentile(in_process, 95):6.1f} ms  (no HTTP, no queueing)"
    )
    print(f"  mean        {statistics.mean(latencies):6.1f} ms  (target: p95 < 25 ms)")


if __name__ == "__main__":
    main()
