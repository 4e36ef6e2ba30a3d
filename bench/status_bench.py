"""The public status page when everyone reads it at once: during an active public incident,
100 concurrent keep-alive connections read `/status/` and `/status/api/v2/summary.json`
from the production web command (gunicorn with uvicorn workers).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vigil_status_bench \\
        python bench/status_bench.py [--connections 100] [--seconds 15] [--workers 2]

The database is rebuilt each run: one page with 12 components in 3 groups, 90 days of
history (300 resolved public incidents, 4 updates each) and an active public incident.
For each address it prints requests/s, p50/p99 latency and errors, as shipped (the shared
cache, STATUS_PAGE_CACHE_SECONDS=5, and each process's edge cache before Django,
STATUS_EDGE_CACHE_SECONDS=1) and, in the same run, for the baseline without either (both 0).
While the shipped run is up it posts a new public update and measures how long until
summary.json shows it (staleness). The load generator runs on the same machine, so its CPU
is taken from the server's. Targets: at least 1,000 requests/s, p99 under 100 ms and
staleness at most 5 s; exits non-zero when one is missed.
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/vigil_status_bench")
os.environ["DATABASE_URL"] = BENCH_DB
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/6")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench.alerts_bench import percentile  # noqa: E402
from bench.sse_pool_bench import Web, django_setup  # noqa: E402

os.environ["DATABASE_URL"] = BENCH_DB  # alerts_bench points it at its own database

PATHS = ["/status/", "/status/api/v2/summary.json"]


def rebuild_database():
    name = BENCH_DB.rsplit("/", 1)[1]
    admin = BENCH_DB.rsplit("/", 1)[0] + "/postgres"
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-q", "-c", sql], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def seed():
    from django.utils import timezone

    from incidents.models import Incident, Severity
    from status.models import (
        Component,
        ComponentGroup,
        ComponentImpact,
        PublicIncident,
        StatusPage,
        StatusUpdate,
    )
    from status.services import status_update_post
    from teams.models import Membership, Role, Team
    from tests.factories import UserFactory

    team = Team.objects.create(slug="platform", name="Platform")
    author = UserFactory(username="riley")
    Membership.objects.create(team=team, user=author, role=Role.RESPONDER)
    page = StatusPage.objects.create(slug="acme", title="Acme", team=team, is_default=True)
    components = []
    for g, group_name in enumerate(["API", "Web", "Agents"]):
        group = ComponentGroup.objects.create(page=page, name=group_name, position=g)
        for i in range(4):
            components.append(
                Component.objects.create(
                    page=page,
                    group=group,
                    name=f"{group_name} {i + 1}",
                    position=i,
                    created_at=timezone.now() - timedelta(days=200),
                )
            )
    severity = Severity.objects.get(name="SEV2")
    now = timezone.now()
    for n in range(300):
        start = now - timedelta(days=89, hours=-n * 7)
        incident = Incident.objects.create(
            title=f"internal {n}", severity=severity, team=team, started_at=start
        )
        public = PublicIncident.objects.create(
            page=page,
            incident=incident,
            name=f"Incident {n}",
            created_at=start,
            resolved_at=start + timedelta(minutes=40),
            phase="resolved",
        )
        for k, (phase, status) in enumerate(
            [
                ("investigating", "partial_outage"),
                ("identified", "partial_outage"),
                ("monitoring", "degraded_performance"),
                ("resolved", "operational"),
            ]
        ):
            update = StatusUpdate.objects.create(
                incident=incident,
                public_incident=public,
                phase=phase,
                body=f"Update {k} of incident {n}.",
                is_public=True,
                posted_at=start + timedelta(minutes=10 * k),
            )
            ComponentImpact.objects.create(
                update=update, component=components[n % len(components)], status=status
            )
    incident = Incident.objects.create(
        title="internal active", severity=severity, team=team, started_at=now
    )
    status_update_post(
        incident=incident,
        phase="investigating",
        body="Checkout fails for some customers.",
        by=author,
        public=True,
        page=page,
        name="Checkout failures",
        impact="major",
        components={components[0].pk: "major_outage", components[1].pk: "partial_outage"},
    )
    return incident, author, page


async def reader(port, path, until, latencies, errors):
    reader_, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    try:
        while time.monotonic() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader_.readuntil(b"\r\n\r\n")
            length = 0
            status = int(head.split(b" ", 2)[1])
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader_.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(repr(exc))
    finally:
        writer.close()


async def load(port, path, connections, seconds):
    latencies, errors = [], []
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(
        *(reader(port, path, until, latencies, errors) for _ in range(connections))
    )
    elapsed = time.monotonic() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "errors": len(errors),
        "error_kinds": sorted({str(e)[:60] for e in errors})[:3],
    }


def staleness(port, incident, author, page) -> float:
    """Seconds from a new public update's commit to summary.json showing it."""
    import urllib.request

    from status.services import status_update_post

    body = f"Fix deployed at {time.time():.0f}; watching."
    status_update_post(
        incident=incident, phase="monitoring", body=body, by=author, public=True, page=page
    )
    posted = time.monotonic()
    while time.monotonic() - posted < 30:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/status/api/v2/summary.json", timeout=5
        ) as response:
            if body in response.read().decode():
                return time.monotonic() - posted
        time.sleep(0.05)
    return float("inf")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    rebuild_database()
    django_setup()
    incident, author, page = seed()
    results, stale = {}, None
    for label, seconds in [("cached (as shipped)", "5"), ("baseline, no cache", "0")]:
        web = Web(
            database_url=BENCH_DB,
            workers=args.workers,
            pool_max=10,
            application_name="vigil-status-bench",
            env={
                "STATUS_PAGE_CACHE_SECONDS": seconds,
                "STATUS_EDGE_CACHE_SECONDS": "1" if seconds != "0" else "0",
                "LOG_LEVEL": "WARNING",
            },
        ).start()
        try:
            for path in PATHS:
                asyncio.run(load(web.port, path, 10, 2))  # warm up
                results[(label, path)] = asyncio.run(
                    load(web.port, path, args.connections, args.seconds)
                )
            if seconds != "0":
                stale = staleness(web.port, incident, author, page)
        finally:
            web.stop()
    print(f"{args.connections} connections, {args.seconds:.0f} s each, {args.workers} workers")
    print(f"{'answer':<22} {'address':<30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for (label, path), r in results.items():
        print(
            f"{label:<22} {path:<30} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f}"
            f" {r['errors']:>7} {' '.join(r['error_kinds'])}"
        )
    print(f"staleness of a new public update on summary.json: {stale:.2f} s")
    cached = [r for (label, _), r in results.items() if label.startswith("cached")]
    missed = [r for r in cached if r["rps"] < 1000 or r["p99"] >= 100 or r["errors"]]
    sys.exit(1 if missed or stale > 5 else 0)


if __name__ == "__main__":
    main()
