"""The response report: how a team answered its incidents over a period.

Every figure is an aggregate computed by PostgreSQL (a fixed handful of queries, however many
incidents there are); on another database (SQLite under `make run`) the same figures are
computed in Python from the period's rows. Drills are left out of everything. An incident
belongs to the period when it was declared on one of the period's days in the team's time
zone; `end` is inclusive. The definitions below are shown on the page as they are written
here.
"""

import datetime as dt
import itertools
import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from incidents.models import EventKind, Severity, TimelineEvent
from oncall.models import EscalationStep
from paging.models import Escalation, StepRun
from postmortems.models import ActionItem, ActionItemStatus
from reports import periods
from reports.periods import Period
from status.models import StatusUpdate

# The source document's targets.
ACKNOWLEDGE_TARGET = dt.timedelta(minutes=5)
ESCALATE_TARGET = dt.timedelta(minutes=15)
SEV1_UPDATE_TARGET = dt.timedelta(minutes=15)
DEFAULT_DAYS = 90

DEFINITIONS = [
    (
        "Incidents",
        "Incidents of the team declared on a day of the period (in the team's time zone, the "
        "end day included). Drills are never counted, in this figure or any other.",
    ),
    (
        "Time to acknowledge",
        "From declaration to the incident's first acknowledgement; mean and median over the "
        "incidents acknowledged.",
    ),
    ("Time to mitigate", "From declaration to mitigation, over the incidents mitigated."),
    ("Time to resolve", "From declaration to resolution, over the incidents resolved."),
    (
        "Acknowledged within 5 minutes",
        "Share of the incidents acknowledged at most 5 minutes after declaration. An incident "
        "not acknowledged counts as missed once 5 minutes have passed.",
    ),
    (
        "Escalated within 15 minutes",
        "Of the paged incidents that were not acknowledged within 5 minutes, the share where, "
        "within 15 minutes of declaration, either someone acknowledged or the escalation "
        "policy's second step ran (the page reached the next person).",
    ),
    (
        "SEV1 updates every 15 minutes",
        "Share of SEV1 incidents where no gap between declaration, each status update (the "
        "timeline's status updates and posted status-page updates) and resolution was longer "
        "than 15 minutes. A SEV1 still open is measured until now.",
    ),
    (
        "Reached the secondary",
        "Paged incidents whose escalation ran the policy's second step (or a later one).",
    ),
    (
        "Reached the lead",
        "Paged incidents whose escalation ran a step that targeted the team's engineering "
        "lead when it ran (a later edit of the policy changes nothing here).",
    ),
    (
        "Action items done on time",
        "Action items of the team due on a day of the period and done by the end of their due "
        "date (team time zone). Items marked won't do are left out, as are open items whose "
        "due date has not passed yet.",
    ),
]


def period_parse(*, team, start=None, end=None, today=None) -> Period:
    """The report's period: the last 90 days unless asked (reports.periods)."""
    return periods.period_parse(
        team=team, start=start, end=end, today=today, default_days=DEFAULT_DAYS, what="a report"
    )


@dataclass
class Duration:
    measured: int = 0
    mean: float | None = None  # seconds
    median: float | None = None


@dataclass
class Share:
    met: int = 0
    of: int = 0

    @property
    def share(self) -> float | None:
        return self.met / self.of if self.of else None

    @property
    def percent(self) -> float | None:
        return None if self.of == 0 else round(100 * self.met / self.of, 1)


@dataclass
class GroupRow:
    key: str
    label: str
    incidents: int = 0
    acknowledge: Duration = field(default_factory=Duration)
    mitigate: Duration = field(default_factory=Duration)
    resolve: Duration = field(default_factory=Duration)


@dataclass
class ResponseReport:
    team: object
    period: Period
    incidents: int = 0
    acknowledge: Duration = field(default_factory=Duration)
    mitigate: Duration = field(default_factory=Duration)
    resolve: Duration = field(default_factory=Duration)
    acknowledged_within_target: Share = field(default_factory=Share)
    escalated_within_target: Share = field(default_factory=Share)
    sev1_updates_kept: Share = field(default_factory=Share)
    paged: int = 0
    reached_secondary: Share = field(default_factory=Share)
    reached_lead: Share = field(default_factory=Share)
    action_items_on_time: Share = field(default_factory=Share)
    by_severity: list[GroupRow] = field(default_factory=list)
    by_week: list[GroupRow] = field(default_factory=list)
    by_service: list[tuple[str, int]] = field(default_factory=list)


