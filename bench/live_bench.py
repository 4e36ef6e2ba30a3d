"""The live layer at a crowd: N people watching one incident, idle and when notes arrive.

Starts the production web command (gunicorn with uvicorn workers, DATABASE_POOL=true) on a
PostgreSQL database with one worker and with four, and for N = 100, 500 and 1,000 SSE
viewers of one incident measures:
- with nothing happening for `--idle` seconds: the database's transactions a second (every
  query of a stream is one) and the web processes' CPU (% of one core);
- 20 notes POSTed one after another: the time from each POST to its arrival at every viewer
  (p50, p95 and max over all arrivals).
Each figure is taken twice in the same run: on the live layer (LISTEN/NOTIFY) and on the
polling code it replaced (LIVE_TRANSPORT=poll), the baseline.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vigil_bench \\
        python bench/live_bench.py [--viewers 100,500,1000] [--workers 1,4] [--notes 20]

The database is migrated if it needs to be. Prints a table; exits non-zero when a target
is missed on the live layer: idle transactions a second at most 1 per process whatever N,
idle CPU under 5% at 1,000 viewers, p95 arrival under 1 s at 1,000 viewers.
"""

import argparse
import asyncio
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.sse_pool_bench import (  # noqa: E402
    Web,
    django_setup,
    open_stream,
    request,
    session_cookie,
)

MARKER = re.compile(rb"bench-note-(\d+)-(\d+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid) -> float:
    """utime + stime of a process and its children that are still running."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def database_transactions() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        count = cursor.fetchone()[0]
    connection.close()  # the bench's own backend flushes its statistics as it goes
    return count


def prepare():
    """A team, a responder and an open incident; the responder's session and CSRF secret."""
    from incidents import services
    from incidents.models import Severity
    from teams.models import Membership, Role, Team

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username="bench-viewer", defaults={"first_name": "Bench", "last_name": "Viewer"}
    )
    team, _ = Team.objects.get_or_create(slug="bench-live", defaults={"name": "Bench live"})
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": Role.RESPONDER})
    incident = services.incident_declare(
        title="Bench: a crowd on one incident",
        severity=Severity.objects.get(name="SEV1"),
        team=team,
        by=user,
    )
    return incident, user


class Crowd:
    """N viewers' streams in this process, noting when each note reaches each of them."""

    def __init__(self):
        self.writers = []
        self.arrived: dict[tuple[int, int], list[float]] = {}
        self.tasks = []

    async def open(self, port, path, cookie, count, batch=50):
        for start in range(0, count, batch):
            opened = await asyncio.gather(
                *(
                    open_stream(port, path, cookie, timeout=120)
                    for _ in range(start, min(count, start + batch))
                )
            )
            for reader, writer in opened:
                self.writers.append(writer)
                self.tasks.append(asyncio.create_task(self._read(reader)))

    async def _read(self, reader):
        tail = b""
        while chunk := await reader.read(65536):
            now = time.monotonic()
            for run_id, note in MARKER.findall(tail + chunk):
                self.arrived.setdefault((int(run_id), int(note)), []).append(now)
            tail = chunk[-40:]

    def close(self):
        for writer in self.writers:
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


async def post_note(port, incident_pk, cookie, csrf, text):
    from django.conf import settings

    body = urlencode({"body": text}).encode()
    status, answer = await request(
        port,
        "POST",
        f"/incidents/{incident_pk}/notes",
        body=body,
        headers=[
            ("Cookie", f"{cookie}; {settings.CSRF_COOKIE_NAME}={csrf}"),
            ("X-CSRFToken", csrf),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("HX-Request", "true"),
        ],
    )
    if status >= 300:
        raise RuntimeError(f"note POST answered {status}: {answer[:200]!r}")


