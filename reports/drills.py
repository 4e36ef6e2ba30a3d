"""Drills: a rehearsal of a night through the real alert pipeline. A drill records its
scenario's change, sends the scenario's alert through the team's internal integration
(routing, an incident marked is_drill, escalation narrowed to the people who opted in, every
channel's message marked "[DRILL]"), and ends with a report of the response's times against
the source document's targets. The drill schedule starts one every N weeks at a random time
inside the team's business hours, told in advance to the team's managers only.

Targets (from the incident-response chapter): acknowledge within 5 minutes; the first runbook
step within the checklist's detection phase (0-5 minutes: dashboard opened, recent changes
checked), so 5 minutes; the rollback decision and mitigation within its mitigation phase
(5-15 minutes: "obvious fix attempted (rollback, scale, etc.)", "mitigation confirmed
working"), so 15 minutes each."""

import random
import re
import zoneinfo
from datetime import UTC, datetime, timedelta

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import slugify

from alerts.models import AlertGroup
from alerts.payloads import NormalizedAlert
from alerts.routing import is_business_hours
from alerts.services import ingest, internal_integration
from audit.services import audit_record
from changes.models import DRILL_KEY, ChangeKind, ChangeSource, RollbackDecision
from changes.services import ChangeError, change_record
from incidents.models import EventKind, Status, TimelineEvent
from incidents.services import IncidentError, incident_change_status
from paging.models import Channel, Escalation, Notification
from paging.services import escalation_start, outbox_write
from reports.models import Drill, DrillOptIn, DrillScenario, DrillSchedule, DrillState
from teams.access import at_least, members_with_role, role_in
from teams.models import Role
from teams.selectors import team_routing

logger = structlog.get_logger(__name__)

THREE_AM_SLUG = "three-am-night"
DRILL_LABEL = "vigil_drill"

TARGETS = {
    "acknowledge": ("Time to acknowledge", 300),
    "first_runbook_step": ("Time to the first runbook step", 300),
    "rollback_decision": ("Time to the rollback decision", 900),
    "mitigation": ("Time to mitigation", 900),
}

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = {"alertname", "severity", DRILL_LABEL}


class DrillError(ValueError):
    """A drill request that cannot be honoured; the message is shown to the person."""


# --- scenarios and opt-ins ---------------------------------------------------------------------


def scenarios_for(team):
    """The built-in scenarios, then the team's own."""
    return DrillScenario.objects.filter(Q(team=None) | Q(team=team)).order_by(
        F("team_id").asc(nulls_first=True), "name"
    )


def _is_manager(user, team) -> bool:
    if user is None:
        return False
    if user.is_superuser:
        return True
    return at_least(role_in(user, team.pk), Role.MANAGER)


