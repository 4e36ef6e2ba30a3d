"""The response report: figures for a fixed set of incidents equal hand-computed values (in a
team east of UTC, so an incident declared at 23:30 UTC belongs to the next local day), drills
are left out, the CSV equals the table, the JSON API gives the same figures, bad input is a
400 or 404 with the reason, and the query count does not grow with the incidents."""

import csv
import datetime as dt
import io
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tokens import api_token_create
from incidents.models import EventKind, Severity, Status, TimelineEvent
from oncall.models import EscalationStep
from paging.models import Escalation, StepRun
from postmortems.models import ActionItem, ActionItemStatus
from reports.response import (
    Period,
    period_parse,
    report_as_json,
    response_report,
    response_report_from_rows,
)
from teams.models import Role
from tests.factories import IncidentFactory, TeamFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _reports_computed_every_request(settings):
    settings.REPORTS_RESPONSE_CACHE_SECONDS = 0


UTC = dt.UTC
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START, END = "2026-11-02", "2026-11-15"


def at(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def sec(n):
    return dt.timedelta(seconds=n)


def incident(team, level, declared, *, ack=None, mitigated=None, resolved=None, **extra):
    declared = at(declared)
    status = Status.TRIGGERED
    for value, name in ((ack, Status.ACKNOWLEDGED), (mitigated, Status.MITIGATED),
                        (resolved, Status.RESOLVED)):  # fmt: skip
        if value is not None:
            status = name
    return IncidentFactory(
        team=team,
        severity=Severity.objects.get(level=level),
        status=status,
        started_at=declared,
        declared_at=declared,
        acknowledged_at=None if ack is None else declared + sec(ack),
        mitigated_at=None if mitigated is None else declared + sec(mitigated),
        resolved_at=None if resolved is None else declared + sec(resolved),
        **extra,
    )


def escalate(incident, *positions_after):
    """An escalation whose steps ran at these (position, seconds after declaration), each
    recording its step's target kind as the engine does."""
    escalation = Escalation.objects.create(
        incident=incident, team=incident.team, started_at=incident.declared_at
    )
    kinds = dict(
        EscalationStep.objects.filter(policy__team=incident.team).values_list(
            "position", "target_kind"
        )
    )
    for number, (position, after) in enumerate(positions_after, start=1):
        when = incident.declared_at + sec(after)
        StepRun.objects.create(
            escalation=escalation,
            number=number,
            position=position,
            scheduled_at=when,
            executed_at=when,
            lateness=0,
            target_kind=kinds[position],
        )
    return escalation


def comms(incident, *minutes):
    for m in minutes:
        TimelineEvent.objects.create(
            incident=incident,
            kind=EventKind.COMMS,
            body="Update",
            body_html="<p>Update</p>",
            occurred_at=incident.declared_at + dt.timedelta(minutes=m),
        )


def action_item(incident, owner, due, status=ActionItemStatus.OPEN, completed=None):
    return ActionItem.objects.create(
        incident=incident,
        team=incident.team,
        title="Fix it",
        owner=owner,
        due_date=dt.date.fromisoformat(due),
        status=status,
        completed_at=None if completed is None else at(completed),
    )


@pytest.fixture
def berlin():
    """Platform in Berlin (UTC+1 in November), with its default escalation path (primary,
    secondary, then the lead at position 2) and the incidents the figures are computed from."""
    team = TeamFactory(slug="platform", name="Platform", time_zone="Europe/Berlin")
    manager = member(team, Role.MANAGER, username="morgan", first_name="Morgan")
    # A: SEV1, acknowledged at 3 min, updates never more than 15 minutes apart.
    a = incident(team, 1, "2026-11-02T10:00", ack=180, mitigated=1800, resolved=3600,
                 affected_services=["checkout", "api"])  # fmt: skip
    escalate(a, (0, 0))
    comms(a, 10, 25, 40, 55)
    # B: SEV1, acknowledged at 10 min after the secondary was paged at 5; a 20-minute gap.
    b = incident(team, 1, "2026-11-03T08:00", ack=600, mitigated=2400, resolved=7200,
                 affected_services=["checkout"])  # fmt: skip
    escalate(b, (0, 0), (1, 300))
    comms(b, 20, 30, 45)
    # C: 23:30 UTC on Sunday 8 November is 00:30 on Monday 9 November in Berlin. The
    # secondary was paged late (16 min), the lead at 19, the acknowledgement at 20.
    c = incident(team, 2, "2026-11-08T23:30", ack=1200, resolved=6000)
    escalate(c, (0, 0), (1, 960), (2, 1140))
    # D: SEV3, never acknowledged, still open, not paged.
    d = incident(team, 3, "2026-11-10T12:00", affected_services=["api"])
    # G: 23:30 UTC on 1 November is 00:30 on 2 November in Berlin: inside the period.
    g = incident(team, 4, "2026-11-01T23:30", ack=120, mitigated=600, resolved=1800,
                 affected_services=["api"])  # fmt: skip
    # Outside: 23:30 UTC on 15 November is 16 November in Berlin.
    incident(team, 2, "2026-11-15T23:30", ack=60, resolved=120, affected_services=["api"])
    # A drill: counted nowhere.
    drill = incident(team, 1, "2026-11-04T09:00", ack=30, mitigated=40, resolved=50,
                     affected_services=["drill-service"], is_drill=True)  # fmt: skip
    escalate(drill, (0, 0), (1, 300), (2, 600))
    comms(drill, 30)
    # Action items: on time; done at 00:30 Berlin the day after (late); open and overdue;
    # won't do (left out); a drill's (left out); due after the period (left out).
    action_item(a, manager, "2026-11-05", ActionItemStatus.DONE, "2026-11-04T12:00")
    action_item(a, manager, "2026-11-06", ActionItemStatus.DONE, "2026-11-06T23:30")
    action_item(b, manager, "2026-11-10")
    action_item(b, manager, "2026-11-12", ActionItemStatus.WONT_DO)
    action_item(drill, manager, "2026-11-07", ActionItemStatus.DONE, "2026-11-05T10:00")
    action_item(c, manager, "2026-11-20", ActionItemStatus.DONE, "2026-11-10T10:00")
    return team, manager, {"a": a, "b": b, "c": c, "d": d, "g": g}


# Each figure test runs twice: PostgreSQL's aggregates (what PostgreSQL deployments run) and
# the rows computed in Python (what SQLite under `make run` runs), held to the same values.
COMPUTE = {"postgresql": response_report, "rows": response_report_from_rows}


@pytest.fixture(params=list(COMPUTE))
def compute(request):
    return COMPUTE[request.param]


def report_for(team, start=START, end=END, now=NOW, compute=response_report):
    return compute(team=team, period=period_parse(team=team, start=start, end=end), now=now)


def test_the_figures_equal_the_hand_computed_ones(berlin, compute):
    team, _, _ = berlin
    data = report_as_json(report_for(team, compute=compute))
    assert data["incidents"] == 5  # A, B, C, D, G
    # Acknowledged: A 180, B 600, C 1200, G 120 seconds.
    assert data["mean_time_to_acknowledge_seconds"] == 525.0
    assert data["median_time_to_acknowledge_seconds"] == 390.0
    # Mitigated: A 1800, B 2400, G 600.
    assert data["mean_time_to_mitigate_seconds"] == 1600.0
    assert data["median_time_to_mitigate_seconds"] == 1800.0
    # Resolved: A 3600, B 7200, C 6000, G 1800.
    assert data["mean_time_to_resolve_seconds"] == 4650.0
    assert data["median_time_to_resolve_seconds"] == 4800.0
    assert (data["acknowledged"], data["mitigated"], data["resolved"]) == (4, 3, 4)
    # A and G within 5 minutes, of the four acknowledged and D (never acknowledged).
    assert data["acknowledged_within_5_minutes"] == {"met": 2, "of": 5, "share": 0.4}
    # Needing escalation: B (acknowledged at 10 min: met) and C (next step at 16: missed).
    assert data["escalated_within_15_minutes"] == {"met": 1, "of": 2, "share": 0.5}
    assert data["paged"] == 3
    assert data["reached_secondary"] == {"met": 2, "of": 3, "share": 2 / 3}
    assert data["reached_lead"] == {"met": 1, "of": 3, "share": 1 / 3}
    # A's longest gap is 15 minutes (kept); B's is 20 (missed).
    assert data["sev1_updates_every_15_minutes"] == {"met": 1, "of": 2, "share": 0.5}
    # On time: the first; late: the one done at 00:30 Berlin, the open overdue one.
    assert data["action_items_done_on_time"] == {"met": 1, "of": 3, "share": 1 / 3}
    assert data["by_service"] == [
        {"service": "api", "incidents": 3},
        {"service": "checkout", "incidents": 2},
        {"service": "(no service named)", "incidents": 1},
    ]
    assert [(r["severity"], r["incidents"]) for r in data["by_severity"]] == [
        ("SEV1", 2),
        ("SEV2", 1),
        ("SEV3", 1),
        ("SEV4", 1),
    ]
    sev1 = data["by_severity"][0]
    assert sev1["median_time_to_acknowledge_seconds"] == 390.0
    assert sev1["median_time_to_resolve_seconds"] == 5400.0
    assert data["by_severity"][2]["median_time_to_acknowledge_seconds"] is None
    # Berlin weeks: G, A, B in the week of 2 November; C and D in the week of 9 November.
    assert [(r["week"], r["incidents"]) for r in data["by_week"]] == [
        ("2026-11-02", 3),
        ("2026-11-09", 2),
    ]
    assert data["by_week"][1]["median_time_to_acknowledge_seconds"] == 1200.0


def test_reached_the_lead_counts_each_step_as_it_was_when_it_ran(berlin, compute):
    """C's third step paged the lead. The policy is then edited so that no step targets the
    lead: C still reached them. Edited again so that the first step does: only the
    escalation that ran after it reached the lead, not A, B and C, whose first step paged a
    layer."""
    team, _, _ = berlin
    steps = {s.position: s for s in EscalationStep.objects.filter(policy__team=team)}
    steps[2].target_kind = "layer"
    steps[2].save(update_fields=["target_kind"])
    assert report_as_json(report_for(team, compute=compute))["reached_lead"] == {
        "met": 1,
        "of": 3,
        "share": 1 / 3,
    }

    steps[0].target_kind = "lead"
    steps[0].save(update_fields=["target_kind"])
    late = incident(team, 2, "2026-11-11T09:00", ack=60, resolved=600)
    escalate(late, (0, 0))

    data = report_as_json(report_for(team, compute=compute))
    assert data["paged"] == 4
    assert data["reached_lead"] == {"met": 2, "of": 4, "share": 0.5}
    assert data["reached_secondary"] == {"met": 2, "of": 4, "share": 0.5}


def test_the_migration_gives_earlier_step_runs_their_steps_kind_from_the_policy(berlin):
    team, _, incidents = berlin
    with connection.cursor() as cursor:  # no pending foreign-key checks before ALTER TABLE
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    executor = MigrationExecutor(connection)
    executor.migrate([("paging", "0003_team_moves_to_teams")])
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    runs = StepRun.objects.filter(escalation__incident=incidents["c"]).order_by("number")
    assert list(runs.values_list("target_kind", flat=True)) == ["layer", "layer", "lead"]
    assert report_as_json(report_for(team))["reached_lead"]["met"] == 1


def test_the_same_incidents_in_utc_fall_on_other_days(berlin, compute):
    team, _, _ = berlin
    team.time_zone = "UTC"
    team.save()
    data = report_as_json(report_for(team, compute=compute))
    # G (1 November in UTC) leaves; the 23:30 UTC incident of 15 November comes in.
    assert data["incidents"] == 5
    assert [(r["week"], r["incidents"]) for r in data["by_week"]] == [
        ("2026-11-02", 3),  # A, B, C (Sunday 8 November)
        ("2026-11-09", 2),  # D and the one of 15 November
    ]
    # In UTC the item done at 23:30 on its due date is on time.
    assert data["action_items_done_on_time"] == {"met": 2, "of": 3, "share": 2 / 3}


def test_a_period_without_incidents_gives_zeros_and_nulls(berlin, compute):
    team, _, _ = berlin
    data = report_as_json(report_for(team, start="2025-01-01", end="2025-01-31", compute=compute))
    assert data["incidents"] == 0
    assert data["mean_time_to_acknowledge_seconds"] is None
    assert data["median_time_to_resolve_seconds"] is None
    assert data["acknowledged_within_5_minutes"] == {"met": 0, "of": 0, "share": None}
    assert data["by_service"] == []
    assert [r["incidents"] for r in data["by_severity"]] == [0, 0, 0, 0]
    assert len(data["by_week"]) == 5  # weeks starting 30 Dec, 6, 13, 20, 27 Jan


def test_drills_are_excluded_from_every_figure(berlin, compute):
    team, _, _ = berlin
    only_drill = report_as_json(
        report_for(team, start="2026-11-04", end="2026-11-04", compute=compute)
    )
    assert only_drill["incidents"] == 0
    assert only_drill["paged"] == 0
    assert only_drill["by_service"] == []
    assert only_drill["sev1_updates_every_15_minutes"]["of"] == 0
    assert only_drill["action_items_done_on_time"]["of"] == 0  # the drill's item is due 7 Nov
    assert only_drill["mean_time_to_acknowledge_seconds"] is None


def test_the_default_period_is_the_last_90_days_in_the_team_time_zone():
    team = TeamFactory(slug="tokyo", time_zone="Asia/Tokyo")
    period = period_parse(team=team, today=dt.date(2026, 12, 3))
    assert (period.start, period.end) == (dt.date(2026, 9, 5), dt.date(2026, 12, 3))
    assert period.days == 90
    assert period.start_at == dt.datetime(2026, 9, 4, 15, 0, tzinfo=UTC)
    assert period.end_before == dt.datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert Period(dt.date(2026, 1, 1), dt.date(2026, 1, 1), "UTC").days == 1


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        ("2026-11-15", "2026-11-02", "end (2026-11-02) is before start (2026-11-15)."),
        ("2026-02-30", "2026-03-02", "start is not a date (YYYY-MM-DD): '2026-02-30'."),
        ("2026-01-01\x00", "2026-01-02", "contains a NUL character"),
        ("2024-01-01", "2026-01-01", "The period is 732 days long; a report covers at most two "
         "years (731 days)."),
        ("yesterday", "", "start is not a date"),
    ],
)  # fmt: skip
def test_bad_periods_are_refused_with_the_reason(client, berlin, start, end, reason):
    team, manager, _ = berlin
    client.force_login(manager)
    url = reverse("reports_response", args=[team.slug])
    response = client.get(url, {"start": start, "end": end})
    assert response.status_code == 400
    assert reason in response.content.decode().replace("&#x27;", "'")
    token = api_headers(manager)
    answer = client.get("/api/v1/reports/response", {"team": team.slug, "start": start,
                        "end": end}, **token)  # fmt: skip
    assert answer.status_code == 400
    assert reason.split(":")[0].split(" (")[0] in str(answer.json())