_NO_SERVICE = "(no service named)"


def _incidents_cte() -> str:
    return """
        inc AS (
            SELECT i.id, i.declared_at, i.acknowledged_at, i.mitigated_at, i.resolved_at,
                   i.affected_services, s.level, s.name AS severity_name,
                   date_trunc('week', i.declared_at AT TIME ZONE %(tz)s)::date AS week
            FROM incidents_incident i
            JOIN incidents_severity s ON s.id = i.severity_id
            WHERE i.team_id = %(team)s AND NOT i.is_drill
              AND i.declared_at >= %(start)s AND i.declared_at < %(end)s
        )
    """


def _duration_columns(name: str, column: str) -> str:
    # date_part is float arithmetic; EXTRACT gives numeric, about a tenth slower over a year.
    seconds = f"date_part('epoch', {column} - declared_at)"
    return (
        f"count({column}) AS {name}_n, avg({seconds}) AS {name}_mean, "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {seconds}) AS {name}_median"
    )


def _duration(row, name) -> Duration:
    return Duration(
        measured=row[f"{name}_n"], mean=row[f"{name}_mean"], median=row[f"{name}_median"]
    )


def _fetch(sql: str, params: dict) -> list[dict]:
    with transaction.atomic(), connection.cursor() as cursor:
        # The medians sort every incident of the period: in memory, not on disk.
        cursor.execute("SET LOCAL work_mem = '32MB'")
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _weeks(period: Period) -> list[dt.date]:
    first = period.start - dt.timedelta(days=period.start.weekday())
    weeks = []
    while first <= period.end:
        weeks.append(first)
        first += dt.timedelta(days=7)
    return weeks


def response_report(*, team, period: Period, now=None) -> ResponseReport:
    """The team's response figures over the period (see DEFINITIONS): aggregated by
    PostgreSQL, or from the rows on another database (SQLite under `make run`)."""
    now = now or timezone.now()
    if periods.aggregates_in_sql():
        return _response_report_sql(team=team, period=period, now=now)
    return response_report_from_rows(team=team, period=period, now=now)


def _fill_groups(report: ResponseReport, severities: dict, weekly: dict) -> None:
    """Every severity, counted or not, in level order; every week of the period."""
    for level, name in Severity.objects.order_by("level").values_list("level", "name"):
        group = severities.pop(level, None) or GroupRow(key="", label="")
        group.key = group.label = name
        report.by_severity.append(group)
    for week in _weeks(report.period):
        group = weekly.pop(week, None) or GroupRow(key="", label="")
        group.key = group.label = week.isoformat()
        report.by_week.append(group)


