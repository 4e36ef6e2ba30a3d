"""Incidents over the JSON API: list, read, declare, post a timeline note, change status.

Same rules as the pages (teams.access): a private incident is a 404 to outsiders, writes need
the responder role in the incident's team. Every timestamp is ISO-8601 in UTC.
"""

import datetime as dt
from decimal import Decimal
from typing import Literal

import structlog
from django.core.exceptions import PermissionDenied
from ninja import Field, Query, Router, Schema
from ninja import Status as Reply

from common.api_schemas import ErrorOut
from common.inputs import Text
from incidents.models import Incident, Severity, Status
from incidents.selectors import text_match
from incidents.services import (
    MAX_NOTE_LENGTH,
    IncidentError,
    incident_change_status,
    incident_declare,
    timeline_note_add,
)
from teams.access import CHANGE, get_object_for_user, has_team_role, visible_filter
from teams.models import Role, Team

log = structlog.get_logger(__name__)
router = Router(tags=["incidents"])

StatusName = Literal["triggered", "acknowledged", "mitigated", "resolved"]
MAX_SEQ = 2**62  # beyond any real sequence number, within PostgreSQL's bigint


class IncidentPersonOut(Schema):
    username: str
    name: str


class SeverityOut(Schema):
    name: str = Field(examples=["SEV2"])
    level: int
    title: str


class TeamOut(Schema):
    slug: str
    name: str


class RolesOut(Schema):
    commander: IncidentPersonOut | None
    comms_lead: IncidentPersonOut | None
    scribe: IncidentPersonOut | None
    responders: list[IncidentPersonOut]


class ImpactOut(Schema):
    users_affected: int | None
    failed_requests: int | None
    revenue_impact: Decimal | None
    sla_breach: bool


class IncidentOut(Schema):
    id: int
    url: str
    title: str
    summary: str
    severity: SeverityOut
    team: TeamOut
    status: StatusName
    is_private: bool
    started_at: dt.datetime
    declared_at: dt.datetime
    acknowledged_at: dt.datetime | None
    mitigated_at: dt.datetime | None
    resolved_at: dt.datetime | None
    declared_by: IncidentPersonOut | None
    roles: RolesOut
    impact: ImpactOut
    affected_services: list[str]
    status_page_url: str


class IncidentPageOut(Schema):
    count: int
    page: int
    page_size: int
    pages: int
    results: list[IncidentOut]


class IncidentFilters(Schema):
    status: StatusName | None = Field(None, description="Only incidents in this status.")
    severity: Text | None = Field(None, max_length=50, description="SEV1, SEV2, SEV3 or SEV4.")
    team: Text | None = Field(None, max_length=100, description="A team's slug.")
    q: Text | None = Field(None, max_length=200, description="Text in the title or summary.")
    page: int = Field(1, ge=1, le=100_000)
    page_size: int = Field(25, ge=1, le=100)


class IncidentDeclareIn(Schema):
    title: Text = Field(min_length=1, max_length=200)
    severity: Text = Field(
        max_length=50, examples=["SEV2"], description="SEV1, SEV2, SEV3 or SEV4."
    )
    team: Text = Field(max_length=100, description="The slug of the team that owns the incident.")
    summary: Text = Field("", max_length=MAX_NOTE_LENGTH)
    is_private: bool = False


class TimelineNoteIn(Schema):
    body: Text = Field(description=f"Markdown, at most {MAX_NOTE_LENGTH:,} characters.")
    occurred_at: dt.datetime | None = Field(
        None, description="When it happened, for backfill; not in the future. Default: now."
    )


class TimelineEventOut(Schema):
    id: int
    kind: str
    body: str
    body_html: str
    occurred_at: dt.datetime
    created_at: dt.datetime
    author: IncidentPersonOut | None
    pinned: bool
    edited_at: dt.datetime | None
    seq: int


class StatusChangeIn(Schema):
    status: Literal["acknowledged", "mitigated", "resolved"]


def _utc(value):
    return value.astimezone(dt.UTC) if value is not None else None


def _person(user):
    if user is None:
        return None
    return {"username": user.username, "name": user.display_name}


