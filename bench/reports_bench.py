"""Benchmark: the response report over a year of one team's incidents. Prints its figures.

    .venv/bin/python bench/reports_bench.py            # build once, then measure
    .venv/bin/python bench/reports_bench.py --rebuild  # throw the data away and rebuild

In a dedicated PostgreSQL database (vigil_reports_bench, created and migrated here) it loads,
with INSERT … SELECT generate_series, 100,000 incidents of one team over the last year (with
their escalations, step runs, 1,000,000 pages, SEV1 status updates and action items) and the
same at a tenth of the size for a second team. It then times the report page for the whole
year (django.test.Client in-process, signed in as a manager, 5 warm-up + N requests, default
50) and the JSON API, at N and at N/10, and prints p50/p95 and the query count of each: the
count is the same at both sizes. Target: page p95 < 200 ms. See bench/README.md.
"""

import argparse
import datetime as dt
import os
import re
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/vigil_reports_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/4"
TIME_ZONE = "Europe/Berlin"
SERVICES = ["checkout", "api", "search", "billing", "auth", "agents", "web", "mobile",
            "payments", "email", "exports", "reports"]  # fmt: skip
PAGED_PEOPLE = 10


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""))
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per figure")
    parser.add_argument(
        "--computed-requests",
        type=int,
        default=20,
        help="timed requests per figure when every request computes the report",
    )
    parser.add_argument("--rebuild", action="store_true", help="drop the data and rebuild")
    return parser.parse_args()


def out(line=""):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def ensure_database(url: str) -> None:
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


