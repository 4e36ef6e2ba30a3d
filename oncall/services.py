"""Writes for on-call: schedules and layers, overrides, swap requests, handoffs, reminders,
gap notices and calendar tokens. Keyword-only, one transaction each, audited."""

import datetime as dt
import secrets
import zoneinfo
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from alerts.models import token_hash  # the one SHA-256 of a URL token
from audit.services import audit_record
from common import live
from common.enqueue import enqueue
from oncall.models import (
    PRE_SHIFT_CHECKLIST,
    CalendarToken,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    GapNotice,
    HandoffNote,
    Layer,
    LayerMember,
    Override,
    Schedule,
    ShiftReminder,
    SwapRequest,
)
from oncall.selectors import PRIMARY, SECONDARY, default_layer, load_schedules
from oncall.shifts import LayerSpec, nonexistent_handoffs
from paging.models import InAppNotification, bell_topic
from teams.access import roles_at_least
from teams.models import Membership, Role

log = structlog.get_logger(__name__)

REMINDER_LEAD = dt.timedelta(hours=12)
GAP_HORIZON = dt.timedelta(days=14)


class OncallError(Exception):
    """A person-readable reason an on-call change was refused."""


@dataclass
class LayerData:
    """A layer as entered in the schedule editor (not yet saved)."""

    name: str
    members: list
    start_date: dt.date
    handoff_time: dt.time = dt.time(9, 0)
    handoff_weekday: int = 0
    cadence: str = "weekly"
    interval: int = 1
    restriction: str = "none"
    active_from: dt.time = dt.time(9, 0)
    active_until: dt.time = dt.time(17, 0)
    id: int | None = None  # the saved layer this edits, if any

    def spec(self, *, id: int, position: int) -> LayerSpec:
        return LayerSpec(
            id=id,
            name=self.name,
            position=position,
            members=tuple(u.pk for u in self.members),
            start_date=self.start_date,
            handoff_time=self.handoff_time,
            handoff_weekday=self.handoff_weekday,
            cadence=self.cadence,
            interval=self.interval,
            restriction=self.restriction,
            active_from=self.active_from,
            active_until=self.active_until,
        )


def layer_problems(data: LayerData, *, time_zone: str) -> list[str]:
    """Why a layer cannot be saved, in words a person can act on ([] when it can)."""
    problems = []
    if not data.name.strip():
        problems.append("Give the layer a name (e.g. Primary).")
    if not data.members:
        problems.append(f"The rotation “{data.name}” has no members: add at least one person.")
    if data.interval < 1:
        problems.append("The rotation must hand off every 1 or more days or weeks.")
    if data.restriction == "business_hours" and data.active_from == data.active_until:
        problems.append("Business hours must start and end at different times.")
    bad_days = nonexistent_handoffs(data.spec(id=0, position=0), time_zone) if data.interval else []
    if bad_days:
        day = bad_days[0]
        problems.append(
            f"{data.handoff_time:%H:%M} does not exist in {time_zone} on "
            f"{day:%A %d %B %Y} (the clocks jump forward over it), which is a handoff day "
            f"of “{data.name}”. Choose a handoff time outside the skipped hour."
        )
    return problems


def _team_member_ids(team) -> set[int]:
    return set(Membership.objects.filter(team=team).values_list("user_id", flat=True))