def _response_report_sql(*, team, period: Period, now) -> ResponseReport:
    """Six queries whatever the number of incidents."""
    params = {
        "team": team.pk,
        "tz": period.time_zone,
        "start": period.start_at,
        "end": period.end_before,
        "now": now,
        "ack_target": ACKNOWLEDGE_TARGET,
        "escalate_target": ESCALATE_TARGET,
        "update_target": SEV1_UPDATE_TARGET,
    }
    report = ResponseReport(team=team, period=period)

    # 1. Counts and times: the whole period, per severity and per week, in one scan.
    rows = _fetch(
        f"""
        WITH {_incidents_cte()}
        SELECT GROUPING(level, severity_name) AS no_severity, GROUPING(week) AS no_week,
               level, severity_name, week, count(*) AS incidents,
               {_duration_columns("ack", "acknowledged_at")},
               {_duration_columns("mitigate", "mitigated_at")},
               {_duration_columns("resolve", "resolved_at")},
               count(*) FILTER (
                   WHERE acknowledged_at - declared_at <= %(ack_target)s
               ) AS ack_met,
               count(*) FILTER (
                   WHERE acknowledged_at IS NOT NULL OR declared_at + %(ack_target)s < %(now)s
               ) AS ack_of
        FROM inc
        GROUP BY GROUPING SETS ((), (level, severity_name), (week))
        """,  # noqa: S608 — constant SQL around the CTE; every value is a parameter
        params,
    )
    weekly = {}
    severities = {}
    for row in rows:
        if row["no_severity"] and row["no_week"]:
            report.incidents = row["incidents"]
            report.acknowledge = _duration(row, "ack")
            report.mitigate = _duration(row, "mitigate")
            report.resolve = _duration(row, "resolve")
            report.acknowledged_within_target = Share(row["ack_met"], row["ack_of"])
            continue
        group = GroupRow(
            key="",
            label="",
            incidents=row["incidents"],
            acknowledge=_duration(row, "ack"),
            mitigate=_duration(row, "mitigate"),
            resolve=_duration(row, "resolve"),
        )
        if row["no_week"]:
            severities[row["level"]] = group
        else:
            weekly[row["week"]] = group

    # 2. Every severity, counted or not, in level order.
    _fill_groups(report, severities, weekly)

    # 3. Escalations: who the pages reached, and how soon.
    rows = _fetch(
        f"""
        WITH {_incidents_cte()},
        runs AS (
            SELECT r.escalation_id,
                   min(r.executed_at) FILTER (WHERE r.position >= 1) AS second_at,
                   bool_or(r.target_kind = %(lead)s) AS lead_ran
            FROM paging_steprun r
            JOIN paging_escalation e ON e.id = r.escalation_id
            WHERE e.team_id = %(team)s AND (r.position >= 1 OR r.target_kind = %(lead)s)
            GROUP BY r.escalation_id
        ),
        paged AS (
            SELECT inc.declared_at, inc.acknowledged_at, runs.second_at,
                   coalesce(runs.lead_ran, false) AS lead_ran,
                   (inc.acknowledged_at IS NULL
                    OR inc.acknowledged_at - inc.declared_at > %(ack_target)s) AS needed
            FROM inc
            JOIN paging_escalation e ON e.incident_id = inc.id
            LEFT JOIN runs ON runs.escalation_id = e.id
        )
        SELECT count(*) AS paged,
               count(*) FILTER (WHERE second_at IS NOT NULL) AS secondary,
               count(*) FILTER (WHERE lead_ran) AS lead,
               count(*) FILTER (
                   WHERE needed AND (acknowledged_at IS NOT NULL OR second_at IS NOT NULL
                                     OR declared_at + %(escalate_target)s < %(now)s)
               ) AS escalate_of,
               count(*) FILTER (
                   WHERE needed AND (
                       acknowledged_at - declared_at <= %(escalate_target)s
                       OR second_at - declared_at <= %(escalate_target)s)
               ) AS escalate_met
        FROM paged
        """,  # noqa: S608 — constant SQL around the CTE; every value is a parameter
        {**params, "lead": EscalationStep.TargetKind.LEAD},
    )
    row = rows[0]
    report.paged = row["paged"]
    report.reached_secondary = Share(row["secondary"], row["paged"])
    report.reached_lead = Share(row["lead"], row["paged"])
    report.escalated_within_target = Share(row["escalate_met"], row["escalate_of"])

    # 4. SEV1 update cadence: the longest gap of each SEV1.
    rows = _fetch(
        f"""
        WITH {_incidents_cte()},
        sev1 AS (
            SELECT id, declared_at, LEAST(coalesce(resolved_at, %(now)s), %(now)s) AS until
            FROM inc WHERE level = 1
        ),
        points AS (
            SELECT id, declared_at AS at FROM sev1
            UNION ALL SELECT id, until FROM sev1
            UNION ALL
            SELECT e.incident_id, e.occurred_at FROM incidents_timelineevent e
            JOIN sev1 ON sev1.id = e.incident_id
            WHERE e.kind = %(comms)s AND e.deleted_at IS NULL
              AND e.occurred_at > sev1.declared_at AND e.occurred_at < sev1.until
            UNION ALL
            SELECT u.incident_id, u.posted_at FROM status_statusupdate u
            JOIN sev1 ON sev1.id = u.incident_id
            WHERE u.posted_at > sev1.declared_at AND u.posted_at < sev1.until
        ),
        gaps AS (
            SELECT id, at - lag(at) OVER (PARTITION BY id ORDER BY at) AS gap FROM points
        ),
        longest AS (SELECT id, max(gap) AS gap FROM gaps GROUP BY id)
        SELECT count(*) AS sev1, count(*) FILTER (WHERE gap <= %(update_target)s) AS kept
        FROM longest
        """,  # noqa: S608 — constant SQL around the CTE; every value is a parameter
        {**params, "comms": EventKind.COMMS},
    )
    report.sev1_updates_kept = Share(rows[0]["kept"], rows[0]["sev1"])

    # 5. Incidents per affected service (an incident with two services counts in both).
    rows = _fetch(
        f"""
        WITH {_incidents_cte()}
        SELECT service, count(*) AS incidents FROM (
            SELECT coalesce(s.name, %(none)s) AS service
            FROM inc
            LEFT JOIN LATERAL (
                SELECT DISTINCT value AS name
                FROM jsonb_array_elements_text(
                    CASE WHEN jsonb_typeof(inc.affected_services) = 'array'
                         THEN inc.affected_services ELSE '[]'::jsonb END
                )
            ) s ON true
        ) named
        GROUP BY service ORDER BY count(*) DESC, service
        """,  # noqa: S608 — constant SQL around the CTE; every value is a parameter
        {**params, "none": _NO_SERVICE},
    )
    report.by_service = [(r["service"], r["incidents"]) for r in rows]

    # 6. Action items due in the period.
    rows = _fetch(
        """
        SELECT count(*) FILTER (
                   WHERE a.status = %(done)s OR a.due_date < %(today)s
               ) AS due,
               count(*) FILTER (
                   WHERE a.status = %(done)s AND a.completed_at IS NOT NULL
                     AND (a.completed_at AT TIME ZONE %(tz)s)::date <= a.due_date
               ) AS on_time
        FROM postmortems_actionitem a
        JOIN incidents_incident i ON i.id = a.incident_id
        WHERE a.team_id = %(team)s AND NOT i.is_drill AND a.status <> %(wont_do)s
          AND a.due_date >= %(first_day)s AND a.due_date <= %(last_day)s
        """,
        {
            **params,
            "done": ActionItemStatus.DONE,
            "wont_do": ActionItemStatus.WONT_DO,
            "today": now.astimezone(period.tz).date(),
            "first_day": period.start,
            "last_day": period.end,
        },
    )
    report.action_items_on_time = Share(rows[0]["on_time"], rows[0]["due"])
    return report


