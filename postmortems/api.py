"""Postmortems and action items over the JSON API: generate a draft, read its Markdown, list
action items and move their status. Same rules as the pages (teams.access)."""

import datetime as dt
from typing import Literal

from django.http import HttpResponse
from ninja import Query, Router, Schema
from ninja import Status as Reply

from common.api_schemas import ErrorOut
from incidents.models import Incident
from postmortems import document, selectors, services
from postmortems.models import ActionItem
from teams.access import CHANGE, get_object_for_user

router = Router(tags=["postmortems"])

ActionStatus = Literal["open", "in_progress", "done", "wont_do"]
PriorityName = Literal["P0", "P1", "P2"]


class PostmortemOut(Schema):
    id: int
    incident_id: int
    revision: int
    title: str
    status: str
    due_at: dt.datetime
    url: str


class ActionItemOut(Schema):
    id: int
    title: str
    owner: str
    due_date: dt.date
    priority: str
    status: str
    team: str
    incident_id: int
    postmortem_id: int | None
    tracker_url: str


class ActionItemFilters(Schema):
    mine: bool = False
    overdue: bool = False
    priority: PriorityName | None = None
    team: str | None = None
    status: ActionStatus | None = None


class StatusIn(Schema):
    status: ActionStatus


class GenerateIn(Schema):
    timeline_source: Literal["pinned", "all"] = "pinned"


def _postmortem_out(request, postmortem):
    return {
        "id": postmortem.pk,
        "incident_id": postmortem.incident_id,
        "revision": postmortem.revision,
        "title": postmortem.title,
        "status": postmortem.status,
        "due_at": postmortem.due_at,
        "url": request.build_absolute_uri(postmortem.get_absolute_url()),
    }


def _item_out(item):
    return {
        "id": item.pk,
        "title": item.title,
        "owner": item.owner.username,
        "due_date": item.due_date,
        "priority": item.priority,
        "status": item.status,
        "team": item.team.slug,
        "incident_id": item.incident_id,
        "postmortem_id": item.postmortem_id,
        "tracker_url": item.tracker_url,
    }


@router.post(
    "/from-incident/{incident_id}",
    response={200: PostmortemOut, 201: PostmortemOut, 400: ErrorOut},
)
def generate(request, incident_id: int, payload: GenerateIn):
    incident = get_object_for_user(
        request.user, Incident.objects.select_related("team"), action=CHANGE, pk=incident_id
    )
    try:
        postmortem, created = services.postmortem_generate(
            incident=incident, by=request.user, timeline_source=payload.timeline_source
        )
    except services.PostmortemError as exc:
        return Reply(400, {"detail": str(exc)})
    return Reply(201 if created else 200, _postmortem_out(request, postmortem))


@router.get("/{postmortem_id}/markdown", response={200: str, 404: ErrorOut})
def markdown(request, postmortem_id: int):
    postmortem = get_object_for_user(
        request.user, selectors.postmortem_queryset(), pk=postmortem_id
    )
    text = document.export_markdown(
        postmortem,
        sections=postmortem.sections.all(),
        action_items=ActionItem.objects.filter(incident_id=postmortem.incident_id)
        .select_related("owner")
        .order_by("created_at", "id"),
    )
    return HttpResponse(text, content_type="text/markdown; charset=utf-8")


@router.get("/action-items", response=list[ActionItemOut])
def action_items(request, filters: Query[ActionItemFilters]):
    items = selectors.action_item_list(
        user=request.user,
        mine=filters.mine,
        overdue=filters.overdue,
        priority=filters.priority or "",
        team=filters.team or "",
        status=filters.status or "",
    )[:500]
    return [_item_out(item) for item in items]


@router.post(
    "/action-items/{item_id}/status",
    response={200: ActionItemOut, 403: ErrorOut, 404: ErrorOut},
)
def action_item_status(request, item_id: int, payload: StatusIn):
    item = get_object_for_user(
        request.user,
        ActionItem.objects.select_related("owner", "team", "incident"),
        action=CHANGE,
        pk=item_id,
    )
    item = services.action_item_set_status(item=item, status=payload.status, by=request.user)
    item = ActionItem.objects.select_related("owner", "team").get(pk=item.pk)
    return Reply(200, _item_out(item))
