"""Reads for on-call: who is on call, schedules' shifts, escalation policies.

Every answer to "who is on call at t" comes from `oncall.shifts.compute_shifts`; these
functions only load the schedule data it needs and turn user ids back into users.
"""

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Prefetch, Q, Subquery

from oncall.models import (
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    HandoffNote,
    Layer,
    LayerMember,
    Override,
    Schedule,
    ShiftReminder,
    SwapRequest,
    masked_tail,
)
from oncall.shifts import (
    LayerSpec,
    OverrideSpec,
    ScheduleShifts,
    ScheduleSpec,
    compute_shifts,
    local_to_utc,
)
from teams.access import sees_contact_values
from teams.models import Membership, Team

User = get_user_model()

# Names of the layers the default schedule and escalation policy use.
PRIMARY, SECONDARY = "Primary", "Secondary"


@dataclass
class LoadedSchedule:
    """A schedule with its layers, their members and the overrides near a window."""

    schedule: Schedule
    layers: list[Layer]
    spec: ScheduleSpec
    users: dict[int, object]
    overrides: dict[int, Override]

    def compute(self, start: dt.datetime, end: dt.datetime) -> ScheduleShifts:
        return compute_shifts(self.spec, start, end)


def _layer_spec(layer: Layer) -> LayerSpec:
    return LayerSpec(
        id=layer.pk,
        name=layer.name,
        position=layer.position,
        members=tuple(m.user_id for m in layer.members.all()),
        start_date=layer.start_date,
        handoff_time=layer.handoff_time,
        handoff_weekday=layer.handoff_weekday,
        cadence=layer.cadence,
        interval=layer.interval,
        restriction=layer.restriction,
        active_from=layer.active_from,
        active_until=layer.active_until,
    )


def _layers_queryset():
    return Layer.objects.prefetch_related(
        Prefetch("members", queryset=LayerMember.objects.select_related("user"))
    )


def _overrides_near(layer_ids, start, end) -> list[Override]:
    """Overrides overlapping the window and those overlapping them (which may cut them)."""
    base = Override.objects.filter(layer_id__in=layer_ids).select_related("user", "replaces")
    direct = list(base.filter(end__gt=start, start__lt=end).order_by("created_at", "id"))
    if not direct:
        return []
    lo = min(o.start for o in direct)
    hi = max(o.end for o in direct)
    return list(base.filter(end__gt=lo, start__lt=hi).order_by("created_at", "id"))


def load_schedules(schedules, start: dt.datetime, end: dt.datetime) -> list[LoadedSchedule]:
    """Load what compute_shifts needs for several schedules in a fixed number of queries."""
    schedules = list(schedules)
    if not schedules:
        return []
    layers = list(_layers_queryset().filter(schedule__in=schedules))
    # A rotation shift overlapping the window may start or end up to one period outside it,
    # and overrides there cut it too.
    margin = dt.timedelta(
        days=max((la.interval * (7 if la.cadence == "weekly" else 1) for la in layers), default=0)
        + 1
    )
    overrides = _overrides_near([la.pk for la in layers], start - margin, end + margin)
    loaded = []
    for schedule in schedules:
        own = [la for la in layers if la.schedule_id == schedule.pk]
        own_ids = {la.pk for la in own}
        own_overrides = [o for o in overrides if o.layer_id in own_ids]
        users = {m.user_id: m.user for la in own for m in la.members.all()}
        users.update({o.user_id: o.user for o in own_overrides})
        for la in own:
            la.schedule = schedule
        spec = ScheduleSpec(
            time_zone=schedule.time_zone,
            layers=tuple(_layer_spec(la) for la in own),
            overrides=tuple(
                OverrideSpec(
                    id=o.pk, layer_id=o.layer_id, user_id=o.user_id, start=o.start, end=o.end
                )
                for o in own_overrides
            ),
            absent_user_ids=frozenset(uid for uid, u in users.items() if not u.is_active),
        )
        loaded.append(
            LoadedSchedule(
                schedule=schedule,
                layers=own,
                spec=spec,
                users=users,
                overrides={o.pk: o for o in own_overrides},
            )
        )
    return loaded