# --- the same figures from the rows, for databases without PostgreSQL's aggregates ---------


def _seconds_after(start, at) -> float | None:
    return None if at is None else (at - start).total_seconds()


def _durations(values) -> Duration:
    measured = [v for v in values if v is not None]
    if not measured:
        return Duration()
    return Duration(
        measured=len(measured),
        mean=statistics.fmean(measured),
        median=float(statistics.median(measured)),
    )


def _group(incidents) -> GroupRow:
    return GroupRow(
        key="",
        label="",
        incidents=len(incidents),
        acknowledge=_durations(_seconds_after(i.declared_at, i.acknowledged_at) for i in incidents),
        mitigate=_durations(_seconds_after(i.declared_at, i.mitigated_at) for i in incidents),
        resolve=_durations(_seconds_after(i.declared_at, i.resolved_at) for i in incidents),
    )


def _service_names(affected) -> set[str]:
    if not isinstance(affected, list) or not affected:
        return {_NO_SERVICE}
    return {
        _NO_SERVICE if v is None else v if isinstance(v, str) else json.dumps(v) for v in affected
    }


def _longest_gap(incident, moments, now) -> dt.timedelta:
    until = min(incident.resolved_at or now, now)
    points = sorted(
        [incident.declared_at, until, *(m for m in moments if incident.declared_at < m < until)]
    )
    return max(b - a for a, b in itertools.pairwise(points))