def _incident_out(request, incident) -> dict:
    return {
        "id": incident.pk,
        "url": request.build_absolute_uri(incident.get_absolute_url()),
        "title": incident.title,
        "summary": incident.summary,
        "severity": {
            "name": incident.severity.name,
            "level": incident.severity.level,
            "title": incident.severity.title,
        },
        "team": {"slug": incident.team.slug, "name": incident.team.name},
        "status": incident.status,
        "is_private": incident.is_private,
        "started_at": _utc(incident.started_at),
        "declared_at": _utc(incident.declared_at),
        "acknowledged_at": _utc(incident.acknowledged_at),
        "mitigated_at": _utc(incident.mitigated_at),
        "resolved_at": _utc(incident.resolved_at),
        "declared_by": _person(incident.declared_by),
        "roles": {
            "commander": _person(incident.commander),
            "comms_lead": _person(incident.comms_lead),
            "scribe": _person(incident.scribe),
            "responders": [_person(u) for u in incident.responders.all()],
        },
        "impact": {
            "users_affected": incident.users_affected,
            "failed_requests": incident.failed_requests,
            "revenue_impact": incident.revenue_impact,
            "sla_breach": incident.sla_breach,
        },
        "affected_services": [str(s) for s in incident.affected_services or []],
        "status_page_url": incident.status_page_url,
    }


def _event_out(event) -> dict:
    return {
        "id": event.pk,
        "kind": event.kind,
        "body": event.body,
        "body_html": event.body_html,
        "occurred_at": _utc(event.occurred_at),
        "created_at": _utc(event.created_at),
        "author": _person(event.author),
        "pinned": event.pinned,
        "edited_at": _utc(event.edited_at),
        "seq": event.seq,
    }


def _incidents():
    return Incident.objects.select_related(
        "severity", "team", "declared_by", "commander", "comms_lead", "scribe"
    ).prefetch_related("responders")


def _severity_named(name: str):
    severity = Severity.objects.filter(name__iexact=(name or "").strip()).first()
    if severity is None:
        names = ", ".join(Severity.objects.values_list("name", flat=True))
        raise IncidentError(f"Unknown severity {name!r}: use one of {names}.")
    return severity


def _team_with_slug(slug: str):
    team = Team.objects.filter(slug=(slug or "").strip()).first()
    if team is None:
        raise IncidentError(f"Unknown team {slug!r}: give a team's slug.")
    return team


OPEN_STATUSES = [Status.TRIGGERED, Status.ACKNOWLEDGED, Status.MITIGATED]


def _open_first_page(queryset, *, start, size):
    """(count, rows) of one page: open incidents first, then resolved ones, newest first in
    each. Each part is read in the order of the (status, declared_at) index, so no query
    sorts every incident."""
    newest = ("-declared_at", "-id")
    open_part = queryset.filter(status__in=OPEN_STATUSES).order_by(*newest)
    closed_part = queryset.filter(status=Status.RESOLVED).order_by(*newest)
    open_count, closed_count = open_part.count(), closed_part.count()
    rows = list(open_part[start : start + size]) if start < open_count else []
    offset = max(start - open_count, 0)
    if len(rows) < size and offset < closed_count:
        rows += list(closed_part[offset : offset + size - len(rows)])
    return open_count + closed_count, rows


