"""On-call health: how often each person of a team was interrupted, when, for how long they
were on call and how many incidents they handled, over a period.

The definitions follow PagerDuty's published ones, so the figures compare with theirs:

- An interruption is a page (one person notified at one escalation step) that reached the
  person by push, SMS or phone call. Vigil's push channel is its in-app bell; email, Slack
  and webhooks do not interrupt. A page sent by several of those channels at once (bell, SMS
  and a call) is one interruption, at the time the first of them was delivered; a channel
  whose delivery failed or was cancelled did not reach the person.
- Its time of day is read in the person's own time zone: business hours are 08:00–18:00
  Monday to Friday, off hours 18:00–22:00 Monday to Friday and 08:00–22:00 on Saturday and
  Sunday, sleep hours 22:00–08:00 on any day.
- Hours on call are the schedule's fairness figures (oncall.selectors.fairness_report),
  summed over the team's schedules.
- Incidents handled are the team's incidents declared in the period that the person
  acknowledged (their page, or the escalation) or commanded.
- Someone is flagged when their interruptions, or their sleep-hour interruptions, are above
  `factor` times the team's median (a median under 1 counts as 1, so that one page in a quiet
  team flags nobody).

Drills are never counted. The period is days in the team's time zone, the end included. The
figures take a fixed number of queries whatever the number of pages: the interruptions
(aggregated by PostgreSQL, or each page's first delivery on another database such as SQLite
under `make run`), the incidents handled, the members, and the schedules' own queries.
"""

import datetime as dt
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Min

from common.inputs import InputError, check_text
from common.timezones import zone_or_utc
from incidents.models import Incident
from oncall.models import Schedule
from oncall.selectors import MAX_WINDOW, fairness_report
from paging.models import Channel, DeliveryState, Escalation, Notification, Page
from reports import periods
from reports.periods import Period
from teams.models import Membership

DEFAULT_DAYS = 30
DEFAULT_FACTOR = 2.0
MAX_FACTOR = 100.0

# Vigil's interrupting channels: its in-app bell (push), SMS and phone calls.
INTERRUPTING_CHANNELS = (Channel.IN_APP, Channel.SMS, Channel.VOICE)

BUSINESS = "business"
OFF = "off"
SLEEP = "sleep"

DEFINITIONS = [
    (
        "Interruption",
        "A page (one person notified at one escalation step) that reached the person by push, "
        "SMS or phone call. Vigil's push channel is its in-app bell. A page sent by several of "
        "these at once counts once, at the time the first of them was delivered; deliveries "
        "that failed do not count. Email, Slack and webhooks do not interrupt and are never "
        "counted. Messages that an incident was acknowledged or resolved are not pages.",
    ),
    (
        "Business hours",
        "08:00–18:00, Monday to Friday, in the person's own time zone (their profile's).",
    ),
    (
        "Off hours",
        "18:00–22:00 Monday to Friday, and 08:00–22:00 on Saturday and Sunday, in the "
        "person's own time zone.",
    ),
    ("Sleep hours", "22:00–08:00 on any day, in the person's own time zone."),
    (
        "Hours on call",
        "The hours the team's schedules put the person on call in the period, overrides "
        "included, as in each schedule's fairness report.",
    ),
    (
        "Incidents handled",
        "The team's incidents declared in the period that the person acknowledged (their page "
        "or the escalation) or commanded; each incident counts once per person.",
    ),
    (
        "Flag",
        "Interruptions, or sleep-hour interruptions, above the chosen factor times the team's "
        "median over all its members (a median under 1 counts as 1).",
    ),
    ("Drills", "Never counted."),
    (
        "Period",
        "Days in the team's time zone, the end day included; at most two years.",
    ),
]


def health_period(*, team, start=None, end=None, today=None) -> Period:
    """The period of on-call health: the last 30 days unless asked (reports.periods)."""
    return periods.period_parse(
        team=team,
        start=start,
        end=end,
        today=today,
        default_days=DEFAULT_DAYS,
        what="on-call health",
    )


