"""Runbooks over the JSON API: search, read, the runbooks an incident's alerts bring up, and
ticking a step. Same rules as the pages: anyone signed in reads; ticking needs the responder
role in the incident's team. Timestamps are ISO-8601 in UTC."""

import datetime as dt

from ninja import Query, Router, Schema
from ninja import Status as Reply

from common.api_schemas import ErrorOut
from incidents.models import Incident
from runbooks.models import Runbook
from runbooks.selectors import json_list_has, runbook_list, runbooks_for_incident
from runbooks.services import RunbookError, runbook_step_tick
from teams.access import CHANGE, get_object_for_user

router = Router(tags=["runbooks"])


class RunbookSummaryOut(Schema):
    slug: str
    title: str
    team: str
    tags: list[str]
    alert_names: list[str]
    needs_review: bool
    last_reviewed_at: dt.datetime | None
    url: str


class RunbookOut(RunbookSummaryOut):
    body: str
    owner: str | None
    revisions: int
    updated_at: dt.datetime


class StepOut(Schema):
    key: str
    label: str
    done: bool
    done_by: str | None
    done_at: dt.datetime | None


class OfferedOut(Schema):
    runbook: RunbookSummaryOut
    reasons: list[str]
    steps: list[StepOut]


class Filters(Schema):
    q: str = ""
    team: str = ""
    tag: str = ""
    alertname: str = ""


def _summary(runbook) -> dict:
    return {
        "slug": runbook.slug,
        "title": runbook.title,
        "team": runbook.team.slug,
        "tags": runbook.tags,
        "alert_names": runbook.alert_names,
        "needs_review": runbook.is_stale,
        "last_reviewed_at": runbook.last_reviewed_at,
        "url": runbook.get_absolute_url(),
    }


def _offered(item) -> dict:
    return {
        "runbook": _summary(item.runbook),
        "reasons": item.reasons,
        "steps": [
            {
                "key": row["step"].key,
                "label": row["step"].label,
                "done": row["check"] is not None,
                "done_by": row["check"].checked_by.username
                if row["check"] and row["check"].checked_by
                else None,
                "done_at": row["check"].checked_at if row["check"] else None,
            }
            for row in item.rows
        ],
    }


@router.get("", response=list[RunbookSummaryOut], summary="Search runbooks")
def list_runbooks(request, filters: Query[Filters]):
    runbooks = runbook_list(q=filters.q[:200], team=filters.team[:100], tag=filters.tag[:100])
    if filters.alertname:
        # The same JSON-list match the incident panel uses, on PostgreSQL and SQLite alike.
        runbooks = runbooks.filter(json_list_has("alert_names", filters.alertname))
    return [_summary(r) for r in runbooks[:200]]


@router.get("/{slug}", response={200: RunbookOut, 404: ErrorOut}, summary="Read a runbook")
def read_runbook(request, slug: str):
    runbook = get_object_for_user(
        request.user, Runbook.objects.select_related("team", "owner"), slug=slug
    )
    return {
        **_summary(runbook),
        "body": runbook.body,
        "owner": runbook.owner.username if runbook.owner else None,
        "revisions": runbook.revisions.count(),
        "updated_at": runbook.updated_at,
    }


@router.get(
    "/incidents/{incident_id}",
    response={200: list[OfferedOut], 404: ErrorOut},
    summary="Runbooks an incident's alerts bring up, with their steps",
)
def incident_runbooks(request, incident_id: int):
    incident = get_object_for_user(request.user, Incident.objects.all(), pk=incident_id)
    return [_offered(item) for item in runbooks_for_incident(incident=incident)]


@router.post(
    "/incidents/{incident_id}/{slug}/steps/{step_key}",
    response={200: OfferedOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Tick a runbook step on an incident (writes its timeline)",
)
def tick_step(request, incident_id: int, slug: str, step_key: str):
    incident = get_object_for_user(
        request.user, Incident.objects.select_related("team"), action=CHANGE, pk=incident_id
    )
    runbook = get_object_for_user(request.user, Runbook.objects.select_related("team"), slug=slug)
    try:
        runbook_step_tick(incident=incident, runbook=runbook, step_key=step_key, by=request.user)
    except RunbookError as exc:
        return Reply(409, {"detail": str(exc)})
    offered = runbooks_for_incident(incident=incident, extra_slug=runbook.slug)
    return _offered(next(o for o in offered if o.runbook.pk == runbook.pk))