def _text(value, field, limit, *, required=False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DrillError(f"The {field} must be text.")
    value = value.strip()
    if required and not value:
        raise DrillError(f"A scenario needs {field}.")
    if len(value) > limit:
        raise DrillError(f"The {field} is limited to {limit} characters.")
    if "\x00" in value:
        raise DrillError(f"The {field} contains a character Vigil cannot store.")
    return value


def _string_map(value, field, *, label_names) -> dict:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise DrillError(f"The {field} must be pairs of a name and a value.")
    if len(value) > 30:
        raise DrillError(f"A scenario has at most 30 {field}.")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise DrillError(f"Every one of the {field} must be text: {key!r}.")
        if label_names and not LABEL_NAME.match(key):
            raise DrillError(f"{key!r} is not a label name (letters, digits and _).")
        if label_names and key in RESERVED_LABELS:
            raise DrillError(f"The label {key!r} is set by the drill itself.")
        if len(key) > 100 or len(item) > 1000 or "\x00" in key + item:
            raise DrillError(f"The {field} entry {key[:40]!r} is too long.")
        out[key] = item
    return out


def scenario_save(
    *,
    team,
    by,
    name,
    alert_name,
    severity="critical",
    service="",
    description="",
    labels=None,
    annotations=None,
    value="",
    change_version="",
    change_minutes_before=3,
    scenario=None,
) -> DrillScenario:
    """Create (or, given `scenario`, change) one of the team's own scenarios."""
    if not _is_manager(by, team):
        raise DrillError(f"Only a manager of {team} can write its drill scenarios.")
    if scenario is not None and scenario.team_id != team.pk:
        raise DrillError("Only the team's own scenarios can be changed; built-in ones cannot.")
    fields = {
        "name": _text(name, "name", 100, required=True),
        "alert_name": _text(alert_name, "alert name", 200, required=True),
        "severity": _text(severity, "severity", 16, required=True).lower(),
        "service": _text(service, "service", 100),
        "description": _text(description, "description", 5000),
        "value": _text(value, "value", 40),
        "change_version": _text(change_version, "change version", 100),
        "labels": _string_map(labels, "labels", label_names=True),
        "annotations": _string_map(annotations, "annotations", label_names=False),
    }
    if fields["severity"] not in ("critical", "warning", "info"):
        raise DrillError("The severity is one of critical, warning or info.")
    try:
        minutes = int(change_minutes_before)
    except (TypeError, ValueError):
        raise DrillError("The change's minutes before the alert must be a whole number.") from None
    if not 0 <= minutes <= 120:
        raise DrillError("The change is recorded 0 to 120 minutes before the alert.")
    fields["change_minutes_before"] = minutes
    slug = slugify(fields["name"])[:60]
    if not slug:
        raise DrillError("The name needs at least one letter or digit.")
    taken = DrillScenario.objects.filter(team=team, slug=slug)
    if scenario is not None:
        taken = taken.exclude(pk=scenario.pk)
    if taken.exists():
        raise DrillError(f"{team} already has a scenario named {fields['name']!r}.")
    with transaction.atomic():
        if scenario is None:
            scenario = DrillScenario.objects.create(team=team, slug=slug, created_by=by, **fields)
            action = "drill_scenario.create"
        else:
            for key, item in fields.items():
                setattr(scenario, key, item)
            scenario.slug = slug
            scenario.save()
            action = "drill_scenario.update"
        audit_record(
            actor=by,
            action=action,
            obj=scenario,
            after={"team": team.slug, "name": scenario.name, "alert_name": scenario.alert_name},
        )
    return scenario


def opt_in(*, team, user) -> DrillOptIn:
    """Take part in the team's drills (idempotent); responders and above only."""
    if not at_least(role_in(user, team.pk), Role.RESPONDER):
        raise DrillError(f"Only responders of {team} can take part in its drills.")
    with transaction.atomic():
        row, created = DrillOptIn.objects.get_or_create(team=team, user=user)
        if created:
            audit_record(actor=user, action="drill.opt_in", obj=row, after={"team": team.slug})
    return row


def opt_out(*, team, user) -> None:
    with transaction.atomic():
        row = DrillOptIn.objects.filter(team=team, user=user).first()
        if row is not None:
            audit_record(actor=user, action="drill.opt_out", obj=row, before={"team": team.slug})
            row.delete()


def opted_in(team):
    """The active members of the team who take part in its drills."""
    return (
        get_user_model()
        .objects.filter(drill_opt_ins__team=team, is_active=True, memberships__team=team)
        .distinct()
    )


# --- a drill -----------------------------------------------------------------------------------


def _group_key(drill) -> str:
    return f"vigil:drill:{drill.pk}"


def _alert(drill, scenario, *, status, at) -> NormalizedAlert:
    labels = {**scenario.labels, "alertname": scenario.alert_name, "severity": scenario.severity}
    if scenario.service:
        labels["service"] = scenario.service
    labels[DRILL_LABEL] = str(drill.pk)
    annotations = {
        "summary": f"[DRILL] {scenario.name}",
        "description": scenario.description or f"Drill: {scenario.alert_name}",
        **scenario.annotations,
    }
    if scenario.value:
        annotations["value"] = scenario.value
    for name in ("runbook", "dashboard"):
        link = annotations.get(name, "")
        if link.startswith("/"):  # a page of this Vigil: the messages' buttons need a full URL
            annotations[name] = settings.SITE_URL.rstrip("/") + link
    return NormalizedAlert(
        group_key=_group_key(drill),
        fingerprint=f"drill-{drill.pk}",
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=at,
    )


def drill_start(*, team, scenario, by=None, schedule=None, now=None) -> Drill:
    """Start a drill of `scenario` for `team` (see the module's docstring)."""
    now = now or timezone.now()
    if scenario.team_id not in (None, team.pk):
        raise DrillError("That scenario belongs to another team.")
    if by is not None and not _is_manager(by, team):
        raise DrillError(f"Only a manager of {team} can start a drill.")
    people = list(opted_in(team))
    if not people:
        raise DrillError(
            f"Nobody in {team} has opted in to drills: a drill pages only the people who "
            "take part, so at least one has to opt in first."
        )
    with transaction.atomic():
        drill = Drill.objects.create(
            team=team, scenario=scenario, started_by=by, schedule=schedule, started_at=now
        )
        drill.participants.set(people)
        change = None
        if scenario.change_version:
            try:
                change, _ = change_record(
                    team=team,
                    service=scenario.service or team.slug,
                    summary=f"[DRILL] Deploy of {scenario.change_version} (drill {drill.pk})",
                    source=ChangeSource.API,
                    kind=ChangeKind.DEPLOY,
                    environment="production",
                    version=scenario.change_version,
                    author="Vigil drill",
                    occurred_at=now - timedelta(minutes=scenario.change_minutes_before),
                    external_id=f"vigil-drill-{drill.pk}",
                    by=by,
                    details={DRILL_KEY: drill.pk},
                )
            except ChangeError as exc:
                raise DrillError(f"The scenario's change could not be recorded: {exc}") from exc
        integration = internal_integration(team)
        ingest(
            integration=integration,
            alerts=[_alert(drill, scenario, status="firing", at=now)],
            received_at=now,
        )
        group = (
            AlertGroup.objects.filter(integration=integration, group_key=_group_key(drill))
            .select_related("incident")
            .first()
        )
        if group is None or group.incident_id is None:
            raise DrillError(
                "The drill's alert opened no incident (a silence, maintenance or a routing "
                "rule held it back); nothing was sent."
            )
        drill.incident = group.incident
        drill.save(update_fields=["incident"])
        if not Escalation.objects.filter(incident=group.incident).exists():
            escalation_start(incident=group.incident, at=now)
        audit_record(
            actor=by,
            action="drill.start",
            obj=drill,
            after={
                "team": team.slug,
                "scenario": scenario.slug,
                "incident": group.incident_id,
                "participants": sorted(u.username for u in people),
                "change": change.pk if change else None,
                "schedule": schedule.pk if schedule else None,
            },
        )
    logger.info("drill_started", drill_id=drill.pk, team=team.slug, incident_id=drill.incident_id)
    return drill


def _seconds(start, at):
    return None if at is None else max(0.0, (at - start).total_seconds())


def drill_report(drill, *, now=None) -> dict:
    """The drill's times from its alert against the targets (live while it runs)."""
    start = drill.started_at
    participants = {u.pk: u.username for u in drill.participants.all()}
    incident = drill.incident
    reached = dict.fromkeys(TARGETS)
    acknowledged_by = None
    outsiders = []
    if incident is not None:
        events = TimelineEvent.objects.filter(
            incident_id=incident.pk, deleted_at__isnull=True, occurred_at__gte=start
        ).select_related("author")
        for event in events.filter(kind=EventKind.ACK).order_by("occurred_at", "seq"):
            if event.author_id is None:
                continue
            if event.author_id in participants:
                if reached["acknowledge"] is None:
                    reached["acknowledge"] = event.occurred_at
                    acknowledged_by = participants[event.author_id]
            else:
                outsiders.append(
                    {"user": event.author.username, "at": event.occurred_at.isoformat()}
                )
        step = events.filter(kind=EventKind.RUNBOOK_STEP).order_by("occurred_at", "seq").first()
        reached["first_runbook_step"] = step.occurred_at if step else None
        decision = (
            RollbackDecision.objects.filter(incident_id=incident.pk, decided_at__gte=start)
            .order_by("decided_at")
            .first()
        )
        reached["rollback_decision"] = decision.decided_at if decision else None
        incident.refresh_from_db(fields=["mitigated_at"])
        reached["mitigation"] = incident.mitigated_at
    times = []
    for key, (label, target) in TARGETS.items():
        seconds = _seconds(start, reached[key])
        times.append(
            {
                "key": key,
                "label": label,
                "seconds": seconds,
                "target_seconds": target,
                "within_target": None if seconds is None or target is None else seconds <= target,
            }
        )
    return {
        "times": times,
        "skipped": [t["key"] for t in times if t["seconds"] is None],
        "outsider_acknowledgements": outsiders,
        "participants": sorted(participants.values()),
        "acknowledged_by": acknowledged_by,
        "started_at": start.isoformat(),
    }


def drill_end(*, drill, by=None, now=None) -> Drill:
    """End the drill: its report written, its alert and incident resolved. Idempotent."""
    now = now or timezone.now()
    if by is not None and not _is_manager(by, drill.team):
        raise DrillError(f"Only a manager of {drill.team} can end a drill.")
    with transaction.atomic():
        locked = (
            Drill.objects.select_for_update().select_related("team", "scenario").get(pk=drill.pk)
        )
        if locked.state == DrillState.ENDED:
            return locked
        report = drill_report(locked, now=now)
        report["ended_at"] = now.isoformat()
        locked.report = report
        locked.state = DrillState.ENDED
        locked.ended_at = now
        locked.ended_by = by
        locked.save(update_fields=["report", "state", "ended_at", "ended_by"])
        ingest(
            integration=internal_integration(locked.team),
            alerts=[_alert(locked, locked.scenario, status="resolved", at=locked.started_at)],
            received_at=now,
        )
        incident = locked.incident
        if incident is not None:
            incident.refresh_from_db()
            if incident.status != Status.RESOLVED:
                try:
                    incident_change_status(incident=incident, status=Status.RESOLVED, by=by, at=now)
                except IncidentError as exc:
                    logger.warning(
                        "drill_incident_not_resolved", drill_id=locked.pk, error=str(exc)
                    )
        audit_record(
            actor=by,
            action="drill.end",
            obj=locked,
            after={"skipped": report["skipped"], "acknowledged_by": report["acknowledged_by"]},
        )
    drill.__dict__.update({k: getattr(locked, k) for k in ("report", "state", "ended_at")})
    logger.info("drill_ended", drill_id=locked.pk)
    return locked


def drill_log(team):
    return Drill.objects.filter(team=team).select_related("scenario", "incident")


# --- the schedule ------------------------------------------------------------------------------


def business_intervals(team, start, end) -> list[tuple[datetime, datetime]]:
    """The team's business hours between start and end, as UTC intervals."""
    routing = team_routing(team)
    tz = zoneinfo.ZoneInfo(team.time_zone)
    if routing.business_end <= routing.business_start:
        return []
    out = []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        if day.weekday() in routing.business_days:
            opens = datetime.combine(day, routing.business_start, tzinfo=tz).astimezone(UTC)
            closes = datetime.combine(day, routing.business_end, tzinfo=tz).astimezone(UTC)
            lo, hi = max(opens, start), min(closes, end)
            if lo < hi:
                out.append((lo, hi))
        day += timedelta(days=1)
    return out


def random_business_time(team, *, start, end, rng=None) -> datetime:
    """A random moment (whole minute) inside the team's business hours in [start, end)."""
    rng = rng or random.SystemRandom()
    routing = team_routing(team)
    intervals = business_intervals(team, start, end)
    total = sum((hi - lo).total_seconds() for lo, hi in intervals)
    if total < 60:
        raise DrillError(
            f"{team} has no business hours to hold a drill in: set its business days and hours."
        )
    for _ in range(50):
        offset = rng.uniform(0, total)
        for lo, hi in intervals:
            length = (hi - lo).total_seconds()
            if offset < length:
                at = (lo + timedelta(seconds=offset)).replace(second=0, microsecond=0)
                if at < lo:
                    at += timedelta(minutes=1)
                break
            offset -= length
        else:
            continue
        if at < end and is_business_hours(routing, team.time_zone, at):
            return at
    return intervals[0][0]


def _next_at(team, *, every_weeks, after, now, rng=None) -> datetime:
    """Around every_weeks after `after`: a random time in the week centred on that day."""
    centre = after + timedelta(weeks=every_weeks)
    start = max(now, centre - timedelta(days=3, hours=12))
    return random_business_time(team, start=start, end=start + timedelta(days=7), rng=rng)


def _tell_managers(schedule) -> int:
    """The team's managers (only they) learn when the next drill is, in-app and by email."""
    team = schedule.team
    tz = zoneinfo.ZoneInfo(team.time_zone)
    when = schedule.next_at.astimezone(tz)
    title = f"[Vigil] A drill for {team} is set for {when:%a %d %b %Y %H:%M} ({team.time_zone})"
    body = (
        f"The next drill ({schedule.scenario}) starts at {when:%a %d %b %Y %H:%M} "
        f"{team.time_zone}. "
        "Only managers are told in advance: please keep it to yourself."
    )
    stamp = schedule.next_at.isoformat()
    rows = []
    for user in members_with_role(team, Role.MANAGER):
        base = f"drill-notice:{schedule.pk}:{stamp}:{user.pk}"
        rows.append(
            Notification(
                key=f"{base}:{Channel.IN_APP}",
                user=user,
                channel=Channel.IN_APP,
                purpose="drill_notice",
                target=user.username,
                payload={"title": title[:300], "body": body, "url": "", "ack_url": ""},
            )
        )
        if user.email:
            rows.append(
                Notification(
                    key=f"{base}:{Channel.EMAIL}",
                    user=user,
                    channel=Channel.EMAIL,
                    purpose="drill_notice",
                    target=user.email,
                    payload={"to": user.email, "subject": title[:200], "body": body},
                )
            )
    # Fresh keys: delivered in-app now, by email after commit.
    if rows and not Notification.objects.filter(key=rows[0].key).exists():
        outbox_write(rows, fresh=True)
    schedule.managers_told_for = schedule.next_at
    schedule.save(update_fields=["managers_told_for"])
    return len(rows)


def schedule_save(*, team, by, scenario, every_weeks, enabled=True, now=None) -> DrillSchedule:
    """Ask for a drill every `every_weeks` weeks; the first at a random business-hours time
    within that many weeks. Managers only."""
    now = now or timezone.now()
    if by is not None and not _is_manager(by, team):
        raise DrillError(f"Only a manager of {team} can schedule its drills.")
    if scenario.team_id not in (None, team.pk):
        raise DrillError("That scenario belongs to another team.")
    try:
        weeks = int(every_weeks)
    except (TypeError, ValueError):
        raise DrillError("Every how many weeks: a whole number from 1 to 52.") from None
    if not 1 <= weeks <= 52:
        raise DrillError("A drill can be scheduled every 1 to 52 weeks.")
    with transaction.atomic():
        schedule = DrillSchedule.objects.select_for_update().filter(team=team).first()
        before = None
        if schedule is None:
            schedule = DrillSchedule(team=team, created_by=by)
        else:
            before = {"every_weeks": schedule.every_weeks, "enabled": schedule.enabled}
        changed = schedule.pk is None or schedule.every_weeks != weeks or not schedule.next_at
        schedule.scenario = scenario
        schedule.every_weeks = weeks
        schedule.enabled = bool(enabled)
        if schedule.enabled and (changed or schedule.next_at <= now):
            schedule.next_at = random_business_time(
                team, start=now, end=now + timedelta(weeks=weeks)
            )
        elif not schedule.enabled:
            schedule.next_at = None
        schedule.save()
        if schedule.enabled and schedule.managers_told_for != schedule.next_at:
            _tell_managers(schedule)
        audit_record(
            actor=by,
            action="drill_schedule.save",
            obj=schedule,
            before=before,
            after={"every_weeks": weeks, "enabled": schedule.enabled, "scenario": scenario.slug},
        )
    return schedule


def schedules_tick(*, now=None, limit=20, rng=None) -> dict:
    """Start the drills that are due (each schedule claimed with SKIP LOCKED) and pick each
    one's next time."""
    now = now or timezone.now()
    started = failed = 0
    with transaction.atomic():
        due = list(
            DrillSchedule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("team", "scenario")
            .filter(enabled=True, next_at__lte=now)
            .order_by("next_at")[:limit]
        )
        for schedule in due:
            try:
                with transaction.atomic():
                    drill_start(
                        team=schedule.team, scenario=schedule.scenario, schedule=schedule, now=now
                    )
                started += 1
            except DrillError as exc:
                failed += 1
                logger.warning(
                    "scheduled_drill_not_started", schedule_id=schedule.pk, error=str(exc)
                )
            try:
                schedule.next_at = _next_at(
                    schedule.team,
                    every_weeks=schedule.every_weeks,
                    after=schedule.next_at,
                    now=now,
                    rng=rng,
                )
            except DrillError:
                schedule.next_at = None
                schedule.enabled = False
            schedule.save(update_fields=["next_at", "enabled"])
            if schedule.next_at:
                _tell_managers(schedule)
    return {"due": len(due), "started": started, "failed": failed}
