"""Reads for on-call: who is on call, schedules' shifts, escalation policies.

Every answer to "who is on call at t" comes from `oncall.shifts.compute_shifts`; these
functions only load the schedule data it needs and turn user ids back into users.
"""

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Prefetch, Q

from oncall.models import (
    EscalationPolicy,
    EscalationStep,
    Layer,
    LayerMember,
    Override,
    Schedule,
    SwapRequest,
    Team,
)
from oncall.shifts import LayerSpec, OverrideSpec, ScheduleShifts, ScheduleSpec, compute_shifts

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
    overrides = _overrides_near([la.pk for la in layers], start, end)
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


def _default_layer(team: Team, name: str, position: int) -> Layer | None:
    layers = Layer.objects.filter(schedule__team=team).select_related("schedule")
    return (
        layers.filter(name=name).order_by("schedule__name", "schedule_id").first()
        or layers.filter(position=position).order_by("schedule__name", "schedule_id").first()
    )


def escalation_policy_for(*, team: Team) -> EscalationPolicy:
    """The team's escalation policy, with its steps prefetched (`policy.steps.all()`).

    If the team has none yet, creates the seed document's default and returns it:
      step position 0: target_kind "layer", the "Primary" layer, wait_minutes 5;
      step position 1: target_kind "layer", the "Secondary" layer, wait_minutes 10;
      step position 2: target_kind "lead" (the team's engineering_lead), wait_minutes 15;
      repeat 1.
    So the primary is notified at +0, the secondary at +5 and the lead at +15 minutes; after
    the last step's wait, the list starts again if repeat > 1. wait_minutes is the time to wait
    after notifying a step before moving on. The layers are found by name ("Primary" /
    "Secondary") in the team's schedules, falling back to the first and second layer by
    position; a default layer step whose layer does not exist yet has layer=None and is filled
    in by a later call once the team has such a layer. Safe to call concurrently.
    """
    policy = EscalationPolicy.objects.filter(team=team).first()
    if policy is None:
        with transaction.atomic():
            policy, created = EscalationPolicy.objects.get_or_create(
                team=team, defaults={"name": "Default (seed document)", "repeat": 1}
            )
            if created:
                EscalationStep.objects.bulk_create(
                    [
                        EscalationStep(
                            policy=policy,
                            position=0,
                            target_kind=EscalationStep.TargetKind.LAYER,
                            layer=_default_layer(team, PRIMARY, 0),
                            wait_minutes=5,
                        ),
                        EscalationStep(
                            policy=policy,
                            position=1,
                            target_kind=EscalationStep.TargetKind.LAYER,
                            layer=_default_layer(team, SECONDARY, 1),
                            wait_minutes=10,
                        ),
                        EscalationStep(
                            policy=policy,
                            position=2,
                            target_kind=EscalationStep.TargetKind.LEAD,
                            wait_minutes=15,
                        ),
                    ]
                )
    else:
        missing = policy.steps.filter(target_kind=EscalationStep.TargetKind.LAYER, layer=None)
        for step in missing:
            name, position = (PRIMARY, 0) if step.position == 0 else (SECONDARY, 1)
            layer = _default_layer(team, name, position)
            if layer is not None:
                step.layer = layer
                step.save(update_fields=["layer"])
    return (
        EscalationPolicy.objects.select_related("team__engineering_lead")
        .prefetch_related(
            Prefetch(
                "steps", queryset=EscalationStep.objects.select_related("layer__schedule", "user")
            )
        )
        .get(pk=policy.pk)
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
