"""Benchmark: Vigil's incident pages and live timeline at scale. Prints its figures.

    .venv/bin/python bench/incidents_bench.py            # build once, then measure
    .venv/bin/python bench/incidents_bench.py --rebuild  # throw the data away and rebuild

With 100,000 incidents and 1,000,000 timeline events in a dedicated PostgreSQL database
(vigil_bench, created and migrated here), it measures
- server time p50/p95 of the incident list page and of an incident page with 500 events
  (django.test.Client in-process, signed in, N requests each after a warm-up);
- the time from a note's POST to its arrival in a second person's SSE stream, p50/p95 over
  200 notes, against a real uvicorn process serving the same database.
Targets: p95 < 50 ms for both pages, < 1 s for delivery. See bench/README.md.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/vigil_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/4"
TEAMS = 10
BIG_TIMELINE = 500
BENCH_TEAM = "bench-0"


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    parser.add_argument("--notes", type=int, default=200, help="notes for the SSE delivery")
    parser.add_argument("--port", type=int, default=0, help="uvicorn port (default: free one)")
    parser.add_argument(
        "--open-every",
        type=int,
        default=500,
        help="one incident in this many is still open (default 500: 200 open incidents)",
    )
    parser.add_argument("--rebuild", action="store_true", help="drop the data and rebuild")
    parser.add_argument("--skip-sse", action="store_true")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's default collector settings instead of the web process's ones",
    )
    return parser.parse_args()


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- database ---------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the bench database if it is not there (connecting to the server's postgres db)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise SystemExit(f"Refusing an unusual database name {name!r}.")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            out(f"created database {name}")


def setup_django(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vigil.settings")
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


# --- data -------------------------------------------------------------------------------------


def _copy(model, columns, rows) -> int:
    """COPY rows (tuples in `columns` order) into the model's table; returns the count."""
    from django.db import connection

    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _required_defaults(model, given):
    """Values for the model's other concrete columns, from their defaults (JSON as text)."""
    from django.db import models

    extra = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in given or field.null:
            continue
        value = field.get_default()
        if isinstance(field, models.JSONField):
            value = json.dumps(value)
        extra[field.name] = value
    return extra


def bench_people():
    from accounts.models import User
    from teams.models import Membership, Role, Team

    teams = []
    for i in range(TEAMS):
        team, _ = Team.objects.get_or_create(slug=f"bench-{i}", defaults={"name": f"Bench {i}"})
        teams.append(team)
    people = {}
    for username in ("bench-reader", "bench-writer"):
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": username.split("-")[1].title()}
        )
        if created:
            user.set_password(secrets.token_urlsafe(16))
            user.save()
        Membership.objects.get_or_create(
            team=teams[0], user=user, defaults={"role": Role.RESPONDER}
        )
        people[username] = user
    return teams, people