def _execute(sql, params=None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.rowcount


def bench_people():
    from accounts.models import User
    from teams.models import Membership, Role, Team

    teams = {}
    for slug, name in (("bench-year", "Bench year"), ("bench-tenth", "Bench tenth")):
        team, _ = Team.objects.get_or_create(
            slug=slug, defaults={"name": name, "time_zone": TIME_ZONE}
        )
        teams[slug] = team
    people = []
    for n in range(PAGED_PEOPLE + 1):
        username = "bench-manager" if n == 0 else f"bench-oncall-{n}"
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_password(secrets.token_urlsafe(16))
            user.save()
        for team in teams.values():
            Membership.objects.get_or_create(
                team=team,
                user=user,
                defaults={"role": Role.MANAGER if n == 0 else Role.RESPONDER},
            )
        people.append(user)
    return teams, people


def load_team(team, *, incidents: int, pages: int, people, today: dt.date) -> dict:
    """One team's year: incidents (every 200th a drill, every 500th still open), an
    escalation each with 1–3 step runs, `pages` pages, SEV1 status updates, action items."""
    from incidents.models import Severity

    first = dt.datetime.combine(today - dt.timedelta(days=364), dt.time(0), dt.UTC)
    span = 365 * 86400
    severity_ids = list(Severity.objects.order_by("level").values_list("pk", flat=True))
    counts = {}
    started = time.perf_counter()
    counts["incidents"] = _execute(
        """
        INSERT INTO incidents_incident (
            title, summary, status, is_private, started_at, declared_at, acknowledged_at,
            mitigated_at, resolved_at, sla_breach, affected_services, status_page_url,
            timeline_seq, team_id, severity_id, is_drill)
        SELECT 'Bench incident ' || g, '',
               CASE WHEN g %% 500 = 0 THEN 'triggered' ELSE 'resolved' END, false,
               d, d,
               CASE WHEN g %% 500 = 0 THEN NULL
                    ELSE d + ((20 + (g * 37) %% 1500) * interval '1 s') END,
               CASE WHEN g %% 500 = 0 OR g %% 7 = 0 THEN NULL
                    ELSE d + ((600 + (g * 53) %% 5400) * interval '1 s') END,
               CASE WHEN g %% 500 = 0 THEN NULL
                    ELSE d + ((1800 + (g * 71) %% 30000) * interval '1 s') END,
               false,
               CASE WHEN g %% 5 = 0 THEN '[]'::jsonb
                    WHEN g %% 3 = 0 THEN jsonb_build_array(
                        (%(services)s::text[])[1 + g %% 12],
                        (%(services)s::text[])[1 + (g + 5) %% 12])
                    ELSE jsonb_build_array((%(services)s::text[])[1 + g %% 12]) END,
               '', 0, %(team)s, (%(severities)s::bigint[])[1 + g %% 4], g %% 200 = 0
        FROM (
            SELECT g,
                   %(first)s::timestamptz + ((g::bigint * %(span)s / %(n)s) * interval '1 s') AS d
            FROM generate_series(1, %(n)s) g
        ) s
        """,
        {"team": team.pk, "n": incidents, "first": first, "span": span,
         "services": SERVICES, "severities": severity_ids},
    )  # fmt: skip
    counts["escalations"] = _execute(
        """
        INSERT INTO paging_escalation (status, started_at, next_position, cycle, steps_run,
                                       incident_id, team_id)
        SELECT 'acknowledged', declared_at, 0, 1, 1 + id %% 3, id, team_id
        FROM incidents_incident WHERE team_id = %(team)s
        """,
        {"team": team.pk},
    )
    # Steps 1–3 of the default path (primary, secondary at 5 min, the lead at 15 min).
    counts["step runs"] = _execute(
        """
        INSERT INTO paging_steprun (escalation_id, number, position, cycle, scheduled_at,
                                    executed_at, lateness, target_kind)
        SELECT e.id, p + 1, p, 1, e.started_at + (ARRAY[0, 300, 900])[p + 1] * interval '1 s',
               e.started_at + ((ARRAY[0, 300, 900])[p + 1] + e.id %% 120) * interval '1 s',
               (e.id %% 120)::float, (ARRAY['layer', 'layer', 'lead'])[p + 1]
        FROM paging_escalation e CROSS JOIN generate_series(0, 2) p
        WHERE e.team_id = %(team)s AND p < e.steps_run
        """,
        {"team": team.pk},
    )
    per_run = -(-pages // counts["step runs"])
    if per_run > len(people):
        raise SystemExit(f"{pages} pages need more than {len(people)} people per step.")
    counts["pages"] = _execute(
        """
        INSERT INTO paging_page (created_at, escalation_id, incident_id, user_id, step_run_id,
                                 acknowledged_at)
        SELECT r.executed_at, r.escalation_id, e.incident_id, (%(people)s::bigint[])[k], r.id,
               CASE WHEN k = 1 THEN r.executed_at + interval '2 min' END
        FROM paging_steprun r
        JOIN paging_escalation e ON e.id = r.escalation_id
        CROSS JOIN generate_series(1, %(per_run)s) k
        WHERE e.team_id = %(team)s
        ORDER BY r.id, k
        LIMIT %(pages)s
        """,
        {"team": team.pk, "people": [p.pk for p in people], "per_run": per_run, "pages": pages},
    )
    counts["SEV1 status updates"] = _execute(
        """
        INSERT INTO incidents_timelineevent (incident_id, kind, body, body_html, occurred_at,
                                             created_at, pinned, data, seq)
        SELECT i.id, 'comms', 'Update', '<p>Update</p>',
               i.declared_at + (m + (CASE WHEN i.id %% 4 = 0 THEN 8 ELSE 0 END)) * interval '1 min',
               i.declared_at, false, '{}'::jsonb, 0
        FROM incidents_incident i CROSS JOIN unnest(ARRAY[10, 25, 40, 55]) m
        WHERE i.team_id = %(team)s AND i.severity_id = %(sev1)s
        """,
        {"team": team.pk, "sev1": severity_ids[0]},
    )
    counts["action items"] = _execute(
        """
        INSERT INTO postmortems_actionitem (title, due_date, priority, status, tracker_url,
                                            created_at, completed_at, incident_id, owner_id,
                                            team_id)
        SELECT 'Follow up ' || i.id, (i.declared_at + interval '14 days')::date, 'P1',
               CASE WHEN i.id %% 3 = 0 THEN 'open' ELSE 'done' END, '', i.declared_at,
               CASE WHEN i.id %% 3 = 0 THEN NULL
                    ELSE i.declared_at + ((7 + i.id %% 14) * interval '1 day') END,
               i.id, %(owner)s, i.team_id
        FROM incidents_incident i
        WHERE i.team_id = %(team)s AND i.id %% 20 = 0
        """,
        {"team": team.pk, "owner": people[0].pk},
    )
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def build_data(*, n_incidents: int, n_pages: int, rebuild: bool):
    from django.db import connection
    from django.utils import timezone

    from incidents.models import Incident

    teams, people = bench_people()
    if rebuild:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE incidents_incident CASCADE")
    today = timezone.now().astimezone(ZoneInfo(TIME_ZONE)).date()
    sizes = {"bench-year": (n_incidents, n_pages),
             "bench-tenth": (n_incidents // 10, n_pages // 10)}  # fmt: skip
    for slug, (n, pages) in sizes.items():
        team = teams[slug]
        have = Incident.objects.filter(team=team).count()
        if have == n:
            out(f"{slug}: reusing {have:,} incidents (--rebuild to load again)")
            continue
        if have:
            raise SystemExit(f"{slug} has {have:,} incidents, not {n:,}: pass --rebuild.")
        counts = load_team(team, incidents=n, pages=pages, people=people[1:], today=today)
        out(f"{slug}: loaded " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return teams, people[0], today


# --- timings ----------------------------------------------------------------------------------


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def time_url(client, url, n, headers):
    from django.db import connection

    for _ in range(5):
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
        response = client.get(url, **headers)
    times, cpu = [], []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200
    return times, len(sql_ms), sum(sql_ms), percentile(cpu, 50), response


def measure(teams, manager, today, n, n_computed):
    """Each figure twice: computed on every request (REPORTS_RESPONSE_CACHE_SECONDS=0), and
    as shipped, where a computed report is kept in the shared cache for 300 seconds."""
    from django.conf import settings
    from django.core.cache import cache
    from django.test import Client
    from django.urls import reverse

    from accounts.models import ApiToken
    from accounts.tokens import api_token_create

    client = Client()
    client.force_login(manager)
    ApiToken.objects.filter(user=manager).delete()
    _, raw = api_token_create(user=manager, name="benchmark")
    api = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    period = {"start": (today - dt.timedelta(days=364)).isoformat(), "end": today.isoformat()}
    counts = {}
    runs = [("computed", 0, slug) for slug in teams] + [("kept", 300, slug) for slug in teams]
    for mode, seconds, slug in runs:
        settings.REPORTS_RESPONSE_CACHE_SECONDS = seconds
        cache.clear()
        page = reverse("reports_response", args=[slug]) + "?" + urlencode(period)
        json_url = "/api/v1/reports/response?" + urlencode({"team": slug, **period})
        for what, url, headers, target in (
            (f"page, {mode}", page, {}, 200),
            (f"CSV, {mode}", page + "&format=csv&chart=week", {}, None),
            (f"API, {mode}", json_url, api, None),
        ):
            count = n_computed if seconds == 0 else n
            times, queries, sql_ms, cpu, response = time_url(client, url, count, headers)
            if what.startswith("API"):
                incidents = response.json()["incidents"]
            p50, p95 = percentile(times, 50), percentile(times, 95)
            verdict = ""
            if target:
                verdict = "  OK" if p95 < target else f"  OVER the {target} ms target"
            counts.setdefault(what, set()).add(queries)
            out(
                f"{slug:<12} {what:<15} n={len(times):<3} p50={p50:6.1f} ms  p95={p95:6.1f} ms  "
                f"max={max(times):6.1f} ms  {queries} queries ({sql_ms:.1f} ms)  "
                f"web CPU p50 {cpu:.1f} ms  {len(response.content) // 1024} KiB{verdict}"
            )
        out(f"{slug:<12} incidents in the report: {incidents:,}")
    for what, seen in counts.items():
        same = "the same at both sizes" if len(seen) == 1 else f"DIFFERENT: {sorted(seen)}"
        out(f"query count of the {what}: {same}")


def _load():
    one, five, _ = os.getloadavg()
    return f"load average: {one:.1f} (1 min), {five:.1f} (5 min)"


def main():
    args = parse_args()
    database_url = args.database_url or DEFAULT_DATABASE_URL
    redis_url = args.redis_url or DEFAULT_REDIS_URL
    ensure_database(database_url)
    setup_django(database_url, redis_url)
    from django.core.management import call_command

    out(f"Vigil reports benchmark on {urlsplit(database_url).path.lstrip('/')}")
    call_command("migrate", verbosity=0)
    teams, manager, today = build_data(
        n_incidents=args.incidents, n_pages=args.pages, rebuild=args.rebuild
    )
    out(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  {_load()}")
    from common.garbage_collection import settle_web_process

    settle_web_process()
    out("garbage collector: a web process's settings (common/garbage_collection.py)")
    measure(teams, manager, today, args.requests, args.computed_requests)
    out(f"done; {_load()}")


if __name__ == "__main__":
    main()