def load_schedule(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> LoadedSchedule:
    return load_schedules([schedule], start, end)[0]


def oncall_at(*, team: Team, at: dt.datetime) -> dict[str, list]:
    """Who is on call for `team` at the aware datetime `at`, per layer name.

    Returns {layer name: [User, ...]} with one key for every layer of every schedule of the
    team, in schedule then layer order. The seeded default names are exactly "Primary" and
    "Secondary" (the constants PRIMARY and SECONDARY here); teams may add more layers with
    their own names. Overrides are applied. A list is empty when the layer has nobody at `at`
    (a gap, a business-hours layer outside its hours, or a rotation not yet started). When two
    schedules of the team have a layer of the same name, their people are merged in one list
    without duplicates. Deactivated users are never returned. The engineering lead is not a
    layer: see Team.engineering_lead or escalation_step_targets.
    """
    loaded = load_schedules(
        Schedule.objects.filter(team=team).order_by("name", "id"), at, at + dt.timedelta(seconds=1)
    )
    result: dict[str, list] = {}
    for item in loaded:
        computed = item.compute(at, at + dt.timedelta(seconds=1))
        for layer in item.layers:
            people = result.setdefault(layer.name, [])
            for user_id in computed.on_call_at(layer.pk, at):
                user = item.users[user_id]
                if user not in people:
                    people.append(user)
    return result


def layer_oncall_at(*, layer: Layer, at: dt.datetime) -> list:
    """The people on call in one layer at `at` (overrides applied; usually one person)."""
    item = load_schedule(layer.schedule, at, at + dt.timedelta(seconds=1))
    computed = item.compute(at, at + dt.timedelta(seconds=1))
    return [item.users[uid] for uid in computed.on_call_at(layer.pk, at)]


def default_layer(team: Team, name: str, position: int) -> Layer | None:
    layers = Layer.objects.filter(schedule__team=team).select_related("schedule")
    return (
        layers.filter(name=name).order_by("schedule__name", "schedule_id").first()
        or layers.filter(position=position).order_by("schedule__name", "schedule_id").first()
    )


def escalation_policy_for(*, team: Team) -> EscalationPolicy | None:
    """The team's escalation policy, with its steps prefetched (`policy.steps.all()`); None for
    a team that has none (every team gets the seed's default when it is made:
    `oncall.services.escalation_policy_default`). Reads only."""
    return (
        EscalationPolicy.objects.select_related("team__engineering_lead")
        .prefetch_related(
            Prefetch(
                "steps", queryset=EscalationStep.objects.select_related("layer__schedule", "user")
            )
        )
        .filter(team=team)
        .first()
    )


def escalation_step_targets(*, step: EscalationStep, at: dt.datetime) -> list:
    """The active users a step notifies at the aware datetime `at`.

    "layer": whoever is on call in step.layer at `at` (overrides applied; [] for a gap or when
    the layer is None); "user": [step.user]; "lead": [the policy team's engineering_lead].
    Deactivated users are left out, so the list may be empty: the caller moves on.
    """
    kind = step.target_kind
    if kind == EscalationStep.TargetKind.LAYER:
        return layer_oncall_at(layer=step.layer, at=at) if step.layer_id else []
    if kind == EscalationStep.TargetKind.USER:
        users = [step.user] if step.user_id else []
    else:
        users = [step.policy.team.engineering_lead] if step.policy.team.engineering_lead_id else []
    return [u for u in users if u.is_active]


def pending_swaps_for(*, user) -> list[SwapRequest]:
    return list(
        SwapRequest.objects.filter(
            Q(recipient=user) | Q(requester=user), status=SwapRequest.Status.PENDING
        ).select_related("layer__schedule__team", "requester", "recipient")
    )


MAX_WINDOW = dt.timedelta(days=366)


class WindowError(ValueError):
    """A requested window of time that cannot be answered (reversed or longer than a year)."""


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    if end <= start:
        raise WindowError("The end of the window must be after its start.")
    if end - start > MAX_WINDOW:
        raise WindowError("The window may be at most one year (366 days) long.")


@dataclass
class Reach:
    """One way to reach a person as the viewer may see it: the kind and a masked tail always,
    the value only when `teams.access.sees_contact_values` allows it."""

    kind: str
    kind_display: str
    masked: str
    value: str | None = None
    label: str = ""


@dataclass
class OnCallEntry:
    user: object
    until: dt.datetime | None
    contacts: list[Reach]
    override: bool = False
    # The account's email and phone, shown when the person has set no contact method.
    account: list[Reach] = field(default_factory=list)


def _reach_for(viewer, person, methods, team_role) -> tuple[list[Reach], list[Reach]]:
    shown = viewer is not None and sees_contact_values(viewer, person, team_role=team_role)
    contacts = [
        Reach(
            kind=m.kind,
            kind_display=m.get_kind_display(),
            masked=m.masked_value,
            value=m.value if shown else None,
            label=m.label,
        )
        for m in methods
    ]
    account = []
    if not methods:
        for kind, kind_display, value in (
            (ContactMethod.Kind.EMAIL, "Email", person.email),
            (ContactMethod.Kind.PHONE, "Phone", getattr(person, "phone", "")),
        ):
            if value:
                account.append(
                    Reach(kind, kind_display, masked_tail(value), value if shown else None)
                )
    return contacts, account


@dataclass
class TeamNow:
    team: Team
    layers: list[tuple[str, list[OnCallEntry]]]
    lead: OnCallEntry | None
    schedules: list[Schedule]


def _contacts_by_user(user_ids) -> dict[int, list[ContactMethod]]:
    result: dict[int, list[ContactMethod]] = {}
    for method in ContactMethod.objects.filter(user_id__in=user_ids):
        result.setdefault(method.user_id, []).append(method)
    return result


def oncall_now_board(*, teams, at: dt.datetime, viewer=None) -> list[TeamNow]:
    """For "On call now": per team, each layer's people with until-when and how to reach them,
    and the engineering lead. A fixed number of queries whatever the number of teams.

    Contact values are filled in only where `viewer` may see them (without a viewer: nowhere);
    the viewer's role in each team comes with the teams, so it costs no query of its own."""
    teams = teams.select_related("engineering_lead")
    if viewer is not None and viewer.is_authenticated:
        own_role = Membership.objects.filter(team=OuterRef("pk"), user_id=viewer.pk)
        teams = teams.annotate(viewer_role=Subquery(own_role.values("role")[:1]))
    teams = list(teams)
    schedules = list(
        Schedule.objects.filter(team__in=teams).select_related("team").order_by("name", "id")
    )
    # Look a little ahead so "until" can name the end of the current shift.
    loaded = load_schedules(schedules, at, at + dt.timedelta(seconds=1))
    computed = {item.schedule.pk: item.compute(at, at + dt.timedelta(seconds=1)) for item in loaded}
    user_ids = {t.engineering_lead_id for t in teams if t.engineering_lead_id}
    for item in loaded:
        user_ids.update(item.users)
    contacts = _contacts_by_user(user_ids)
    board = []
    for team in teams:
        team_role = getattr(team, "viewer_role", None)
        layers: dict[str, list[OnCallEntry]] = {}
        own = [item for item in loaded if item.schedule.team_id == team.pk]
        for item in own:
            for layer in item.layers:
                entries = layers.setdefault(layer.name, [])
                for shift in computed[item.schedule.pk].shifts[layer.pk]:
                    person = item.users[shift.user_id]
                    if shift.start <= at < shift.end and person.is_active:
                        reach, account = _reach_for(
                            viewer, person, contacts.get(shift.user_id, []), team_role
                        )
                        entries.append(
                            OnCallEntry(
                                user=person,
                                until=shift.end,
                                contacts=reach,
                                override=shift.override_id is not None,
                                account=account,
                            )
                        )
        lead = None
        if team.engineering_lead_id:
            reach, account = _reach_for(
                viewer, team.engineering_lead, contacts.get(team.engineering_lead_id, []), team_role
            )
            lead = OnCallEntry(
                user=team.engineering_lead, until=None, contacts=reach, account=account
            )
        board.append(
            TeamNow(
                team=team,
                layers=list(layers.items()),
                lead=lead,
                schedules=[i.schedule for i in own],
            )
        )
    return board


@dataclass
class UserShift:
    schedule: Schedule
    layer: Layer
    start: dt.datetime
    end: dt.datetime
    override: Override | None


def user_shifts(*, user, start: dt.datetime, end: dt.datetime) -> list[UserShift]:
    """The user's shifts overlapping [start, end) in every schedule of their teams."""
    schedules = Schedule.objects.filter(team__memberships__user=user).select_related("team")
    loaded = load_schedules(schedules.distinct().order_by("name", "id"), start, end)
    result = []
    for item in loaded:
        computed = item.compute(start, end)
        for layer in item.layers:
            for shift in computed.shifts[layer.pk]:
                if shift.user_id == user.pk:
                    result.append(
                        UserShift(
                            schedule=item.schedule,
                            layer=layer,
                            start=shift.start,
                            end=shift.end,
                            override=item.overrides.get(shift.override_id),
                        )
                    )
    # Consecutive pieces of the same layer (e.g. around someone else's override) stay apart.
    return sorted(result, key=lambda s: (s.start, s.layer.pk))


def handoff_notes_for(*, layer_ids, before: dt.datetime, limit: int = 3) -> list[HandoffNote]:
    return list(
        HandoffNote.objects.filter(layer_id__in=layer_ids, handoff_at__lte=before)
        .select_related("author", "layer__schedule")
        .order_by("-handoff_at", "-id")[:limit]
    )


def reminders_for(*, user, now: dt.datetime) -> list[ShiftReminder]:
    return list(
        ShiftReminder.objects.filter(user=user, shift_end__gt=now, sent_at__isnull=False)
        .select_related("layer__schedule")
        .order_by("shift_start")
    )


@dataclass
class Block:
    label: str
    user: object | None
    start: dt.datetime
    end: dt.datetime
    left: float
    width: float
    override: bool = False
    gap: bool = False
    color: int = 0
    layer_id: int = 0


@dataclass
class DayBlock:
    """A block as seen on one day of the month view: does it start or end that day?"""

    block: Block
    starts: bool
    ends: bool


@dataclass
class LayerRow:
    layer: Layer
    blocks: list[Block]


@dataclass
class Day:
    date: dt.date
    start: dt.datetime
    left: float
    in_month: bool
    today: bool
    entries: list[tuple[Layer, list[DayBlock]]]


def calendar_view(
    *, schedule: Schedule, start: dt.datetime, end: dt.datetime, tz, days: list[dt.date], now
) -> dict:
    """Shift blocks per layer and per day for the calendar page, in the display time zone.

    Blocks carry left/width as a percentage of the window so the page can place them."""
    item = load_schedule(schedule, start, end)
    computed = item.compute(start, end)
    span = (end - start).total_seconds()
    colors = {}
    for la in item.layers:
        for m in la.members.all():
            colors.setdefault(m.user_id, len(colors) % 8)

    def block(s, e, *, user=None, override=False, gap=False, layer_id=0) -> Block:
        cs, ce = max(s, start), min(e, end)
        return Block(
            label=str(user) if user else "Nobody on call",
            user=user,
            start=s,
            end=e,
            left=round((cs - start).total_seconds() / span * 100, 3),
            width=round((ce - cs).total_seconds() / span * 100, 3),
            override=override,
            gap=gap,
            color=colors.get(user.pk, 7) if user else 0,
            layer_id=layer_id,
        )

    rows = []
    for la in item.layers:
        blocks = [
            block(
                s.start,
                s.end,
                user=item.users[s.user_id],
                override=s.override_id is not None,
                layer_id=la.pk,
            )
            for s in computed.shifts[la.pk]
        ]
        blocks += [block(gs, ge, gap=True, layer_id=la.pk) for gs, ge in computed.gaps[la.pk]]
        rows.append(LayerRow(layer=la, blocks=sorted(blocks, key=lambda b: b.start)))

    today = now.astimezone(tz).date()
    day_list = []
    for d in days:
        d_start = dt.datetime.combine(d, dt.time()).replace(tzinfo=tz).astimezone(dt.UTC)
        d_end = (
            dt.datetime.combine(d + dt.timedelta(days=1), dt.time())
            .replace(tzinfo=tz)
            .astimezone(dt.UTC)
        )
        entries = []
        for row in rows:
            entries.append(
                (
                    row.layer,
                    [
                        DayBlock(block=b, starts=b.start > d_start, ends=b.end < d_end)
                        for b in row.blocks
                        if b.start < d_end and b.end > d_start
                    ],
                )
            )
        day_list.append(
            Day(
                date=d,
                start=d_start,
                left=round((d_start - start).total_seconds() / span * 100, 3),
                in_month=True,
                today=d == today,
                entries=entries,
            )
        )
    today_left = None
    if start <= now < end:
        today_left = round((now - start).total_seconds() / span * 100, 3)
    return {"rows": rows, "days": day_list, "today_left": today_left, "loaded": item}


@dataclass
class FairnessRow:
    user: object
    business: float = 0.0
    nights: float = 0.0
    weekends: float = 0.0

    @property
    def total(self) -> float:
        return self.business + self.nights + self.weekends


BUSINESS_START, BUSINESS_END = dt.time(9, 0), dt.time(17, 0)


def _split_hours(s: dt.datetime, e: dt.datetime, tz) -> tuple[float, float, float]:
    """Hours of [s, e) in business hours (Mon–Fri 09–17 local), nights and weekends."""
    business = nights = weekends = 0.0
    day = s.astimezone(tz).date()
    while True:
        d0 = local_to_utc(day, dt.time(), tz)
        if d0 >= e:
            break
        d1 = local_to_utc(day + dt.timedelta(days=1), dt.time(), tz)
        lo, hi = max(s, d0), min(e, d1)
        if lo < hi:
            hours = (hi - lo).total_seconds() / 3600
            if day.weekday() >= 5:
                weekends += hours
            else:
                b0 = max(lo, local_to_utc(day, BUSINESS_START, tz))
                b1 = min(hi, local_to_utc(day, BUSINESS_END, tz))
                in_business = max(0.0, (b1 - b0).total_seconds() / 3600)
                business += in_business
                nights += hours - in_business
        day += dt.timedelta(days=1)
    return business, nights, weekends


def fairness_report(
    *, schedule: Schedule, start: dt.datetime, end: dt.datetime
) -> list[FairnessRow]:
    """On-call hours per person over [start, end), split into business hours (Mon–Fri
    09:00–17:00 in the schedule's time zone), nights (the other weekday hours) and weekends."""
    check_window(start, end)
    tz = ZoneInfo(schedule.time_zone)
    item = load_schedule(schedule, start, end)
    computed = item.compute(start, end)
    rows: dict[int, FairnessRow] = {}
    for la in item.layers:
        for shift in computed.shifts[la.pk]:
            s, e = max(shift.start, start), min(shift.end, end)
            row = rows.setdefault(shift.user_id, FairnessRow(user=item.users[shift.user_id]))
            b, n, w = _split_hours(s, e, tz)
            row.business += b
            row.nights += n
            row.weekends += w
    return sorted(rows.values(), key=lambda r: (-r.total, str(r.user)))


# "All teams" on the dashboard while there are no more than this many.
FEW_TEAMS = 4


def dashboard_oncall(*, user, at: dt.datetime, shown: int, few: int = FEW_TEAMS):
    """Who is on call now for the dashboard: every team's while there are only a few teams,
    else the person's own teams'; the first `shown` by name. (board, how many teams in all),
    in a fixed number of queries (oncall_now_board's and one)."""
    mine = Membership.objects.filter(team_id=OuterRef("pk"), user_id=user.pk)
    teams = list(
        Team.objects.annotate(is_mine=Exists(mine)).order_by("name").values_list("pk", "is_mine")
    )
    ids = [pk for pk, is_mine in teams if is_mine or len(teams) <= few]
    board = oncall_now_board(
        teams=Team.objects.filter(pk__in=ids[:shown]).order_by("name"), at=at, viewer=user
    )
    return board, len(ids)