@transaction.atomic
def schedule_save(*, team, name: str, time_zone: str, layers: list[LayerData], by, schedule=None):
    """Create or replace a schedule and its layers in one transaction (all or nothing)."""
    problems = []
    if time_zone not in zoneinfo.available_timezones():
        problems.append(f"{time_zone!r} is not a known time zone (e.g. Europe/Berlin).")
    if not layers:
        problems.append("A schedule needs at least one layer.")
    names = [la.name for la in layers]
    if len(set(names)) != len(names):
        problems.append("Two layers have the same name.")
    member_ids = _team_member_ids(team)
    for data in layers:
        outsiders = [str(u) for u in data.members if u.pk not in member_ids]
        if outsiders:
            problems.append(f"Not members of {team}: {', '.join(outsiders)}.")
        if time_zone in zoneinfo.available_timezones():
            problems.extend(layer_problems(data, time_zone=time_zone))
    clash = Schedule.objects.filter(team=team, name=name)
    if schedule is not None:
        clash = clash.exclude(pk=schedule.pk)
    if clash.exists():
        problems.append(f"{team} already has a schedule called “{name}”.")
    if problems:
        raise OncallError(" ".join(problems))

    before = _schedule_snapshot(schedule) if schedule else None
    if schedule is None:
        schedule = Schedule.objects.create(team=team, name=name, time_zone=time_zone)
    else:
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        schedule.name, schedule.time_zone = name, time_zone
        schedule.save(update_fields=["name", "time_zone"])
    existing = list(schedule.layers.all())
    by_id = {la.pk: la for la in existing}
    by_name = {la.name: la for la in existing}
    # Free the names first: layers may swap names in one edit (unique per schedule).
    for la in existing:
        la.name = f"~{la.pk}"
        la.save(update_fields=["name"])
    keep = set()
    for position, data in enumerate(layers):
        # Edit the same layer (keeping its overrides and escalation steps), matched by id,
        # then by name; otherwise it is a new layer.
        layer = by_id.get(data.id) or by_name.get(data.name)
        if layer is None or layer.pk in keep:
            layer = Layer(schedule=schedule)
        for attr in (
            "name",
            "start_date",
            "handoff_time",
            "handoff_weekday",
            "cadence",
            "interval",
            "restriction",
            "active_from",
            "active_until",
        ):
            setattr(layer, attr, getattr(data, attr))
        layer.position = position
        layer.save()
        keep.add(layer.pk)
        layer.members.all().delete()
        LayerMember.objects.bulk_create(
            [LayerMember(layer=layer, user=u, position=i) for i, u in enumerate(data.members)]
        )
    schedule.layers.exclude(pk__in=keep).delete()
    escalation_policy_default(team=team)  # the default path's layer steps find their layers
    audit_record(
        actor=by,
        action="schedule.update" if before else "schedule.create",
        obj=schedule,
        before=before,
        after=_schedule_snapshot(schedule),
    )
    log.info("schedule_saved", schedule_id=schedule.pk, layers=len(layers))
    return schedule


def _schedule_snapshot(schedule) -> dict:
    return {
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "layers": [
            {
                "name": la.name,
                "cadence": la.cadence,
                "interval": la.interval,
                "handoff_weekday": la.handoff_weekday,
                "handoff_time": la.handoff_time.isoformat(),
                "start_date": la.start_date.isoformat(),
                "restriction": la.restriction,
                "members": [m.user.username for m in la.members.select_related("user")],
            }
            for la in schedule.layers.all()
        ],
    }


def _check_window(start, end):
    if start is None or end is None:
        raise OncallError("Give both a start and an end.")
    if end <= start:
        raise OncallError("The end must be after the start.")
    if end - start > dt.timedelta(days=366):
        raise OncallError("An override can cover at most a year.")


@transaction.atomic
def override_create(*, layer, user, start, end, reason="", replaces=None, by) -> Override:
    """`user` covers `layer` from `start` to `end` (an override always wins)."""
    _check_window(start, end)
    if user.pk not in _team_member_ids(layer.schedule.team):
        raise OncallError(f"{user} is not a member of {layer.schedule.team}.")
    override = Override.objects.create(
        layer=layer,
        user=user,
        replaces=replaces,
        start=start,
        end=end,
        reason=reason.strip()[:300],
        created_by=by,
    )
    audit_record(
        actor=by, action="override.create", obj=override, after=_override_snapshot(override)
    )
    log.info("override_created", override_id=override.pk, layer_id=layer.pk)
    return override


def _override_snapshot(o) -> dict:
    return {
        "layer": o.layer.name,
        "user": o.user.username,
        "replaces": o.replaces.username if o.replaces_id else None,
        "start": o.start.isoformat(),
        "end": o.end.isoformat(),
        "reason": o.reason,
    }


@transaction.atomic
def override_delete(*, override, by) -> None:
    audit_record(
        actor=by, action="override.delete", obj=override, before=_override_snapshot(override)
    )
    override.delete()


