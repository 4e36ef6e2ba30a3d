"""Reads for changes: an incident's recent changes (the likely suspect marked), the last
day's changes for the dashboard."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from changes.models import DRILL_KEY, ChangeEvent

WINDOW_BEFORE = timedelta(hours=2)
# The most an incident's panel and API list; a deploy storm beyond it is not a clue.
INCIDENT_CHANGES_LIMIT = 50


@dataclass
class IncidentChangeView:
    change: ChangeEvent
    suspect: bool
    # Minutes before the incident started (negative: after).
    minutes_before: int


def incident_changes_filter(incident) -> Q:
    services = [s for s in (incident.affected_services or []) if isinstance(s, str) and s]
    who = Q(team_id=incident.team_id)
    if services:
        who |= Q(service__name__in=services)
    when = Q(occurred_at__gte=incident.started_at - WINDOW_BEFORE)
    if incident.resolved_at:
        when &= Q(occurred_at__lte=incident.resolved_at)
    # A drill's staged deploy (details["drill"]) is a clue only in that drill's incident.
    real = ~Q(details__has_key=DRILL_KEY)
    if incident.is_drill:
        drill = getattr(incident, "drill", None)
        real |= Q(**{f"details__{DRILL_KEY}": drill.pk if drill else None})
    return who & when & real


def changes_for_incident(*, incident) -> list[IncidentChangeView]:
    """The changes of the incident's team and services from two hours before it started
    (and any after, until it was resolved), newest first; the closest one before the start is
    the likely suspect. One query."""
    changes = list(
        ChangeEvent.objects.filter(incident_changes_filter(incident))
        .select_related("service")
        .order_by("-occurred_at", "-pk")[:INCIDENT_CHANGES_LIMIT]
    )
    before = [c for c in changes if c.occurred_at <= incident.started_at]
    suspect = before[0].pk if before else None
    return [
        IncidentChangeView(
            change=c,
            suspect=c.pk == suspect,
            minutes_before=int((incident.started_at - c.occurred_at).total_seconds() // 60),
        )
        for c in changes
    ]


def suspect_change(*, incident) -> ChangeEvent | None:
    for view in changes_for_incident(incident=incident):
        if view.suspect:
            return view.change
    return None


def recent_changes(*, hours=24, limit=20) -> list[ChangeEvent]:
    """The last `hours` of changes, every team's (changes are not private), newest first;
    drills' staged deploys left out."""
    since = timezone.now() - timedelta(hours=hours)
    return list(
        ChangeEvent.objects.filter(occurred_at__gte=since)
        .exclude(details__has_key=DRILL_KEY)
        .select_related("service", "team")
        .order_by("-occurred_at", "-pk")[:limit]
    )