async def measure(args, *, transport, workers, viewers, incident, cookie, csrf, run_id):
    database_url = os.environ["DATABASE_URL"]
    web = Web(
        database_url=database_url,
        workers=workers,
        pool_max=10,
        application_name=f"vigil-bench-{transport}",
        env={"LIVE_TRANSPORT": "poll" if transport == "poll" else "auto"},
    )
    await asyncio.to_thread(web.start)
    crowd = Crowd()
    try:
        await asyncio.to_thread(incident.refresh_from_db)
        path = f"/live/?incident={incident.pk}&after={incident.timeline_seq}"
        await crowd.open(web.port, path, cookie, viewers)
        # The connects' queries are behind us, and counted: a pooled connection that went
        # idle reports its statistics up to 10 s later (PostgreSQL's idle flush interval).
        await asyncio.sleep(args.settle)
        cpu_before = process_cpu_seconds(web.proc.pid)
        tx_before = await asyncio.to_thread(database_transactions)
        started = time.monotonic()
        await asyncio.sleep(args.idle)
        elapsed = time.monotonic() - started
        tx_after = await asyncio.to_thread(database_transactions)
        cpu = (process_cpu_seconds(web.proc.pid) - cpu_before) / elapsed * 100
        idle_tx = (tx_after - tx_before) / elapsed

        latencies, missing = [], 0
        for note in range(args.notes):
            key = (run_id, note)
            posted = time.monotonic()
            await post_note(web.port, incident.pk, cookie, csrf, f"bench-note-{run_id}-{note}")
            deadline = posted + 30
            while len(crowd.arrived.get(key, ())) < viewers and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            arrivals = crowd.arrived.get(key, [])
            missing += viewers - len(arrivals)
            latencies += [t - posted for t in arrivals]
        latencies.sort()
        return {
            "transport": transport,
            "workers": workers,
            "viewers": viewers,
            "idle_tx_per_s": idle_tx,
            "idle_tx_per_process": idle_tx / workers,
            "idle_cpu_pct": cpu,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p95": latencies[int(len(latencies) * 0.95) - 1] if latencies else float("nan"),
            "max": latencies[-1] if latencies else float("nan"),
            "missing": missing,
        }
    finally:
        crowd.close()
        await asyncio.to_thread(web.stop)


async def main(args):
    django_setup()
    incident, user = await asyncio.to_thread(prepare)
    cookie = await asyncio.to_thread(session_cookie, user.username)
    csrf = secrets.token_hex(16)  # a 32-character secret: Django takes it as its own token
    results = []
    run_id = 0
    for workers in args.workers:
        for viewers in args.viewers:
            for transport in ("listen", "poll"):
                run_id += 1
                result = await measure(
                    args,
                    transport=transport,
                    workers=workers,
                    viewers=viewers,
                    incident=incident,
                    cookie=cookie,
                    csrf=csrf,
                    run_id=run_id,
                )
                results.append(result)
                print(line(result), flush=True)
    return results


HEADER = (
    f"{'transport':>9} {'workers':>7} {'viewers':>7} {'idle tx/s':>9} {'per proc':>8} "
    f"{'idle CPU%':>9} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'missing':>7}"
)


def line(r) -> str:
    return (
        f"{r['transport']:>9} {r['workers']:>7} {r['viewers']:>7} {r['idle_tx_per_s']:>9.2f} "
        f"{r['idle_tx_per_process']:>8.2f} {r['idle_cpu_pct']:>9.1f} {r['p50']:>7.3f} "
        f"{r['p95']:>7.3f} {r['max']:>7.3f} {r['missing']:>7}"
    )


def verdict(results) -> list[str]:
    misses = []
    for r in results:
        if r["transport"] != "listen":
            continue
        if r["idle_tx_per_process"] > 1:
            misses.append(f"{line(r)}: idle transactions over 1 a second per process")
        if r["missing"]:
            misses.append(f"{line(r)}: {r['missing']} arrivals missing")
        if r["viewers"] >= 1000 and r["idle_cpu_pct"] >= 5:
            misses.append(f"{line(r)}: idle CPU at or over 5%")
        if r["viewers"] >= 1000 and r["p95"] >= 1:
            misses.append(f"{line(r)}: p95 arrival at or over 1 s")
    return misses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", default="100,500,1000")
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--notes", type=int, default=20)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of nothing happening")
    parser.add_argument("--settle", type=float, default=12.0, help="seconds after the connects")
    args = parser.parse_args()
    args.viewers = [int(v) for v in args.viewers.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("The live layer's benchmark needs DATABASE_URL=postgres://...")
    # Two sockets per viewer (ours and the server's), and the web processes inherit this.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(HEADER, flush=True)
    results = asyncio.run(main(args))
    misses = verdict(results)
    for miss in misses:
        print("MISSED", miss)
    sys.exit(1 if misses else 0)