@transaction.atomic
def swap_request_create(*, layer, requester, recipient, start, end, reason="", by) -> SwapRequest:
    """`requester` asks `recipient` to cover `layer` from `start` to `end`."""
    _check_window(start, end)
    if recipient.pk == requester.pk:
        raise OncallError("Ask someone other than yourself.")
    members = _team_member_ids(layer.schedule.team)
    if recipient.pk not in members or requester.pk not in members:
        raise OncallError(f"Both people must be members of {layer.schedule.team}.")
    swap = SwapRequest.objects.create(
        layer=layer,
        requester=requester,
        recipient=recipient,
        start=start,
        end=end,
        reason=reason.strip()[:300],
    )
    audit_record(
        actor=by,
        action="swap.request",
        obj=swap,
        after={"recipient": recipient.username, "start": start.isoformat(), "end": end.isoformat()},
    )
    _swap_bell(
        swap,
        user=recipient,
        title=f"{requester.display_name} asks you to cover {layer}",
        body=f"{_swap_window(swap)}. Reason: {swap.reason or '-'}",
        url=reverse("oncall_mine") + f"#swap-{swap.pk}",
    )
    _notify_swap(swap.pk, SwapRequest.Status.PENDING)
    return swap


def _swap_window(swap) -> str:
    """Like "From Mon 5 Jan 09:00 to Tue 6 Jan 09:00 CET", in the schedule's time zone."""
    tz = ZoneInfo(swap.layer.schedule.time_zone or "UTC")
    start, end = swap.start.astimezone(tz), swap.end.astimezone(tz)
    return f"From {start:%a} {start.day} {start:%b %H:%M} to {end:%a} {end.day} {end:%b %H:%M %Z}"


def _swap_bell(swap, *, user, title, body, url) -> None:
    """The bell (in-app notification) for a swap request or its answer, written in the same
    transaction as the change it tells of; the email follows after the commit."""
    with transaction.atomic():
        InAppNotification.objects.create(user=user, title=title[:300], body=body, url=url)
        live.publish(bell_topic(user.pk))


def _notify_swap(swap_id, status):
    enqueue("oncall.tasks.swap_request_notify", swap_id, status)


def swap_request_notify_send(*, swap_id: int, status: str = SwapRequest.Status.PENDING) -> None:
    """Email the person a swap request or its answer is for, once per status. Sent only while
    the request is still in `status`, so a request answered before its email went out sends
    the answer only."""
    swap = SwapRequest.objects.select_related("requester", "recipient", "layer__schedule").get(
        pk=swap_id
    )
    if swap.status != status:
        return
    window = f"from {swap.start:%Y-%m-%d %H:%M} to {swap.end:%Y-%m-%d %H:%M} UTC"
    if status == SwapRequest.Status.PENDING:
        to = swap.recipient
        subject = f"[Vigil] {swap.requester} asks you to cover {swap.layer}"
        message = (
            f"{swap.requester} asks you to cover {swap.layer} {window}.\n"
            f"Reason: {swap.reason or '-'}\n"
            "Accept or decline it on your My shifts page."
        )
    elif status == SwapRequest.Status.CANCELLED:
        to = swap.recipient
        subject = f"[Vigil] {swap.requester} cancelled their swap request for {swap.layer}"
        message = f"{swap.requester} no longer needs you to cover {swap.layer} {window}."
    else:
        to = swap.requester
        verb = swap.get_status_display().lower()
        subject = f"[Vigil] {swap.recipient} {verb} your swap request for {swap.layer}"
        message = f"{swap.recipient} {verb} covering {swap.layer} for you {window}."
        if status == SwapRequest.Status.DECLINED:
            message += "\nYou are still on call then: ask someone else on the layer's cover page."
    if not to.email:
        return
    with transaction.atomic():
        # Claimed in the transaction that sends: a second delivery finds it taken, and a
        # failed send (retried by the task) gives the claim back.
        claimed = (
            SwapRequest.objects.filter(pk=swap.pk, status=status)
            .exclude(emailed_for=status)
            .update(emailed_for=status)
        )
        if claimed != 1:
            return
        send_mail(
            subject=subject,
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[to.email],
        )