def test_exactly_two_years_is_allowed(client, berlin):
    team, manager, _ = berlin
    client.force_login(manager)
    url = reverse("reports_response", args=[team.slug])
    response = client.get(url, {"start": "2025-01-01", "end": "2026-12-31"})  # 730 days
    assert response.status_code == 200
    response = client.get(url, {"start": "2024-01-01", "end": "2025-12-31"})  # 731, a leap day
    assert response.status_code == 200


def test_outsiders_and_unknown_teams_get_404(client, berlin, outsider):
    team, _, _ = berlin
    client.force_login(outsider)
    assert client.get(reverse("reports_response", args=[team.slug])).status_code == 404
    assert client.get(reverse("reports_response", args=["nobody"])).status_code == 404
    token = api_headers(outsider)
    answer = client.get("/api/v1/reports/response", {"team": team.slug}, **token)
    assert answer.status_code == 404
    answer = client.get("/api/v1/reports/response", {"team": "nobody"}, **token)
    assert answer.status_code == 404
    assert client.get("/api/v1/reports/response", {"team": team.slug}).status_code == 401


def test_a_viewer_of_the_team_sees_the_report(client, berlin):
    team, _, _ = berlin
    client.force_login(member(team, Role.VIEWER))
    response = client.get(reverse("reports_response", args=[team.slug]))
    assert response.status_code == 200
    assert "Definitions" in response.content.decode()