def response_report_from_rows(*, team, period: Period, now=None) -> ResponseReport:
    """The figures of _response_report_sql, computed in Python from the period's rows (a
    fixed number of queries; the work grows with the incidents). The same definitions: the
    tests hold both to the same hand-computed values."""
    now = now or timezone.now()
    report = ResponseReport(team=team, period=period)
    in_period = periods.incidents_declared_in(team=team, period=period)
    incidents = list(
        in_period.select_related("severity").only(
            "declared_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "affected_services",
            "severity__level",
        )
    )
    ids = in_period.values("pk")  # a subquery, however many incidents

    # Counts and times: the whole period, per severity and per week.
    whole = _group(incidents)
    report.incidents = whole.incidents
    report.acknowledge, report.mitigate, report.resolve = (
        whole.acknowledge,
        whole.mitigate,
        whole.resolve,
    )
    report.acknowledged_within_target = Share(
        sum(
            1
            for i in incidents
            if i.acknowledged_at and i.acknowledged_at - i.declared_at <= ACKNOWLEDGE_TARGET
        ),
        sum(1 for i in incidents if i.acknowledged_at or i.declared_at + ACKNOWLEDGE_TARGET < now),
    )
    by_level, by_week = defaultdict(list), defaultdict(list)
    for i in incidents:
        by_level[i.severity.level].append(i)
        local = i.declared_at.astimezone(period.tz).date()
        by_week[local - dt.timedelta(days=local.weekday())].append(i)
    _fill_groups(
        report,
        {level: _group(rows) for level, rows in by_level.items()},
        {week: _group(rows) for week, rows in by_week.items()},
    )

    # Escalations: who the pages reached, and how soon.
    runs = defaultdict(list)
    for escalation_id, position, executed_at, target_kind in StepRun.objects.filter(
        escalation__team=team, escalation__incident_id__in=ids
    ).values_list("escalation_id", "position", "executed_at", "target_kind"):
        runs[escalation_id].append((position, executed_at, target_kind))
    by_id = {i.pk: i for i in incidents}
    escalate_of = escalate_met = secondary = lead = 0
    escalations = list(
        Escalation.objects.filter(incident_id__in=ids).values_list("pk", "incident_id")
    )
    for escalation_id, incident_id in escalations:
        i = by_id[incident_id]
        steps = runs.get(escalation_id, [])
        later = [at for position, at, _ in steps if position >= 1]
        second_at = min(later) if later else None
        secondary += second_at is not None
        lead += any(kind == EscalationStep.TargetKind.LEAD for _, _, kind in steps)
        ack = i.acknowledged_at
        if ack is None or ack - i.declared_at > ACKNOWLEDGE_TARGET:
            if ack or second_at or i.declared_at + ESCALATE_TARGET < now:
                escalate_of += 1
            if any(
                at is not None and at - i.declared_at <= ESCALATE_TARGET for at in (ack, second_at)
            ):
                escalate_met += 1
    report.paged = len(escalations)
    report.reached_secondary = Share(secondary, report.paged)
    report.reached_lead = Share(lead, report.paged)
    report.escalated_within_target = Share(escalate_met, escalate_of)

    # SEV1 update cadence: the longest gap of each SEV1.
    sev1 = [i for i in incidents if i.severity.level == 1]
    moments = defaultdict(list)
    sev1_ids = in_period.filter(severity__level=1).values("pk")
    for incident_id, at in TimelineEvent.objects.filter(
        incident_id__in=sev1_ids, kind=EventKind.COMMS, deleted_at__isnull=True
    ).values_list("incident_id", "occurred_at"):
        moments[incident_id].append(at)
    for incident_id, at in StatusUpdate.objects.filter(
        incident_id__in=sev1_ids, posted_at__isnull=False
    ).values_list("incident_id", "posted_at"):
        moments[incident_id].append(at)
    report.sev1_updates_kept = Share(
        sum(1 for i in sev1 if _longest_gap(i, moments[i.pk], now) <= SEV1_UPDATE_TARGET),
        len(sev1),
    )

    # Incidents per affected service (an incident with two services counts in both).
    services = Counter(name for i in incidents for name in _service_names(i.affected_services))
    report.by_service = sorted(services.items(), key=lambda item: (-item[1], item[0]))

    # Action items due in the period.
    today = now.astimezone(period.tz).date()
    due = on_time = 0
    for status, due_date, completed_at in (
        ActionItem.objects.filter(
            team=team,
            incident__is_drill=False,
            due_date__gte=period.start,
            due_date__lte=period.end,
        )
        .exclude(status=ActionItemStatus.WONT_DO)
        .values_list("status", "due_date", "completed_at")
    ):
        done = status == ActionItemStatus.DONE
        due += done or due_date < today
        on_time += bool(
            done and completed_at and completed_at.astimezone(period.tz).date() <= due_date
        )
    report.action_items_on_time = Share(on_time, due)
    return report


