"""Change events over the JSON API: record a deploy, config or flag change, and list an
incident's recent changes with the likely suspect marked.

Recording needs the responder role in the change's team; an incident's changes are seen by
whoever may see the incident (a private incident is a 404 to outsiders). Times are ISO 8601
in UTC.
"""

import datetime as dt
from typing import Literal

import structlog
from django.core.exceptions import PermissionDenied
from ninja import Field, Router, Schema
from ninja import Status as Reply

from changes import payloads
from changes.models import ChangeKind, ChangeSource
from changes.selectors import changes_for_incident
from changes.services import change_record
from common.api_schemas import ErrorOut
from common.inputs import InputError, Text
from incidents.models import Incident
from teams.access import CHANGE, can, get_object_for_user
from teams.models import Team

log = structlog.get_logger(__name__)
router = Router(tags=["changes"])

KindName = Literal[tuple(ChangeKind.values)]  # type: ignore[valid-type]


class ChangeIn(Schema):
    team: Text = Field(description="The slug of the team whose change it is.")
    service: Text = Field(examples=["checkout"], description="Made on its first change.")
    summary: Text = Field(examples=["Deploy v1.6.0"], description="At most 500 characters.")
    kind: KindName = ChangeKind.DEPLOY
    environment: Text = Field("", examples=["production"])
    version: Text = Field("", examples=["v1.6.0"], description="What the change put in place.")
    previous_version: Text = Field("", examples=["v1.5.2"], description="What it replaced.")
    author: Text | None = Field(None, description="Who made it. Default: your username.")
    occurred_at: Text | None = Field(
        None,
        examples=["2026-12-02T03:10:00Z"],
        description="When it happened, ISO 8601 with a time zone; not in the future. Default: now.",
    )
    url: Text = Field("", description="An http(s) link to the deploy, the pull request, …")
    external_id: Text = Field(
        "",
        max_length=200,
        description="Your key for the change: sending it again stores nothing new (200).",
    )


class ChangeOut(Schema):
    id: int
    team: str = Field(description="The team's slug.")
    service: str
    environment: str
    kind: str = Field(examples=["deploy"])
    summary: str
    version: str
    previous_version: str
    author: str
    time: dt.datetime = Field(description="When the change happened.")
    url: str
    source: str = Field(examples=["api", "github", "pagerduty", "cli", "flags"])
    recorded_at: dt.datetime


class IncidentChangeOut(ChangeOut):
    suspect: bool = Field(description="The closest change before the incident started.")
    minutes_before: int = Field(description="Minutes before the start (negative: after).")


@router.post(
    "/changes",
    response={200: ChangeOut, 201: ChangeOut, 400: ErrorOut, 403: ErrorOut, 404: ErrorOut},
    summary="Record a change",
    operation_id="change_record",
)
def change_create(request, payload: ChangeIn):
    """Record a deploy, config or flag change for a team in which you are at least a
    responder: 201 with the change, or 200 with the one already stored under the same
    external_id. It goes on the timeline of every incident whose window holds it."""
    slug = payload.team.strip()
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        return Reply(404, {"detail": f"No team with slug {slug[:100]!r}."})
    if not can(request.user, CHANGE, team):
        raise PermissionDenied(f"Your role in {team} does not allow recording changes.")
    try:
        change, created = change_record(
            team=team,
            service=payload.service,
            summary=payload.summary,
            source=ChangeSource.API,
            kind=payload.kind,
            environment=payload.environment,
            version=payload.version,
            previous_version=payload.previous_version,
            author=request.user.username if payload.author is None else payload.author,
            occurred_at=payloads.parse_time(payload.occurred_at, "occurred_at"),
            url=payload.url,
            external_id=payload.external_id,
            by=request.user,
        )
    except InputError as exc:
        return Reply(400, {"detail": str(exc)})
    log.info("api_change_recorded", change_id=change.pk, created=created, user_id=request.user.pk)
    return Reply(201 if created else 200, payloads.change_as_json(change, team_slug=team.slug))


@router.get(
    "/incidents/{int:incident_id}/changes",
    response={200: list[IncidentChangeOut], 404: ErrorOut},
    summary="List an incident's recent changes",
    operation_id="incident_changes",
)
def incident_changes(request, incident_id: int):
    """The changes of the incident's team and services from two hours before it started
    (and after, until it was resolved), newest first; `suspect` marks the closest one before
    the start."""
    incident = get_object_for_user(request.user, Incident.objects.all(), pk=incident_id)
    views = changes_for_incident(incident=incident)
    # One query for the teams, whatever the number of changes (most are the incident's own).
    team_ids = {view.change.team_id for view in views}
    slugs = dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "slug")) if views else {}
    return Reply(
        200,
        [
            {
                **payloads.change_as_json(view.change, team_slug=slugs.get(view.change.team_id)),
                "suspect": view.suspect,
                "minutes_before": view.minutes_before,
            }
            for view in views
        ],
    )