@router.get(
    "/",
    response={200: IncidentPageOut, 400: ErrorOut},
    summary="List incidents",
    operation_id="incident_list",
)
def incident_list(request, filters: Query[IncidentFilters]):
    """Incidents you may see, open ones first, newest first; filter and page through them."""
    queryset = _incidents().filter(visible_filter(request.user))
    try:
        if filters.status:
            queryset = queryset.filter(status=filters.status)
        if filters.severity:
            queryset = queryset.filter(severity=_severity_named(filters.severity))
        if filters.team:
            queryset = queryset.filter(team=_team_with_slug(filters.team))
    except IncidentError as exc:
        return Reply(400, {"detail": str(exc)})
    if filters.q and filters.q.strip():
        text = filters.q.strip()
        queryset = queryset.filter(text_match(text))
    start = (filters.page - 1) * filters.page_size
    count, page = _open_first_page(queryset, start=start, size=filters.page_size)
    return Reply(
        200,
        {
            "count": count,
            "page": filters.page,
            "page_size": filters.page_size,
            "pages": max(1, -(-count // filters.page_size)),
            "results": [_incident_out(request, incident) for incident in page],
        },
    )


@router.post(
    "/",
    response={201: IncidentOut, 400: ErrorOut, 403: ErrorOut},
    summary="Declare an incident",
    operation_id="incident_declare",
)
def incident_create(request, payload: IncidentDeclareIn):
    """Declare an incident for a team in which you are at least a responder."""
    try:
        severity = _severity_named(payload.severity)
        team = _team_with_slug(payload.team)
    except IncidentError as exc:
        return Reply(400, {"detail": str(exc)})
    if not has_team_role(request.user, team.pk, Role.RESPONDER):
        raise PermissionDenied(f"Your role in {team} does not allow declaring incidents.")
    try:
        incident = incident_declare(
            title=payload.title,
            severity=severity,
            team=team,
            by=request.user,
            summary=payload.summary,
            is_private=payload.is_private,
            page=severity.pages,
        )
    except IncidentError as exc:
        return Reply(400, {"detail": str(exc)})
    log.info("api_incident_declared", incident_id=incident.pk, user_id=request.user.pk)
    return Reply(201, _incident_out(request, _incidents().get(pk=incident.pk)))


@router.get(
    "/{int:incident_id}",
    response={200: IncidentOut, 404: ErrorOut},
    summary="Read an incident",
    operation_id="incident_read",
)
def incident_read(request, incident_id: int):
    """One incident with its roles, impact and the timestamp of each status."""
    incident = get_object_for_user(request.user, _incidents(), pk=incident_id)
    return Reply(200, _incident_out(request, incident))


@router.get(
    "/{int:incident_id}/events",
    response={200: list[TimelineEventOut], 404: ErrorOut},
    summary="List an incident's timeline",
    operation_id="incident_timeline",
)
def incident_timeline(request, incident_id: int, after_seq: int = 0, limit: int = 200):
    """The incident's timeline in time order; after_seq returns only events changed since."""
    incident = get_object_for_user(request.user, Incident.objects.all(), pk=incident_id)
    limit = min(max(limit, 1), 1000)
    after_seq = min(max(after_seq, 0), MAX_SEQ)
    events = (
        incident.events.filter(deleted_at__isnull=True, seq__gt=after_seq)
        .select_related("author")
        .order_by("occurred_at", "id")[:limit]
    )
    return Reply(200, [_event_out(event) for event in events])


@router.post(
    "/{int:incident_id}/events",
    response={201: TimelineEventOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Post a note to the timeline",
    operation_id="incident_timeline_add",
)
def incident_timeline_add(request, incident_id: int, payload: TimelineNoteIn):
    """Add a Markdown note, optionally backdated with occurred_at (never in the future)."""
    incident = get_object_for_user(
        request.user, Incident.objects.all(), action=CHANGE, pk=incident_id
    )
    occurred_at = payload.occurred_at
    if occurred_at is not None and occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=dt.UTC)  # a time without zone is UTC
    try:
        event = timeline_note_add(
            incident=incident, body=payload.body, author=request.user, occurred_at=occurred_at
        )
    except IncidentError as exc:
        return Reply(400, {"detail": str(exc)})
    return Reply(201, _event_out(event))


@router.post(
    "/{int:incident_id}/status",
    response={200: IncidentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Acknowledge, mitigate or resolve an incident",
    operation_id="incident_change_status",
)
def incident_status(request, incident_id: int, payload: StatusChangeIn):
    """Move the incident forward; a change the lifecycle refuses is a 409 with the reason."""
    incident = get_object_for_user(
        request.user, Incident.objects.all(), action=CHANGE, pk=incident_id
    )
    try:
        incident_change_status(incident=incident, status=payload.status, by=request.user)
    except IncidentError as exc:
        return Reply(409, {"detail": str(exc)})
    return Reply(200, _incident_out(request, _incidents().get(pk=incident.pk)))
