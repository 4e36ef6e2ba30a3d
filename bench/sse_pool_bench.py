"""Live streams against the database pool: do open and dropped streams starve the web tier?

Starts the production web command (gunicorn with uvicorn workers, DATABASE_POOL=true) on a
PostgreSQL database, signs a person in, then:
1. opens and drops streams (the bell and an incident's timeline) in waves, and reports the
   web processes' connections in pg_stat_activity and ERROR lines in the log afterwards;
2. holds many streams open at once while it times an alert webhook, /health and a page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vigil_bench \\
        python bench/sse_pool_bench.py [--dropped 200] [--held 500] [--workers 4]

The database needs migrations and an incident (`manage.py migrate && manage.py seed_demo`).
Prints its figures; exits non-zero when the pool did not recover or a request failed.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(coro):
    """asyncio.run in a thread of its own: the caller may already have a running loop (a
    test session where Playwright's sync API keeps one in the main thread)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def django_setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
    import django

    django.setup()


def session_cookie(username):
    """A signed-in session for `username`, made the way the login view makes one."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.get(username=username)
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def web_connections(application_name):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        )
        return cursor.fetchone()[0]


class Web:
    """The production web command on a free port, its log kept in a file."""

    def __init__(self, *, database_url, workers, pool_max, application_name, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="vigil-web-", suffix=".log", delete=False)  # noqa: SIM115
        sep = "&" if "?" in database_url else "?"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"{database_url}{sep}application_name={application_name}",
            "DATABASE_POOL": "true",
            "DATABASE_POOL_MIN": "1",
            "DATABASE_POOL_MAX": str(pool_max),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DEBUG": "false",
            **(env or {}),
        }
        self.workers = workers

    def start(self, timeout=60):
        cmd = [
            sys.executable, "-m", "gunicorn", "vigil.asgi:application",
            "-k", "uvicorn.workers.UvicornWorker", "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers), "--graceful-timeout", "2",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(Path(self.log.name).read_text())
            try:
                status, _ = run(request(self.port, "GET", "/login/", timeout=5))
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("web did not start:\n" + Path(self.log.name).read_text())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def output(self):
        return Path(self.log.name).read_text()


async def request(port, method, path, *, body=b"", headers=(), timeout=30):
    """One HTTP/1.1 request on its own connection: (status, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers]
        if body:
            head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw else 0
    return status, raw.partition(b"\r\n\r\n")[2]


async def open_stream(port, path, cookie, timeout=30):
    """A stream whose headers and first message arrived: (reader, writer)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"\n\n"), timeout)
    if b" 200 " not in first.split(b"\r\n", 1)[0]:
        writer.close()
        raise RuntimeError(f"stream {path} answered {first[:60]!r}")
    return reader, writer


async def drop(writer):
    writer.transport.abort()  # the browser tab closed: no FIN handshake, no goodbye


async def timed(coro):
    started = time.monotonic()
    status, _ = await coro
    return status, time.monotonic() - started


def alert_payload():
    """A firing Alertmanager v4 payload of a new group: routed, declared and paged."""
    key = f"bench-{time.time_ns()}"
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
        "annotations": {"summary": "Error rate above 10%", "description": "value: 0.12"},
        "startsAt": "2026-11-26T15:16:23.124Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": key[-16:],
    }
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "vigil",
        "groupKey": key,
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example",
        "truncatedAlerts": 0,
        "alerts": [alert],
    }
    return json.dumps(payload).encode()


def beat_ticked():
    """What a running beat does every tick, so /health speaks of the web tier alone."""
    from django.db import connection
    from django.utils import timezone

    from checks.models import Heartbeat

    try:
        Heartbeat.objects.update_or_create(name="beat", defaults={"at": timezone.now()})
    finally:
        connection.close()  # runs in a thread of its own: leave nothing open there


async def normal_requests(web, cookie, webhook, rounds=10):
    """Webhook, /health and the incident list, timed, one after another."""
    results = {"webhook": [], "health": [], "page": []}
    await asyncio.to_thread(beat_ticked)
    for _ in range(rounds):
        status, took = await timed(
            request(
                web.port,
                "POST",
                webhook,
                body=alert_payload(),
                headers=[("Content-Type", "application/json")],
            )
        )
        results["webhook"].append((status, took))
        results["health"].append(await timed(request(web.port, "GET", "/health")))
        results["page"].append(
            await timed(request(web.port, "GET", "/incidents/", headers=[("Cookie", cookie)]))
        )
    return results


async def webhook_burst(web, webhook, count):
    """`count` webhooks at once: every one needs a pooled connection at the same moment."""
    return await asyncio.gather(
        *(
            timed(
                request(
                    web.port,
                    "POST",
                    webhook,
                    body=alert_payload(),
                    headers=[("Content-Type", "application/json")],
                )
            )
            for _ in range(count)
        )
    )


def summary(name, results):
    statuses = sorted({s for s, _ in results})
    times = sorted(t for _, t in results)
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    print(
        f"  {name:8} statuses {statuses}  p50 {statistics.median(times) * 1000:7.1f} ms"
        f"  max/p95 {p95 * 1000:7.1f} ms"
    )
    return statuses


async def scenario(args, web, cookie, paths, webhook, app_name):
    failed = False
    print(f"dropped streams: {args.dropped} opened and dropped in waves of {args.wave}")
    started = time.monotonic()
    for i in range(0, args.dropped, args.wave):
        batch = [
            open_stream(web.port, paths[(i + j) % len(paths)], cookie)
            for j in range(min(args.wave, args.dropped - i))
        ]
        streams = await asyncio.gather(*batch)
        await asyncio.gather(*(drop(w) for _, w in streams))
    await asyncio.sleep(args.settle)
    print(f"  opened and dropped in {time.monotonic() - started:.1f} s")
    in_use = await asyncio.to_thread(web_connections, app_name)
    ceiling = args.workers * args.pool_max
    print(f"  web connections afterwards: {in_use} (pool ceiling {ceiling}, idle ones kept)")
    results = await normal_requests(web, cookie, webhook, rounds=5)
    results["burst"] = await webhook_burst(web, webhook, ceiling)
    for name, rows in results.items():
        if not set(summary(name, rows)).issubset({200, 202}):
            failed = True
    errors = [line for line in web.output().splitlines() if "ERROR" in line or "Traceback" in line]
    print(f"  ERROR or Traceback lines in the web log: {len(errors)}")
    failed |= bool(errors) or in_use > ceiling

    print(f"held streams: {args.held} open at once")
    started = time.monotonic()
    held = []
    for i in range(0, args.held, args.wave):
        batch = [
            open_stream(web.port, paths[(i + j) % len(paths)], cookie, timeout=60)
            for j in range(min(args.wave, args.held - i))
        ]
        held += await asyncio.gather(*batch)
    print(f"  {len(held)} streams connected in {time.monotonic() - started:.1f} s")
    in_use = await asyncio.to_thread(web_connections, app_name)
    print(f"  web connections with them open: {in_use} (pool ceiling {ceiling})")
    results = await normal_requests(web, cookie, webhook)
    for name, rows in results.items():
        statuses = summary(name, rows)
        if not set(statuses).issubset({200, 202}):
            failed = True
    await asyncio.gather(*(drop(w) for _, w in held))
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dropped", type=int, default=200)
    parser.add_argument("--held", type=int, default=500)
    parser.add_argument("--wave", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pool-max", type=int, default=10)
    parser.add_argument("--settle", type=float, default=2.0)
    args = parser.parse_args()
    django_setup()
    from alerts.models import Integration
    from alerts.services import integration_create
    from incidents.models import Incident
    from teams.models import Team

    incidents = list(Incident.objects.order_by("-pk").values_list("pk", flat=True)[:5])
    team = Team.objects.order_by("pk").first()
    if not incidents or team is None:
        sys.exit("No team or incident: run migrate and seed_demo first.")
    Integration.objects.filter(name__startswith="sse-bench-").delete()
    integration, token = integration_create(
        team=team, kind="alertmanager", name=f"sse-bench-{os.getpid()}"
    )
    webhook = integration.webhook_path(token)
    cookie = session_cookie("admin")
    paths = ["/paging/bell/stream"] + [f"/incidents/{pk}/events/stream" for pk in incidents]
    app_name = f"vigil-bench-{os.getpid()}"
    web = Web(
        database_url=os.environ["DATABASE_URL"],
        workers=args.workers,
        pool_max=args.pool_max,
        application_name=app_name,
    ).start()
    try:
        failed = run(scenario(args, web, cookie, paths, webhook, app_name))
    finally:
        web.stop()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