def parse_factor(value) -> float:
    """The flag's factor: a number from 1 to 100 (e.g. 2 or 1.5); InputError otherwise."""
    if value is None:
        return DEFAULT_FACTOR
    text = check_text(str(value), "factor").strip()
    if not text:
        return DEFAULT_FACTOR
    try:
        factor = float(text) if len(text) <= 12 else math.nan
    except ValueError:
        factor = math.nan
    if not math.isfinite(factor) or not 1 <= factor <= MAX_FACTOR:
        raise InputError(f"factor must be a number from 1 to {MAX_FACTOR:g}: {text[:40]!r}.")
    return factor


@dataclass
class PersonHealth:
    user: object
    role: str
    business: int = 0
    off: int = 0
    sleep: int = 0
    hours_on_call: float = 0.0
    incidents_handled: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def interruptions(self) -> int:
        return self.business + self.off + self.sleep

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


@dataclass
class TeamHealth:
    team: object
    period: Period
    factor: float
    people: list[PersonHealth]
    median_interruptions: float
    median_sleep: float
    median_hours_on_call: float

    @property
    def interruptions(self) -> int:
        return sum(p.interruptions for p in self.people)

    @property
    def sleep(self) -> int:
        return sum(p.sleep for p in self.people)

    @property
    def flagged(self) -> list[PersonHealth]:
        return [p for p in self.people if p.flagged]

    def threshold(self, median: float) -> float:
        return self.factor * max(median, 1.0)


def _interruptions_sql() -> str:
    page, note = Page._meta.db_table, Notification._meta.db_table
    esc, inc = Escalation._meta.db_table, Incident._meta.db_table
    user = Page._meta.get_field("user").related_model._meta.db_table
    return f"""
        WITH firsts AS (
            SELECT p.user_id, MIN(n.sent_at) AS at
            FROM {page} p
            JOIN {esc} e ON e.id = p.escalation_id
            JOIN {inc} i ON i.id = p.incident_id
            JOIN {note} n ON n.page_id = p.id
            WHERE e.team_id = %(team)s AND NOT i.is_drill AND p.user_id = ANY(%(users)s)
              AND n.channel = ANY(%(channels)s) AND n.state = %(sent)s
              AND n.purpose = 'page' AND n.sent_at IS NOT NULL
              AND p.created_at >= %(start_early)s AND p.created_at < %(end)s
            GROUP BY p.id, p.user_id
            HAVING MIN(n.sent_at) >= %(start)s AND MIN(n.sent_at) < %(end)s
        ), local AS (
            SELECT f.user_id,
                   EXTRACT(HOUR FROM f.at AT TIME ZONE u.time_zone) AS h,
                   EXTRACT(ISODOW FROM f.at AT TIME ZONE u.time_zone) AS dow
            FROM firsts f JOIN {user} u ON u.id = f.user_id
        )
        SELECT user_id,
               COUNT(*) FILTER (WHERE h >= 8 AND h < 18 AND dow <= 5) AS business,
               COUNT(*) FILTER (WHERE h >= 8 AND h < 22 AND NOT (h < 18 AND dow <= 5)) AS off,
               COUNT(*) FILTER (WHERE h >= 22 OR h < 8) AS sleep
        FROM local GROUP BY user_id
    """  # noqa: S608 — table names come from the models; every value is a parameter


def _interruptions_from_rows(*, team, ids, params) -> dict[int, tuple[int, int, int]]:
    """_interruptions_sql's figures computed in Python from each page's first delivery, for
    databases without PostgreSQL's time zones (SQLite under `make run`)."""
    firsts = (
        Notification.objects.filter(
            page__escalation__team=team,
            page__incident__is_drill=False,
            page__user_id__in=ids,
            channel__in=params["channels"],
            state=params["sent"],
            purpose="page",
            sent_at__isnull=False,
            page__created_at__gte=params["start_early"],
            page__created_at__lt=params["end"],
        )
        .values("page_id", "page__user_id", "page__user__time_zone")
        .annotate(at=Min("sent_at"))
        .filter(at__gte=params["start"], at__lt=params["end"])
    )
    counts: dict[int, list[int]] = {}
    for row in firsts:
        local = row["at"].astimezone(zone_or_utc(row["page__user__time_zone"]))
        h, weekday = local.hour, local.isoweekday() <= 5
        bucket = 2 if h >= 22 or h < 8 else 0 if h < 18 and weekday else 1
        counts.setdefault(row["page__user_id"], [0, 0, 0])[bucket] += 1
    return {user_id: tuple(c) for user_id, c in counts.items()}


