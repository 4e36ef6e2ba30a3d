"""A report's period: whole days in the team's time zone, the end day included, at most two
years. Read from a request's start and end (YYYY-MM-DD), either or both left out."""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from common.inputs import InputError, parse_date
from incidents.models import Incident

MAX_DAYS = 731  # two years, a leap day included


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date  # inclusive
    time_zone: str

    @property
    def tz(self):
        return ZoneInfo(self.time_zone)

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time(0), self.tz)

    @property
    def end_before(self) -> dt.datetime:
        """The first instant after the period (midnight after the end day)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(0), self.tz)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def period_parse(*, team, start=None, end=None, today=None, default_days: int, what: str) -> Period:
    """The period a request asks for, in the team's time zone; InputError with the reason.
    Neither given: the last `default_days` days, today included; one given: that many days
    from or to it. `what` names the report in the refusal of a period over two years."""
    tz = ZoneInfo(team.time_zone)
    today = today or timezone.now().astimezone(tz).date()
    start_day = parse_date(start, "start")
    end_day = parse_date(end, "end")
    if start_day is None and end_day is None:
        end_day = today
    if end_day is None:
        end_day = start_day + dt.timedelta(days=default_days - 1)
    if start_day is None:
        start_day = end_day - dt.timedelta(days=default_days - 1)
    if end_day < start_day:
        raise InputError(f"end ({end_day}) is before start ({start_day}).")
    days = (end_day - start_day).days + 1
    if days > MAX_DAYS:
        raise InputError(
            f"The period is {days} days long; {what} covers at most two years ({MAX_DAYS} days)."
        )
    return Period(start=start_day, end=end_day, time_zone=team.time_zone)


def incidents_declared_in(*, team, period: Period):
    """The team's incidents (drills never) declared on one of the period's days."""
    return Incident.objects.filter(
        team=team,
        is_drill=False,
        declared_at__gte=period.start_at,
        declared_at__lt=period.end_before,
    )


def aggregates_in_sql() -> bool:
    """PostgreSQL aggregates the reports' figures itself; on another database (SQLite under
    `make run`) they are computed in Python from the rows."""
    return connection.vendor == "postgresql"