def _swap_answered(swap, *, by) -> None:
    """Bell and email for an accepted, declined or cancelled swap request."""
    if swap.status == SwapRequest.Status.CANCELLED:
        user, url = swap.recipient, reverse("oncall_mine")
        title = f"{by.display_name} cancelled the swap request for {swap.layer}"
    else:
        user = swap.requester
        title = f"{by.display_name} {swap.get_status_display().lower()} your swap request"
        if swap.status == SwapRequest.Status.ACCEPTED:
            day = swap.start.astimezone(ZoneInfo(swap.layer.schedule.time_zone or "UTC")).date()
            url = reverse("oncall_schedule", args=[swap.layer.schedule_id]) + f"?date={day}"
        else:
            url = reverse("oncall_cover", args=[swap.layer_id])
    _swap_bell(swap, user=user, title=title, body=f"{swap.layer}: {_swap_window(swap)}", url=url)
    _notify_swap(swap.pk, swap.status)


def _decide(swap, by, status):
    locked = SwapRequest.objects.select_for_update().get(pk=swap.pk)
    if locked.status != SwapRequest.Status.PENDING:
        raise OncallError(f"This swap request was already {locked.get_status_display().lower()}.")
    locked.status = status
    locked.decided_at = timezone.now()
    return locked


@transaction.atomic
def swap_request_accept(*, swap, by) -> Override:
    """The recipient accepts: they cover the window (an override replacing the requester)."""
    if by.pk != swap.recipient_id:
        raise OncallError("Only the person asked can accept this swap request.")
    locked = _decide(swap, by, SwapRequest.Status.ACCEPTED)
    override = override_create(
        layer=locked.layer,
        user=locked.recipient,
        replaces=locked.requester,
        start=locked.start,
        end=locked.end,
        reason=f"Swap: {locked.reason}" if locked.reason else "Swap request",
        by=by,
    )
    locked.override = override
    locked.save(update_fields=["status", "decided_at", "override"])
    audit_record(actor=by, action="swap.accept", obj=locked, after={"override": override.pk})
    _swap_answered(locked, by=by)
    return override


@transaction.atomic
def swap_request_decline(*, swap, by) -> SwapRequest:
    if by.pk != swap.recipient_id:
        raise OncallError("Only the person asked can decline this swap request.")
    locked = _decide(swap, by, SwapRequest.Status.DECLINED)
    locked.save(update_fields=["status", "decided_at"])
    audit_record(actor=by, action="swap.decline", obj=locked)
    _swap_answered(locked, by=by)
    return locked


@transaction.atomic
def swap_request_cancel(*, swap, by) -> SwapRequest:
    if by.pk != swap.requester_id:
        raise OncallError("Only the person who asked can cancel this swap request.")
    locked = _decide(swap, by, SwapRequest.Status.CANCELLED)
    locked.save(update_fields=["status", "decided_at"])
    audit_record(actor=by, action="swap.cancel", obj=locked)
    _swap_answered(locked, by=by)
    return locked


@transaction.atomic
def handoff_note_add(*, layer, author, handoff_at, body: str) -> HandoffNote:
    body = body.strip()
    if not body:
        raise OncallError("Write something for the next person on call.")
    note = HandoffNote.objects.create(layer=layer, author=author, handoff_at=handoff_at, body=body)
    audit_record(actor=author, action="handoff.note", obj=note, after={"body": body[:500]})
    return note


@transaction.atomic
def checklist_tick(*, reminder, key: str, checked: bool, by) -> ShiftReminder:
    if key not in dict(PRE_SHIFT_CHECKLIST):
        raise OncallError("No such checklist item.")
    if by.pk != reminder.user_id:
        raise OncallError("Only the person on call ticks their own checklist.")
    locked = ShiftReminder.objects.select_for_update().get(pk=reminder.pk)
    before = list(locked.checked)
    items = set(locked.checked)
    items.add(key) if checked else items.discard(key)
    locked.checked = [k for k, _ in PRE_SHIFT_CHECKLIST if k in items]
    locked.save(update_fields=["checked"])
    audit_record(actor=by, action="checklist.tick", obj=locked, before=before, after=locked.checked)
    return locked