def _handled(*, team, ids, period) -> Counter:
    """{user id: incidents handled}: the team's incidents declared in the period that the
    person acknowledged (their page or the escalation) or commanded, each once. One query."""
    in_period = periods.incidents_declared_in(team=team, period=period)
    pages = Page.objects.filter(
        acknowledged_at__isnull=False, incident__in=in_period, user_id__in=ids
    ).values_list("user_id", "incident_id")
    escalations = Escalation.objects.filter(
        acknowledged_by_id__in=ids, incident__in=in_period
    ).values_list("acknowledged_by_id", "incident_id")
    commanded = in_period.filter(commander_id__in=ids).values_list("commander_id", "pk")
    # Without their models' default ordering: SQLite refuses ORDER BY inside a UNION.
    parts = [q.order_by() for q in (pages, escalations, commanded)]
    return Counter(user_id for user_id, _ in parts[0].union(*parts[1:]))


def _windows(start: dt.datetime, end: dt.datetime):
    """[start, end) in pieces the fairness report accepts (at most MAX_WINDOW each)."""
    while start < end:
        piece = min(end, start + MAX_WINDOW)
        yield start, piece
        start = piece


def hours_on_call(*, team, start: dt.datetime, end: dt.datetime) -> dict[int, float]:
    """{user id: hours on call} over [start, end) in the team's schedules, from each
    schedule's fairness report."""
    hours: dict[int, float] = {}
    for schedule in Schedule.objects.filter(team=team).order_by("pk"):
        for lo, hi in _windows(start, end):
            for row in fairness_report(schedule=schedule, start=lo, end=hi):
                hours[row.user.pk] = hours.get(row.user.pk, 0.0) + row.total
    return hours


def _median(values) -> float:
    return float(statistics.median(values)) if values else 0.0


def team_health(*, team, period: Period, factor: float = DEFAULT_FACTOR) -> TeamHealth:
    """Every member's on-call health over the period, with the team's medians and flags."""
    memberships = list(
        Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    )
    people = {m.user_id: PersonHealth(user=m.user, role=m.role) for m in memberships}
    ids = list(people)
    start, end = period.start_at, period.end_before
    params = {
        "team": team.pk,
        "users": ids,
        "channels": [str(c) for c in INTERRUPTING_CHANNELS],
        "sent": str(DeliveryState.SENT),
        "start": start,
        "end": end,
        # The page's first delivery decides; the page was made shortly before it.
        "start_early": start - dt.timedelta(days=1),
    }
    if ids:
        if periods.aggregates_in_sql():
            with connection.cursor() as cursor:
                cursor.execute(_interruptions_sql(), params)
                interruptions = {row[0]: row[1:] for row in cursor.fetchall()}
        else:
            interruptions = _interruptions_from_rows(team=team, ids=ids, params=params)
        for user_id, (business, off, sleep) in interruptions.items():
            person = people[user_id]
            person.business, person.off, person.sleep = business, off, sleep
        for user_id, handled in _handled(team=team, ids=ids, period=period).items():
            people[user_id].incidents_handled = handled
        for user_id, hours in hours_on_call(team=team, start=start, end=end).items():
            if user_id in people:
                people[user_id].hours_on_call = round(hours, 2)

    rows = list(people.values())
    report = TeamHealth(
        team=team,
        period=period,
        factor=factor,
        people=rows,
        median_interruptions=_median([p.interruptions for p in rows]),
        median_sleep=_median([p.sleep for p in rows]),
        median_hours_on_call=_median([p.hours_on_call for p in rows]),
    )
    for person in rows:
        if person.interruptions > report.threshold(report.median_interruptions):
            person.flags.append("interruptions")
        if person.sleep > report.threshold(report.median_sleep):
            person.flags.append("sleep-hour interruptions")
    rows.sort(key=lambda p: (-p.interruptions, -p.sleep, p.user.get_username()))
    return report
