"""On-call API: who is on call now, and a schedule's shifts in a window."""

import datetime as dt

from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from common.api_schemas import ErrorOut
from common.inputs import InputError, parse_datetime
from oncall.models import Schedule
from oncall.selectors import WindowError, check_window, load_schedule, oncall_now_board
from teams.access import get_object_for_user
from teams.models import Team

router = Router(tags=["on-call"])


class OnCallPersonOut(Schema):
    id: int
    username: str
    name: str
    until: dt.datetime | None
    override: bool
    contact: list[dict]
    channels: list[str]


class LayerNowOut(Schema):
    layer: str
    people: list[OnCallPersonOut]


class TeamNowOut(Schema):
    team: str
    team_name: str
    at: dt.datetime
    layers: list[LayerNowOut]
    engineering_lead: OnCallPersonOut | None


def _person(entry) -> dict:
    return {
        "id": entry.user.pk,
        "username": entry.user.username,
        "name": entry.user.display_name,
        "until": entry.until,
        "override": entry.override,
        # Kinds only: a number, address or webhook URL is its owner's, not every API caller's.
        "contact": [{"kind": c.kind} for c in entry.contacts],
        "channels": [c.kind for c in entry.contacts],
    }


class NowFilter(Schema):
    team: str | None = None


@router.get(
    "/oncall/now",
    response={200: list[TeamNowOut], 404: ErrorOut},
    summary="Who is on call now",
)
def oncall_now(request, filters: Query[NowFilter]):
    """Per team: each layer's people on call now (until when, by which kinds of contact method:
    `channels`, and `contact` as `{"kind": ...}`; never the values) and the engineering lead.
    `?team=<slug>` limits the answer to one team (404 if unknown)."""
    teams = Team.objects.order_by("name")
    if filters.team:
        teams = teams.filter(slug=filters.team)
        if not teams.exists():
            raise HttpError(404, f"No team {filters.team!r}.")
    now = timezone.now()
    return [
        {
            "team": item.team.slug,
            "team_name": item.team.name,
            "at": now,
            "layers": [
                {"layer": name, "people": [_person(e) for e in entries]}
                for name, entries in item.layers
            ],
            "engineering_lead": _person(item.lead) if item.lead else None,
        }
        for item in oncall_now_board(teams=teams, at=now)
    ]


class ShiftOut(Schema):
    layer_id: int
    layer: str
    user_id: int
    username: str
    start: dt.datetime
    end: dt.datetime
    override_id: int | None


class ShiftsOut(Schema):
    schedule_id: int
    time_zone: str
    start: dt.datetime
    end: dt.datetime
    shifts: list[ShiftOut]
    gaps: list[dict]


_INSTANT = {"format": "date-time"}


class WindowQuery(Schema):
    # Read by common.inputs, whose reasons (an impossible date, one out of range) reach the
    # caller; pydantic accepted times whose conversion to UTC overflowed.
    start: str = Field(json_schema_extra=_INSTANT)
    end: str = Field(json_schema_extra=_INSTANT)


@router.get("/schedules/{schedule_id}/shifts", response=ShiftsOut, summary="Shifts in a window")
def schedule_shifts(request, schedule_id: int, window: Query[WindowQuery]):
    """Every shift (overrides applied) overlapping [start, end), whole, and the gaps in it.
    Times without an offset are UTC. The window may be at most a year; end must follow start."""
    schedule = get_object_for_user(
        request.user, Schedule.objects.select_related("team"), pk=schedule_id
    )
    try:
        start = parse_datetime(window.start, "start", required=True, naive_tz=dt.UTC)
        end = parse_datetime(window.end, "end", required=True, naive_tz=dt.UTC)
        check_window(start, end)
    except (InputError, WindowError) as exc:
        raise HttpError(400, str(exc)) from exc
    item = load_schedule(schedule, start, end)
    computed = item.compute(start, end)
    names = {la.pk: la.name for la in item.layers}
    shifts = [
        {
            "layer_id": s.layer_id,
            "layer": names[s.layer_id],
            "user_id": s.user_id,
            "username": item.users[s.user_id].username,
            "start": s.start,
            "end": s.end,
            "override_id": s.override_id,
        }
        for la in item.layers
        for s in computed.shifts[la.pk]
    ]
    gaps = [
        {"layer_id": la.pk, "layer": la.name, "start": gs, "end": ge}
        for la in item.layers
        for gs, ge in computed.gaps[la.pk]
    ]
    return {
        "schedule_id": schedule.pk,
        "time_zone": schedule.time_zone,
        "start": start,
        "end": end,
        "shifts": shifts,
        "gaps": gaps,
    }