def shift_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Remind everyone whose shift starts within REMINDER_LEAD. One reminder per shift, ever."""
    now = now or timezone.now()
    loaded = load_schedules(Schedule.objects.select_related("team"), now, now + REMINDER_LEAD)
    sent = 0
    for item in loaded:
        computed = item.compute(now, now + REMINDER_LEAD)
        for layer in item.layers:
            for shift in computed.shifts[layer.pk]:
                if not (now <= shift.start < now + REMINDER_LEAD):
                    continue
                reminder, _ = ShiftReminder.objects.get_or_create(
                    layer=layer,
                    user_id=shift.user_id,
                    shift_start=shift.start,
                    defaults={"shift_end": shift.end},
                )
                # Claim the sending: only the worker whose update changes the row sends.
                claimed = ShiftReminder.objects.filter(pk=reminder.pk, sent_at=None).update(
                    sent_at=timezone.now()
                )
                if claimed != 1:
                    continue
                user = item.users[shift.user_id]
                try:
                    _send_reminder(user=user, layer=layer, shift=shift, schedule=item.schedule)
                except OSError:
                    # Release the claim so the next run tries again; nobody was reminded yet.
                    ShiftReminder.objects.filter(pk=reminder.pk).update(sent_at=None)
                    log.exception("shift_reminder_failed", user_id=user.pk, layer_id=layer.pk)
                    continue
                sent += 1
    return sent


def _send_reminder(*, user, layer, shift, schedule):
    log.info("shift_reminder_sent", user_id=user.pk, layer_id=layer.pk)
    if not user.email:
        return
    tz = ZoneInfo(schedule.time_zone)
    items = "\n".join(f"[ ] {label}" for _, label in PRE_SHIFT_CHECKLIST)
    starts = shift.start.astimezone(tz)
    send_mail(
        subject=f"[Vigil] Your {layer.name} shift starts {starts:%a %d %b %H:%M}",
        message=(
            f"You are on call for {schedule} ({layer.name}) from "
            f"{shift.start.astimezone(tz):%a %d %b %Y %H:%M} to "
            f"{shift.end.astimezone(tz):%a %d %b %Y %H:%M} ({schedule.time_zone}).\n\n"
            f"Before your shift:\n{items}\n\nTick them on your My shifts page."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )


def gaps_raise(*, now: dt.datetime | None = None) -> int:
    """Tell each team's managers about gaps in the next GAP_HORIZON, once per gap."""
    now = now or timezone.now()
    loaded = load_schedules(Schedule.objects.select_related("team"), now, now + GAP_HORIZON)
    raised = 0
    for item in loaded:
        computed = item.compute(now, now + GAP_HORIZON)
        for layer in item.layers:
            for start, end in computed.gaps[layer.pk]:
                try:
                    with transaction.atomic():
                        GapNotice.objects.create(layer=layer, start=start, end=end)
                except IntegrityError:
                    continue
                _send_gap_notice(schedule=item.schedule, layer=layer, start=start, end=end)
                raised += 1
    return raised