def build_data(*, n_incidents: int, n_events: int, open_every: int, rebuild: bool):
    from django.db import connection, transaction

    from incidents.models import EventKind, Incident, Severity, Status, TimelineEvent
    from incidents.services import incident_declare

    teams, people = bench_people()
    have_incidents = Incident.objects.count()
    have_events = TimelineEvent.objects.count()
    big = Incident.objects.filter(title="Bench: the incident with 500 events").first()
    if (
        not rebuild
        and big is not None
        and have_incidents >= n_incidents
        and have_events >= n_events
    ):
        out(
            f"data already built: {have_incidents:,} incidents "
            f"({_open_count():,} open), {have_events:,} events"
        )
        return big, teams, people

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Incident._meta.db_table} RESTART IDENTITY CASCADE")
    severities = list(Severity.objects.order_by("level"))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rng = random.Random(42)

    with transaction.atomic():
        # Two incidents through the real service: the 500-event page and the live stream's.
        big = incident_declare(
            title="Bench: the incident with 500 events",
            severity=severities[2],
            team=teams[0],
            by=people["bench-writer"],
            summary="Measured by bench/incidents_bench.py.",
        )
        incident_declare(
            title="Bench: live stream",
            severity=severities[2],
            team=teams[0],
            by=people["bench-writer"],
        )

    # The other incidents: 95% resolved, spread over two years, 5% private.
    given = [
        "title", "summary", "severity", "team", "status", "is_private", "started_at",
        "declared_at", "acknowledged_at", "mitigated_at", "resolved_at", "sla_breach",
        "affected_services", "timeline_seq", "status_page_url",
    ]  # fmt: skip
    extra = _required_defaults(Incident, set(given) | {"declared_by", "commander"})
    columns = given + list(extra)
    words = ["API", "checkout", "login", "search", "queue", "payments", "cache", "DNS", "auth"]
    n_bulk = n_incidents - 2

    def incident_rows():
        for n in range(n_bulk):
            declared = now - dt.timedelta(minutes=rng.randint(60, 2 * 365 * 24 * 60))
            open_ = n % open_every == 0
            status = rng.choice(list(Status)[:3]) if open_ else Status.RESOLVED
            ack = declared + dt.timedelta(minutes=3) if status != Status.TRIGGERED else None
            mitigated = (
                declared + dt.timedelta(minutes=20)
                if status in (Status.MITIGATED, Status.RESOLVED)
                else None
            )
            resolved = declared + dt.timedelta(minutes=45) if status == Status.RESOLVED else None
            word = words[n % len(words)]
            yield (
                f"{word.title()} errors #{n}: elevated {word} failure rate",
                f"Bench incident {n} on {word}.",
                severities[n % 4].pk,
                teams[n % TEAMS].pk,
                status.value,
                n % 20 == 7,
                declared - dt.timedelta(minutes=2),
                declared,
                ack,
                mitigated,
                resolved,
                n % 9 == 0,
                json.dumps([word]),
                0,
                "",
                *extra.values(),
            )

    t = time.perf_counter()
    copied = _copy(Incident, columns, incident_rows())
    out(f"  copied {copied:,} incidents in {time.perf_counter() - t:.1f} s")

    # Timeline events: the big incident up to 500, the rest spread over the others.
    existing_events = TimelineEvent.objects.count()
    big_seq = Incident.objects.get(pk=big.pk).timeline_seq
    big_extra = BIG_TIMELINE - big.events.count()
    others = list(
        Incident.objects.exclude(pk__lte=big.pk + 1).order_by("pk").values_list("pk", "declared_at")
    )
    remaining = n_events - existing_events - big_extra
    per, spill = divmod(remaining, len(others))
    ev_given = [
        "incident", "kind", "body", "body_html", "occurred_at", "created_at", "author",
        "pinned", "data", "seq",
    ]  # fmt: skip
    ev_extra = _required_defaults(TimelineEvent, set(ev_given))
    ev_columns = ev_given + list(ev_extra)
    kinds = [EventKind.NOTE] * 6 + [EventKind.ALERT, EventKind.STATUS, EventKind.PAGE]
    writer = people["bench-writer"].pk
    seqs = {}

    def event_rows():
        base = big.declared_at
        for j in range(big_extra):
            seq = big_seq + j + 1
            kind = kinds[j % len(kinds)]
            body = f"Step {j}: checked **{words[j % len(words)]}** — error rate {j % 40}%"
            yield (
                big.pk, kind.value, body, f"<p>{body}</p>",
                base - dt.timedelta(seconds=(big_extra - j) * 7), base, writer,
                j % 25 == 0, "{}", seq, *ev_extra.values(),
            )  # fmt: skip
        seqs[big.pk] = big_seq + big_extra
        for i, (pk, declared) in enumerate(others):
            count = per + (1 if i < spill else 0)
            for j in range(count):
                kind = kinds[(i + j) % len(kinds)]
                body = f"Update {j} on incident {pk}: error rate {(i + j) % 40}%"
                yield (
                    pk, kind.value, body, f"<p>{body}</p>",
                    declared + dt.timedelta(minutes=j), declared,
                    writer if kind == EventKind.NOTE else None,
                    j == 0, "{}", j + 1, *ev_extra.values(),
                )  # fmt: skip
            seqs[pk] = count

    t = time.perf_counter()
    copied = _copy(TimelineEvent, ev_columns, event_rows())
    out(f"  copied {copied:,} timeline events in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    with connection.cursor() as cursor:
        # Each incident's timeline_seq is its latest event's seq, as the services keep it.
        cursor.execute(
            f"UPDATE {Incident._meta.db_table} i SET timeline_seq = s.m "  # noqa: S608 - our table names
            f"FROM (SELECT incident_id, max(seq) AS m FROM {TimelineEvent._meta.db_table} "
            "GROUP BY incident_id) s WHERE s.incident_id = i.id"
        )
        cursor.execute(f"VACUUM ANALYZE {Incident._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {TimelineEvent._meta.db_table}")
    out(f"  timeline_seq and VACUUM ANALYZE in {time.perf_counter() - t:.1f} s")
    out(
        f"data built in {time.perf_counter() - started:.1f} s: {Incident.objects.count():,} "
        f"incidents ({_open_count():,} open), {TimelineEvent.objects.count():,} events"
    )
    return Incident.objects.get(pk=big.pk), teams, people


def _open_count():
    from incidents.models import Incident, Status

    return Incident.objects.exclude(status=Status.RESOLVED).count()


# --- page timings -----------------------------------------------------------------------------


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def time_page(client, url, n, headers):
    from django.db import connection

    for _ in range(10):
        response = client.get(url, **headers)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    sql_ms = []

    def timed(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_ms.append((time.perf_counter() - start) * 1000)

    with connection.execute_wrapper(timed):
        client.get(url, **headers)
    times, cpu = [], []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200
    return times, (len(sql_ms), sum(sql_ms)), len(response.content), percentile(cpu, 50)


def report(label, times, unit="ms", target=None, extra=""):
    p50, p95 = percentile(times, 50), percentile(times, 95)
    verdict = ""
    if target is not None:
        verdict = "  OK" if p95 < target else f"  OVER the {target:g} {unit} target"
    out(
        f"{label:<44} n={len(times):<4} p50={p50:7.1f} {unit}  p95={p95:7.1f} {unit}  "
        f"max={max(times):7.1f} {unit}{verdict}{extra}"
    )


def measure_pages(big, people, n):
    from django.test import Client
    from django.urls import reverse

    from accounts.models import ApiToken
    from accounts.tokens import api_token_create

    client = Client()
    client.force_login(people["bench-reader"])
    ApiToken.objects.filter(user=people["bench-reader"]).delete()
    _, raw = api_token_create(user=people["bench-reader"], name="benchmark")
    api = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    list_url = reverse("incident_list")
    big_url = reverse("incident_detail", args=[big.pk])
    list_label, big_label = (
        "incident list (open first, page 1)",
        f"incident page ({BIG_TIMELINE} events)",
    )
    pages = [
        (list_label, list_url, {}),
        ("incident list, filtered + text search", list_url + "?" + urlencode(
            {"status": "resolved", "severity": "SEV2", "q": "checkout"}), {}),
        ("incident list, text found nowhere", list_url + "?" + urlencode(
            {"q": "no incident says this"}), {}),
        ("incident list, sorted by title", list_url + "?" + urlencode({"sort": "title"}), {}),
        ("incident list, least severe first", list_url + "?" + urlencode(
            {"sort": "least_severe"}), {}),
        ("incident list, page 50 of resolved", list_url + "?" + urlencode(
            {"status": "resolved", "page": "50"}), {}),
        (big_label, big_url, {}),
        ("API: incident list, page 1", "/api/v1/incidents/", api),
        ("API: incident list, page 50 of resolved", "/api/v1/incidents/?" + urlencode(
            {"status": "resolved", "page": "50"}), api),
        ("API: one incident", f"/api/v1/incidents/{big.pk}", api),
    ]  # fmt: skip
    results = {}
    for label, url, headers in pages:
        times, queries, size, cpu = time_page(client, url, n, headers)
        results[label] = times
        target = 50 if label in (list_label, big_label) else None
        count, sql = queries
        # Python CPU time apart from wall time: on a busy machine the two differ a lot.
        report(
            label,
            times,
            target=target,
            extra=f"  (web CPU p50 {cpu:.1f} ms; {count} queries taking {sql:.1f} ms; "
            f"{size // 1024} KiB)",
        )
    return results


# --- live delivery over SSE -------------------------------------------------------------------


def free_port(preferred):
    for port in [preferred] if preferred else range(18400, 18500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("No free port in 18400-18499.")


def session_for(user) -> str:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


class StreamReader(threading.Thread):
    """A second person's browser: reads the SSE stream and notes when each marker arrives,
    reconnecting with Last-Event-ID when the server ends the stream."""

    def __init__(self, port, path, cookie, marker):
        super().__init__(daemon=True)
        self.port, self.path, self.cookie = port, path, cookie
        self.pattern = re.compile(marker + r"-(\d+)-")
        self.arrivals = {}
        self.seen = {}
        self.connected = threading.Event()
        self.stopping = False
        self.last_id = ""
        self.reconnects = 0
        self.lock = threading.Condition()

    def run(self):
        while not self.stopping:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            headers = {"Cookie": self.cookie, "Accept": "text/event-stream"}
            if self.last_id:
                headers["Last-Event-ID"] = self.last_id
            try:
                conn.request("GET", self.path, headers=headers)
                response = conn.getresponse()
                if response.status != 200:
                    raise SystemExit(f"stream answered {response.status}")
                self.connected.set()
                while not self.stopping:
                    line = response.readline()
                    if not line:
                        break
                    now = time.perf_counter()
                    text = line.decode("utf-8", "replace")
                    if text.startswith("id:"):
                        self.last_id = text[3:].strip()
                    for match in self.pattern.finditer(text):
                        with self.lock:
                            number = int(match.group(1))
                            self.seen[number] = self.seen.get(number, 0) + 1
                            self.arrivals.setdefault(number, now)
                            self.lock.notify_all()
            except (OSError, http.client.HTTPException):
                if self.stopping:
                    return
                time.sleep(0.2)
            finally:
                conn.close()
            self.reconnects += 1

    def wait_for(self, number, timeout):
        with self.lock:
            self.lock.wait_for(lambda: number in self.arrivals, timeout=timeout)
            return self.arrivals.get(number)


def measure_sse(people, n_notes, port_wanted, database_url, redis_url):
    from django.urls import reverse

    from incidents.models import Incident

    incident = Incident.objects.get(title="Bench: live stream")
    stream_path = reverse("incident_event_stream", args=[incident.pk])
    note_path = reverse("incident_note_add", args=[incident.pk])
    port = free_port(port_wanted)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "vigil.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/login/")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("uvicorn did not start") from None
                time.sleep(0.2)

        marker = "benchmark" + secrets.token_hex(4)
        reader = StreamReader(
            port, stream_path, f"sessionid={session_for(people['bench-reader'])}", marker
        )
        reader.start()
        if not reader.connected.wait(10):
            raise SystemExit("the SSE stream did not connect")
        time.sleep(0.5)

        csrf = secrets.token_hex(16)  # a CSRF secret of our own, as the browser's cookie
        cookie = f"sessionid={session_for(people['bench-writer'])}; csrftoken={csrf}"
        writer = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        delivery, post_times, lost = [], [], 0
        rng = random.Random(7)
        for number in range(n_notes):
            body = urlencode({"body": f"Bench note {marker}-{number}- error rate check"})
            start = time.perf_counter()
            writer.request(
                "POST",
                note_path,
                body=body,
                headers={
                    "Cookie": cookie,
                    "X-CSRFToken": csrf,
                    "Content-Type": "application/x-www-form-urlencoded",
                },
            )
            response = writer.getresponse()
            response.read()
            post_times.append((time.perf_counter() - start) * 1000)
            if response.status not in (200, 302):
                raise SystemExit(f"note POST answered {response.status}")
            arrived = reader.wait_for(number, timeout=5)
            if arrived is None:
                lost += 1
            else:
                delivery.append((arrived - start) * 1000)
            time.sleep(rng.uniform(0, 0.3))  # so posts do not line up with the stream's polling
        time.sleep(1)
        reader.stopping = True
        duplicates = sum(1 for count in reader.seen.values() if count > 1)
        report("note POST (server answer)", post_times)
        report(
            "note POST -> arrival in second SSE client",
            delivery,
            target=1000,
            extra=f"  (lost {lost}, duplicates {duplicates}, reconnects {reader.reconnects})",
        )
        return delivery
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def main():
    args = parse_args()
    database_url = args.database_url or DEFAULT_DATABASE_URL
    redis_url = args.redis_url or DEFAULT_REDIS_URL
    ensure_database(database_url)
    setup_django(database_url, redis_url)
    from django.core.management import call_command

    out(f"Vigil incidents benchmark on {urlsplit(database_url).path.lstrip('/')}")
    call_command("migrate", verbosity=0)
    big, _, people = build_data(
        n_incidents=args.incidents,
        n_events=args.events,
        open_every=args.open_every,
        rebuild=args.rebuild,
    )
    out(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  {_load()}")
    out("")
    # The pages are served in this process: give it the collector settings a web process
    # gets in vigil/asgi.py, as it would have behind uvicorn.
    from common.garbage_collection import settle_web_process

    if args.default_gc:
        out("garbage collector: CPython's defaults (--default-gc)")
    else:
        settle_web_process()
        out("garbage collector: a web process's settings (common/garbage_collection.py)")
    measure_pages(big, people, args.requests)
    if args.skip_sse:
        out("SSE delivery: skipped (--skip-sse)")
    else:
        measure_sse(people, args.notes, args.port, database_url, redis_url)
    out(f"done; {_load()}")


def _load():
    """Other work on the machine skews every figure: print the load average beside them."""
    one, five, _ = os.getloadavg()
    return f"load average: {one:.1f} (1 min), {five:.1f} (5 min)"


if __name__ == "__main__":
    main()