def test_signed_out_people_are_sent_to_log_in(client, berlin):
    team, _, _ = berlin
    response = client.get(reverse("reports_response", args=[team.slug]))
    assert response.status_code == 302 and "/login" in response["Location"]


class Tables(HTMLParser):
    """Every <table data-chart=…> of a page as rows of cell texts (header row first)."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-chart" in attrs:
            self.current = self.tables.setdefault(attrs["data-chart"], [])
        elif self.current is not None and tag == "tr":
            self.row = []
        elif self.row is not None and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.current = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.current.append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page_tables(content: str) -> dict:
    parser = Tables()
    parser.feed(content)
    return parser.tables


def test_every_csv_equals_its_table(client, berlin):
    team, manager, _ = berlin
    client.force_login(manager)
    url = reverse("reports_response", args=[team.slug])
    page = client.get(url, {"start": START, "end": END})
    assert page.status_code == 200
    content = page.content.decode()
    tables = page_tables(content)
    assert set(tables) == {
        "times", "targets", "escalations", "severity", "service", "week", "weekly_times",
    }  # fmt: skip
    for name, rows in tables.items():
        link = f"?start={START}&amp;end={END}&amp;format=csv&amp;chart={name}"
        assert link in content, name
        answer = client.get(url, {"start": START, "end": END, "format": "csv", "chart": name})
        assert answer.status_code == 200
        assert answer["Content-Type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(answer.content.decode()))) == rows, name
    assert tables["service"] == [
        ["Service", "Incidents"],
        ["api", "3"],
        ["checkout", "2"],
        ["(no service named)", "1"],
    ]
    assert tables["times"][1] == ["Time to acknowledge", "8.8", "6.5", "4"]
    assert tables["targets"][1] == ["Acknowledged within 5 minutes", "2", "5", "40.0"]
    assert tables["week"][1:] == [["2026-11-02", "3"], ["2026-11-09", "2"]]


def test_an_unknown_chart_or_format_is_refused(client, berlin):
    team, manager, _ = berlin
    client.force_login(manager)
    url = reverse("reports_response", args=[team.slug])
    response = client.get(url, {"format": "csv", "chart": "nope"})
    assert response.status_code == 400
    assert "chart must be one of: times, targets" in response.content.decode()
    assert client.get(url, {"format": "pdf"}).status_code == 400


def test_labels_are_escaped_in_the_chart_and_the_table(client, berlin):
    team, manager, _ = berlin
    incident(team, 2, "2026-11-05T10:00", affected_services=['<script>alert("x")</script>'])
    client.force_login(manager)
    response = client.get(reverse("reports_response", args=[team.slug]),
                          {"start": START, "end": END})  # fmt: skip
    content = response.content.decode()
    assert "<script>alert" not in content
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in content
    svg = content.split('id="chart-service"')[1].split("</svg>")[0]
    assert 'role="img" aria-label="Bar chart of incidents by service. api: 3 incidents;' in svg
    assert "<title>Incidents by service</title>" in svg


def api_headers(user):
    _, raw = api_token_create(user=user, name="test")
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_the_api_gives_the_page_figures(client, berlin):
    team, manager, _ = berlin
    answer = client.get(
        "/api/v1/reports/response",
        {"team": team.slug, "start": START, "end": END},
        **api_headers(manager),
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["incidents"] == 5
    assert data["mean_time_to_acknowledge_seconds"] == 525.0
    assert data["mean_time_to_mitigate_seconds"] == 1600.0
    assert data["mean_time_to_resolve_seconds"] == 4650.0
    assert data["time_zone"] == "Europe/Berlin"
    assert (data["start"], data["end"]) == (START, END)
    assert data["by_week"][0] == {
        "week": "2026-11-02",
        "incidents": 3,
        "median_time_to_acknowledge_seconds": 180.0,
        "median_time_to_mitigate_seconds": 1800.0,
        "median_time_to_resolve_seconds": 3600.0,
    }


def add_incidents(team, n, first):
    """n paged SEV1 incidents with two steps run, a status update and a service each."""
    for k in range(n):
        one = incident(team, 1 + k % 4, (first + dt.timedelta(hours=k)).isoformat()[:16],
                       ack=400, resolved=3000, affected_services=[f"svc-{k % 7}"])  # fmt: skip
        escalate(one, (0, 0), (1, 300))
        comms(one, 10)


def queries_for(client, url, params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_query_count_does_not_grow_with_the_incidents(client, django_assert_num_queries):
    team = TeamFactory(slug="ops", name="Ops", time_zone="America/New_York")
    manager = member(team, Role.MANAGER)
    client.force_login(manager)
    url = reverse("reports_response", args=[team.slug])
    params = {"start": "2026-01-01", "end": "2026-12-31"}
    add_incidents(team, 5, dt.datetime(2026, 3, 1))
    client.get(url, params)  # the first request of a session also loads what it caches
    at_n = queries_for(client, url, params)
    csv_at_n = queries_for(client, url, {**params, "format": "csv", "chart": "week"})
    add_incidents(team, 45, dt.datetime(2026, 6, 1))
    with django_assert_num_queries(at_n):
        client.get(url, params)
    with django_assert_num_queries(csv_at_n):
        client.get(url, {**params, "format": "csv", "chart": "week"})
    headers = api_headers(manager)
    client.get("/api/v1/reports/response", {"team": "ops"}, **headers)  # a token's first use
    with CaptureQueriesContext(connection) as ctx:
        answer = client.get("/api/v1/reports/response", {"team": "ops", **params}, **headers)
    assert answer.json()["incidents"] == 50
    api_queries = len(ctx.captured_queries)
    add_incidents(team, 50, dt.datetime(2026, 9, 1))
    with django_assert_num_queries(api_queries):
        client.get("/api/v1/reports/response", {"team": "ops", **params}, **headers)


def test_a_computed_report_is_kept_for_the_cache_time(client, berlin, settings):
    from django.core.cache import cache

    settings.REPORTS_RESPONSE_CACHE_SECONDS = 300
    cache.clear()
    team, manager, found = berlin
    client.force_login(manager)
    url = reverse("reports_response", args=[team.slug])
    params = {"start": START, "end": END}
    first = queries_for(client, url, params)
    incident(team, 2, "2026-11-05T10:00")  # not seen until the kept figures expire
    response = client.get(url, params)
    assert "the figures are computed again at most every 300 seconds" in response.content.decode()
    assert page_tables(response.content.decode())["week"][1] == ["2026-11-02", "3"]
    assert queries_for(client, url, params) < first
    cache.clear()
    response = client.get(url, params)
    assert page_tables(response.content.decode())["week"][1] == ["2026-11-02", "4"]