def _send_gap_notice(*, schedule, layer, start, end):
    managers = list(
        Membership.objects.filter(
            team=schedule.team, role__in=roles_at_least(Role.MANAGER), user__is_active=True
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    log.warning("oncall_gap_raised", layer_id=layer.pk, start=start.isoformat())
    if not managers:
        return
    tz = ZoneInfo(schedule.time_zone)
    send_mail(
        subject=f"[Vigil] Nobody is on call for {layer} from {start.astimezone(tz):%a %d %b %H:%M}",
        message=(
            f"{schedule} has nobody in {layer.name} from {start.astimezone(tz):%a %d %b %Y %H:%M} "
            f"to {end.astimezone(tz):%a %d %b %Y %H:%M} ({schedule.time_zone}).\n"
            "Add an override or fix the rotation before then."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=managers,
    )


@transaction.atomic
def calendar_token_regenerate(*, by, schedule=None, user=None) -> tuple[CalendarToken, str]:
    """Revoke the current feed URL (if any) and issue a new one. The raw token is returned to
    be shown once; only its hash is kept."""
    calendar_token_revoke(by=by, schedule=schedule, user=user)
    raw = secrets.token_urlsafe(32)
    token = CalendarToken.objects.create(
        schedule=schedule, user=user, token_hash=token_hash(raw), prefix=raw[:6], created_by=by
    )
    audit_record(actor=by, action="calendar_token.create", obj=token)
    return token, raw


@transaction.atomic
def calendar_token_revoke(*, by, schedule=None, user=None) -> int:
    live = CalendarToken.objects.select_for_update().filter(
        schedule=schedule, user=user, revoked_at=None
    )
    count = 0
    for token in live:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(actor=by, action="calendar_token.revoke", obj=token)
        count += 1
    return count


@dataclass
class StepData:
    target_kind: str
    wait_minutes: int
    layer: Layer | None = None
    user: object | None = None


@transaction.atomic
def escalation_policy_save(*, policy, repeat: int, steps: list[StepData], by):
    """Replace a policy's steps (in order) and its repeat count, all or nothing."""
    problems = []
    if not steps:
        problems.append("An escalation policy needs at least one step.")
    if repeat < 1:
        problems.append("Run the steps at least once.")
    members = _team_member_ids(policy.team)
    for n, step in enumerate(steps, start=1):
        if step.target_kind == "layer" and (
            step.layer is None or step.layer.schedule.team_id != policy.team_id
        ):
            problems.append(f"Step {n}: choose a layer of {policy.team}.")
        if step.target_kind == "user" and (step.user is None or step.user.pk not in members):
            problems.append(f"Step {n}: choose a member of {policy.team}.")
    if problems:
        raise OncallError(" ".join(problems))
    locked = EscalationPolicy.objects.select_for_update().get(pk=policy.pk)
    before = _policy_snapshot(locked)
    locked.repeat = repeat
    locked.save(update_fields=["repeat"])
    locked.steps.all().delete()
    EscalationStep.objects.bulk_create(
        [
            EscalationStep(
                policy=locked,
                position=i,
                target_kind=s.target_kind,
                layer=s.layer if s.target_kind == "layer" else None,
                user=s.user if s.target_kind == "user" else None,
                wait_minutes=s.wait_minutes,
            )
            for i, s in enumerate(steps)
        ]
    )
    audit_record(
        actor=by,
        action="escalation_policy.update",
        obj=locked,
        before=before,
        after=_policy_snapshot(locked),
    )
    return locked


def _policy_snapshot(policy) -> dict:
    return {
        "repeat": policy.repeat,
        "steps": [
            {
                "target_kind": s.target_kind,
                "layer": s.layer_id,
                "user": s.user_id,
                "wait_minutes": s.wait_minutes,
            }
            for s in policy.steps.all()
        ],
    }


@transaction.atomic
def contact_method_add(*, user, kind: str, value: str, label: str = "") -> ContactMethod:
    method = ContactMethod.objects.create(
        user=user, kind=kind, value=value.strip(), label=label.strip()
    )
    audit_record(actor=user, action="contact_method.add", obj=method, after={"kind": kind})
    return method


@transaction.atomic
def contact_method_remove(*, method, by) -> None:
    audit_record(actor=by, action="contact_method.remove", obj=method, before={"kind": method.kind})
    method.delete()


def escalation_policy_default(*, team) -> EscalationPolicy:
    """Give a team the seed document's default escalation policy if it has none:
      step position 0: target_kind "layer", the "Primary" layer, wait_minutes 5;
      step position 1: target_kind "layer", the "Secondary" layer, wait_minutes 10;
      step position 2: target_kind "lead" (the team's engineering_lead), wait_minutes 15;
      repeat 1.
    So the primary is notified at +0, the secondary at +5 and the lead at +15 minutes; after
    the last step's wait, the list starts again if repeat > 1. wait_minutes is the time to wait
    after notifying a step before moving on. The layers are found by name ("Primary" /
    "Secondary") in the team's schedules, falling back to the first and second layer by
    position; a layer step at position 0 or 1 whose layer does not exist (yet, or any more) has
    layer=None and is filled in by a later call once the team has such a layer (saving a
    schedule makes that call). Made with every team (oncall.receivers); safe to call
    concurrently. Returns the policy.
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
                            layer=default_layer(team, PRIMARY, 0),
                            wait_minutes=5,
                        ),
                        EscalationStep(
                            policy=policy,
                            position=1,
                            target_kind=EscalationStep.TargetKind.LAYER,
                            layer=default_layer(team, SECONDARY, 1),
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
        missing = policy.steps.filter(
            target_kind=EscalationStep.TargetKind.LAYER, layer=None, position__in=[0, 1]
        )
        for step in missing:
            name, position = (PRIMARY, 0) if step.position == 0 else (SECONDARY, 1)
            layer = default_layer(team, name, position)
            if layer is not None:
                step.layer = layer
                step.save(update_fields=["layer"])
    return policy