def cache_seconds() -> int:
    """How long a computed report is kept (settings.REPORTS_RESPONSE_CACHE_SECONDS, default
    300; 0 computes every request). A year of a busy team is 100,000 incidents: computing
    takes longer than a page should."""
    return int(getattr(settings, "REPORTS_RESPONSE_CACHE_SECONDS", 300))


def response_report_cached(*, team, period: Period) -> tuple[ResponseReport, dt.datetime]:
    """The report and when it was computed: from the shared cache when it was computed less
    than cache_seconds() ago for the same team, time zone and days."""
    seconds = cache_seconds()
    key = f"reports:response:v1:{team.pk}:{period.time_zone}:{period.start}:{period.end}"
    if seconds > 0:
        found = cache.get(key)
        if found is not None:
            report, computed_at = found
            report.team = team
            return report, computed_at
    now = timezone.now()
    report = response_report(team=team, period=period, now=now)
    if seconds > 0:
        cache.set(key, (report, now), seconds)
    return report, now


def _seconds(value):
    return None if value is None else round(value, 1)


def _share_json(share: Share) -> dict:
    return {"met": share.met, "of": share.of, "share": share.share}


def _group_json(group: GroupRow, key_name: str) -> dict:
    return {
        key_name: group.key,
        "incidents": group.incidents,
        "median_time_to_acknowledge_seconds": _seconds(group.acknowledge.median),
        "median_time_to_mitigate_seconds": _seconds(group.mitigate.median),
        "median_time_to_resolve_seconds": _seconds(group.resolve.median),
    }


def report_as_json(report: ResponseReport) -> dict:
    """The report as the API gives it: times in seconds (null when nothing to average),
    shares as fractions (null when nothing to count)."""
    return {
        "team": report.team.slug,
        "time_zone": report.period.time_zone,
        "start": report.period.start.isoformat(),
        "end": report.period.end.isoformat(),
        "incidents": report.incidents,
        "mean_time_to_acknowledge_seconds": _seconds(report.acknowledge.mean),
        "median_time_to_acknowledge_seconds": _seconds(report.acknowledge.median),
        "mean_time_to_mitigate_seconds": _seconds(report.mitigate.mean),
        "median_time_to_mitigate_seconds": _seconds(report.mitigate.median),
        "mean_time_to_resolve_seconds": _seconds(report.resolve.mean),
        "median_time_to_resolve_seconds": _seconds(report.resolve.median),
        "acknowledged": report.acknowledge.measured,
        "mitigated": report.mitigate.measured,
        "resolved": report.resolve.measured,
        "paged": report.paged,
        "acknowledged_within_5_minutes": _share_json(report.acknowledged_within_target),
        "escalated_within_15_minutes": _share_json(report.escalated_within_target),
        "sev1_updates_every_15_minutes": _share_json(report.sev1_updates_kept),
        "reached_secondary": _share_json(report.reached_secondary),
        "reached_lead": _share_json(report.reached_lead),
        "action_items_done_on_time": _share_json(report.action_items_on_time),
        "by_severity": [_group_json(g, "severity") for g in report.by_severity],
        "by_week": [_group_json(g, "week") for g in report.by_week],
        "by_service": [{"service": s, "incidents": n} for s, n in report.by_service],
    }
