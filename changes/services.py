"""Writes for changes: recording a change event (from any source), putting it on the timeline
of each incident whose window it falls in, and the services it names."""

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from changes.models import ChangeEvent, ChangeKind, ChangeSource, IncidentChange, Service
from changes.selectors import WINDOW_BEFORE, changes_for_incident
from common.inputs import InputError, check_text
from common.links import http_url
from common.text import one_line
from incidents.models import EventKind, Incident
from incidents.services import CLOCK_SLACK, time_out_of_range, timeline_events_add

logger = structlog.get_logger(__name__)

LIMITS = {
    "summary": 500,
    "version": 200,
    "previous_version": 200,
    "author": 200,
    "environment": 64,
    "external_id": 200,
    "url": 2000,
}
SERVICE_NAME_MAX = 100


class ChangeError(InputError):
    """A change Vigil refuses; the message says why (answered with a 400)."""


def _clean(value, field: str, *, required=False) -> str:
    text = one_line(value if isinstance(value, str) else ("" if value is None else str(value)))
    check_text(text, field)
    if required and not text:
        raise ChangeError(f"A change needs a {field}.")
    if len(text) > LIMITS.get(field, SERVICE_NAME_MAX):
        raise ChangeError(
            f"The {field} is limited to {LIMITS.get(field, SERVICE_NAME_MAX)} characters."
        )
    return text


def service_named(*, team, name) -> Service:
    """The team's service of that name, made on first sight."""
    name = one_line(name or "")
    check_text(name, "service")
    if not name:
        raise ChangeError("A change needs a service.")
    if len(name) > SERVICE_NAME_MAX:
        raise ChangeError(f"A service name is limited to {SERVICE_NAME_MAX} characters.")
    found = Service.objects.filter(team=team, name=name).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Service.objects.create(team=team, name=name)
    except IntegrityError:  # made by a change recorded at the same moment
        return Service.objects.get(team=team, name=name)


def change_record(
    *,
    team,
    service: str,
    summary: str,
    source: str,
    kind: str = ChangeKind.DEPLOY,
    environment: str = "",
    version: str = "",
    previous_version: str = "",
    author: str = "",
    occurred_at=None,
    url: str = "",
    external_id: str = "",
    integration=None,
    by=None,
    details=None,
) -> tuple[ChangeEvent, bool]:
    """Store one change; (the change, True) when new, (the stored one, False) when the sender
    already sent it (same external_id). Nothing is stored when anything is refused."""
    if kind not in ChangeKind.values:
        raise ChangeError(f"The kind must be one of {', '.join(ChangeKind.values)}.")
    if source not in ChangeSource.values:
        raise ChangeError(f"Unknown source {source!r}.")
    fields = {
        "summary": _clean(summary, "summary", required=True),
        "environment": _clean(environment, "environment"),
        "version": _clean(version, "version"),
        "previous_version": _clean(previous_version, "previous_version"),
        "author": _clean(author, "author"),
        "external_id": _clean(external_id, "external_id"),
    }
    url = (url or "").strip()
    check_text(url, "url")
    if url and not http_url(url):
        raise ChangeError("The link must be an http:// or https:// URL.")
    if len(url) > LIMITS["url"]:
        raise ChangeError(f"The link is limited to {LIMITS['url']} characters.")
    occurred_at = occurred_at or timezone.now()
    if timezone.is_naive(occurred_at):
        raise ChangeError("The change's time needs a time zone (e.g. 2026-12-02T03:10:00Z).")
    if wrong := time_out_of_range(occurred_at, slack=CLOCK_SLACK):
        raise ChangeError(f"A change cannot be dated {wrong}.")
    with transaction.atomic():
        if fields["external_id"]:
            existing = ChangeEvent.objects.filter(
                team=team, source=source, external_id=fields["external_id"]
            ).first()
            if existing is not None:
                return existing, False
        row = service_named(team=team, name=service)
        try:
            with transaction.atomic():
                change = ChangeEvent.objects.create(
                    team=team,
                    service=row,
                    kind=kind,
                    source=source,
                    occurred_at=occurred_at,
                    url=url,
                    integration=integration,
                    recorded_by=by,
                    details=details or {},
                    **fields,
                )
        except IntegrityError:  # the same change, sent twice at once: the other one stored it
            return ChangeEvent.objects.get(
                team=team, source=source, external_id=fields["external_id"]
            ), False
        for incident in incidents_touched_by(change):
            _put_on_timeline(incident=incident, changes=[change])
    logger.info(
        "change_recorded",
        change_id=change.pk,
        team=team.slug,
        service=row.name,
        kind=kind,
        source=source,
    )
    return change, True


def incidents_touched_by(change) -> list[Incident]:
    """The incidents whose window holds the change: of its team or naming its service, started
    at most two hours after it, and not resolved before it."""
    candidates = (
        Incident.objects.filter(started_at__lte=change.occurred_at + WINDOW_BEFORE)
        .exclude(resolved_at__lt=change.occurred_at)
        .only("id", "team_id", "affected_services", "started_at", "timeline_seq")
    )
    name = change.service.name
    return [
        incident
        for incident in candidates
        if incident.team_id == change.team_id or name in (incident.affected_services or [])
    ]


def change_line(change) -> str:
    """How a change reads on a timeline: "Deploy of checkout v1.6.0 to production by alex
    (GitHub deployment)"."""
    what = change.get_kind_display()
    target = change.service.name + (f" {change.version}" if change.version else "")
    where = f" to {change.environment}" if change.environment else ""
    who = f" by {change.author}" if change.author else ""
    return f"{what} of {target}{where}{who} ({change.get_source_display()}): {change.summary}"


def _put_on_timeline(*, incident, changes) -> None:
    """An automatic event per change, once per incident however often this runs."""
    IncidentChange.objects.bulk_create(
        [IncidentChange(incident_id=incident.pk, change=c) for c in changes],
        ignore_conflicts=True,
    )
    # Locked: of two writers linking the same change at once, the second waits and then
    # finds it on the timeline already.
    linked = set(
        IncidentChange.objects.select_for_update()
        .filter(incident_id=incident.pk, change__in=changes, event__isnull=True)
        .values_list("change_id", flat=True)
    )
    fresh = [c for c in changes if c.pk in linked]
    if not fresh:
        return
    events = timeline_events_add(
        incident=incident,
        events=[
            {
                "kind": EventKind.CHANGE,
                "body": change_line(change),
                "occurred_at": min(change.occurred_at, timezone.now()),
                "data": {
                    "change": change.pk,
                    "service": change.service.name,
                    "kind": change.kind,
                    "version": change.version,
                    "source": change.source,
                },
            }
            for change in fresh
        ],
    )
    for change, event in zip(fresh, events, strict=True):
        IncidentChange.objects.filter(
            incident_id=incident.pk, change=change, event__isnull=True
        ).update(event=event)


def changes_put_on_new_incident(*, incident) -> None:
    """When an incident is declared: the changes already in its window go on its timeline."""
    changes = [view.change for view in changes_for_incident(incident=incident)]
    if changes:
        _put_on_timeline(incident=incident, changes=changes)
