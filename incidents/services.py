"""Writes that touch an incident and its timeline. Keyword-only; each runs in one transaction
and writes its audit entry and timeline event in that same transaction."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from audit.services import audit_record
from common import live
from common.markdown import render_markdown
from incidents import signals
from incidents.models import (
    POST_ROLLBACK_CHECKLIST,
    POST_ROLLBACK_FIRST_POSITION,
    RECORDED_FACTS,
    RESPONSE_CHECKLIST,
    STATUS_TIMESTAMP,
    ChecklistFact,
    ChecklistItem,
    ChecklistPhase,
    EventKind,
    Incident,
    Severity,
    Status,
    TimelineEvent,
    TimelineEventRevision,
    TransitionError,
)

MAX_NOTE_LENGTH = 20_000
# Nothing on an incident is dated before this: an earlier date is a slip (0026 for 2026), and
# the oldest dates cannot be stored in PostgreSQL or shown in every time zone.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# How far ahead of this server's clock a backdated note may be (browsers' clocks drift).
CLOCK_SLACK = timedelta(seconds=5)
ROLE_FIELDS = {"commander": "Commander", "comms_lead": "Communications lead", "scribe": "Scribe"}
# The statuses whose recording ticks a checklist item, and that item's fact.
STATUS_FACTS = {
    Status.ACKNOWLEDGED: ChecklistFact.ACKNOWLEDGED,
    Status.RESOLVED: ChecklistFact.RESOLVED,
}


class IncidentError(ValueError):
    """A request the incident cannot honour; the message is shown to the person."""


def _next_seq(incident_id: int, count: int = 1) -> int:
    """Take the incident's next `count` timeline seqs and return the last. One UPDATE …
    RETURNING: its row lock orders concurrent writers, in one round trip."""
    table = connection.ops.quote_name(Incident._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET timeline_seq = timeline_seq + %s WHERE id = %s "  # noqa: S608
            "RETURNING timeline_seq",
            [count, incident_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Incident.DoesNotExist(f"No incident {incident_id}")
    # Delivered at this transaction's commit, with the events it writes.
    live.publish(f"incident:{incident_id}")
    return row[0]


def time_out_of_range(value, *, slack=timedelta(0)) -> str:
    """What is wrong with a time a person gave, to end a sentence ("in the future", "before
    2000-01-01"); "" when there is none or it may be used."""
    if value is None:
        return ""
    if value > timezone.now() + slack:
        return "in the future"
    if value < EARLIEST_TIME:
        return "before 2000-01-01"
    return ""


def _event_row(*, incident, kind, body, author=None, occurred_at=None, data=None, pinned=False):
    if len(body) > MAX_NOTE_LENGTH:
        raise IncidentError(f"An event is limited to {MAX_NOTE_LENGTH:,} characters.")
    now = timezone.now()
    if wrong := time_out_of_range(occurred_at, slack=CLOCK_SLACK):
        raise IncidentError(f"An event cannot be dated {wrong}.")
    return TimelineEvent(
        incident_id=incident.pk,
        kind=EventKind(kind),
        body=body,
        body_html=render_markdown(body),
        occurred_at=occurred_at or now,
        created_at=now,
        author=author,
        pinned=pinned,
        data=data or {},
    )


def timeline_event_add(
    *, incident, kind, body, author=None, occurred_at=None, data=None, pinned=False
) -> TimelineEvent:
    """Append an event to an incident's timeline. Every app records through this."""
    return timeline_events_add(
        incident=incident,
        events=[
            {
                "kind": kind,
                "body": body,
                "author": author,
                "occurred_at": occurred_at,
                "data": data,
                "pinned": pinned,
            }
        ],
    )[0]


def timeline_events_add(*, incident, events: list[dict]) -> list[TimelineEvent]:
    """Append several events at once (each a dict of timeline_event_add's arguments), in
    order, with consecutive seqs: two statements however many events."""
    rows = [_event_row(incident=incident, **event) for event in events]
    # No savepoint: inside a caller's transaction a failure here fails that one as a whole.
    with transaction.atomic(savepoint=False):
        last = _next_seq(incident.pk, len(rows))
        for offset, row in enumerate(rows):
            row.seq = last - len(rows) + 1 + offset
        TimelineEvent.objects.bulk_create(rows)
    return rows


def timeline_note_add(*, incident, body, author, occurred_at=None) -> TimelineEvent:
    body = (body or "").strip()
    if not body:
        raise IncidentError("A note needs some text.")
    with transaction.atomic():
        event = timeline_event_add(
            incident=incident,
            kind=EventKind.NOTE,
            body=body,
            author=author,
            occurred_at=occurred_at,
        )
        audit_record(
            actor=author,
            action="timeline.note_add",
            obj=event,
            after={"body": body, "occurred_at": event.occurred_at.isoformat()},
        )
    return event


def timeline_note_edit(*, event, body, by) -> TimelineEvent:
    body = (body or "").strip()
    if not body:
        raise IncidentError("A note needs some text.")
    if len(body) > MAX_NOTE_LENGTH:
        raise IncidentError(f"A note is limited to {MAX_NOTE_LENGTH:,} characters.")
    with transaction.atomic():
        event = TimelineEvent.objects.select_for_update().get(pk=event.pk)
        if event.kind != EventKind.NOTE or event.deleted_at:
            raise IncidentError("Only a note that is still there can be edited.")
        if event.author_id != by.pk:
            raise IncidentError("Only the author of a note can edit it.")
        if body == event.body:
            return event
        TimelineEventRevision.objects.create(event=event, body=event.body, replaced_by=by)
        before = event.body
        event.body, event.body_html = body, render_markdown(body)
        event.edited_at = timezone.now()
        event.seq = _next_seq(event.incident_id)
        event.save(update_fields=["body", "body_html", "edited_at", "seq"])
        audit_record(
            actor=by,
            action="timeline.note_edit",
            obj=event,
            before={"body": before},
            after={"body": body},
        )
    return event


def timeline_event_set_pinned(*, event, pinned: bool, by) -> TimelineEvent:
    with transaction.atomic():
        event = TimelineEvent.objects.select_for_update().get(pk=event.pk)
        if event.deleted_at:
            raise IncidentError("A deleted event cannot be pinned.")
        if event.pinned == pinned:
            return event
        event.pinned = pinned
        event.seq = _next_seq(event.incident_id)
        event.save(update_fields=["pinned", "seq"])
        audit_record(
            actor=by,
            action="timeline.pin" if pinned else "timeline.unpin",
            obj=event,
            before={"pinned": not pinned},
            after={"pinned": pinned},
        )
    return event


def timeline_note_delete(*, event, by) -> TimelineEvent:
    """Soft delete: the note disappears from the timeline, its text stays in the audit trail."""
    with transaction.atomic():
        event = TimelineEvent.objects.select_for_update().get(pk=event.pk)
        if event.kind != EventKind.NOTE:
            raise IncidentError("Only notes can be deleted; Vigil's own records stay.")
        if event.deleted_at:
            return event
        if event.author_id != by.pk and not by.is_superuser:
            raise IncidentError("Only the author of a note can delete it.")
        event.deleted_at, event.deleted_by = timezone.now(), by
        event.seq = _next_seq(event.incident_id)
        event.save(update_fields=["deleted_at", "deleted_by", "seq"])
        audit_record(
            actor=by,
            action="timeline.note_delete",
            obj=event,
            before={"body": event.body},
            after=None,
        )
    return event


def incident_declare(
    *,
    title,
    severity,
    team,
    by,
    summary="",
    started_at=None,
    is_private=False,
    affected_services=None,
    events=None,
    page=False,
    attach=None,
) -> Incident:
    """Declare an incident: its checklist, its DECLARED event, then `events` (dicts of
    timeline_event_add's arguments, e.g. the alert that opened it) in that order.
    `page`: the on-call is paged for it (paging listens to incident_declared). A person's
    declaration pages when the severity does; an alert's when its route says so.
    `attach(incident)` links what opened it (an alert group) before paging hears of it."""
    title = (title or "").strip()
    if not title:
        raise IncidentError("An incident needs a title.")
    if not isinstance(severity, Severity):
        raise IncidentError("Unknown severity.")
    now = timezone.now()
    if wrong := time_out_of_range(started_at):
        raise IncidentError(f"An incident cannot start {wrong}.")
    with transaction.atomic(savepoint=False):
        incident = Incident.objects.create(
            title=title[:200],
            summary=summary,
            severity=severity,
            team=team,
            started_at=started_at or now,
            declared_at=now,
            declared_by=by,
            is_private=is_private,
            affected_services=affected_services or [],
            timeline_seq=1 + len(events or ()),  # its events are written below: no lock needed
        )
        # A person declaring chose the severity from the levels' definitions; an alert's
        # severity is its sender's label mapped by routing, which nobody has assessed yet.
        checklist_create(incident=incident, ticked=[ChecklistFact.SEVERITY] if by else [], at=now)
        who = by.display_name if by else "Vigil"
        declared = _event_row(
            incident=incident,
            kind=EventKind.DECLARED,
            author=by,
            body=f"{who} declared the incident as {severity.name}: {incident.title}",
            data={"severity": severity.name},
            pinned=True,
        )
        rows = [declared] + [_event_row(incident=incident, **event) for event in events or ()]
        for seq, row in enumerate(rows, start=1):
            row.seq = seq
        TimelineEvent.objects.bulk_create(rows)
        audit_record(
            actor=by,
            action="incident.declare",
            obj=incident,
            after={
                "title": incident.title,
                "severity": severity.name,
                "team": team.slug,
                "is_private": is_private,
            },
        )
        if attach is not None:
            attach(incident)
        signals.incident_declared.send(sender=Incident, incident=incident, by=by, page=page)
    return incident


def incident_change_status(*, incident, status, by, at=None) -> Incident:
    at = at or timezone.now()
    with transaction.atomic():
        try:
            old, new = incident.transition(status, at=at)
        except TransitionError as exc:
            raise IncidentError(str(exc)) from exc
        who = by.display_name if by else "Vigil"
        timeline_event_add(
            incident=incident,
            kind=EventKind.STATUS,
            author=by,
            body=f"{who} marked the incident {Status(new).label.lower()}",
            data={"from": old, "to": new},
            occurred_at=at,
            pinned=new == Status.RESOLVED,
        )
        if new in STATUS_FACTS:
            checklist_tick_recorded(incident=incident, fact=STATUS_FACTS[new], at=at)
        audit_record(
            actor=by,
            action=f"incident.{new}",
            obj=incident,
            before={"status": old},
            after={"status": new},
        )
        signals.incident_status_changed.send(
            sender=Incident, incident=incident, old=old, new=new, by=by
        )
    return incident


def incident_reopen(*, incident, reason, by=None, at=None) -> Incident:
    """A resolved incident back to triggered (a person never goes back; the same cause
    coming back does). The status timestamps start over, so the next acknowledgement and
    resolution are measured afresh; the timeline keeps the earlier ones."""
    at = at or timezone.now()
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.status != Status.RESOLVED:
            raise IncidentError("Only a resolved incident can be reopened.")
        old = locked.status
        locked.status = Status.TRIGGERED
        for field in STATUS_TIMESTAMP.values():
            setattr(locked, field, None)
        locked.save(update_fields=["status", *STATUS_TIMESTAMP.values()])
        who = by.display_name if by else "Vigil"
        timeline_event_add(
            incident=locked,
            kind=EventKind.STATUS,
            author=by,
            body=f"{who} reopened the incident: {reason}",
            data={"from": old, "to": Status.TRIGGERED, "reopened": True},
            occurred_at=at,
            pinned=True,
        )
        # The next acknowledgement and resolution are measured afresh, and ticked afresh.
        _checklist_untick_recorded(incident=locked, facts=STATUS_FACTS.values(), at=at)
        audit_record(
            actor=by,
            action="incident.reopen",
            obj=locked,
            before={"status": old},
            after={"status": Status.TRIGGERED},
        )
        signals.incident_status_changed.send(
            sender=Incident, incident=locked, old=old, new=Status.TRIGGERED, by=by
        )
    for field in ["status", *STATUS_TIMESTAMP.values()]:
        setattr(incident, field, getattr(locked, field))
    return locked


def incident_change_severity(*, incident, severity, by) -> Incident:
    """A person choosing a severity, the one it has included, has assessed it: Vigil ticks
    "Severity assessed"."""
    if not isinstance(severity, Severity):
        raise IncidentError("Unknown severity.")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().select_related("severity").get(pk=incident.pk)
        if locked.status == Status.RESOLVED:
            raise IncidentError("A resolved incident's severity cannot change.")
        old = locked.severity
        if old.pk == severity.pk:
            if by is not None:
                checklist_tick_recorded(incident=locked, fact=ChecklistFact.SEVERITY)
            return locked
        locked.severity = severity
        locked.save(update_fields=["severity"])
        who = by.display_name if by else "Vigil"
        timeline_event_add(
            incident=locked,
            kind=EventKind.SEVERITY,
            author=by,
            body=f"{who} changed the severity from {old.name} to {severity.name}",
            data={"from": old.name, "to": severity.name},
            pinned=True,
        )
        if by is not None:
            checklist_tick_recorded(incident=locked, fact=ChecklistFact.SEVERITY)
        audit_record(
            actor=by,
            action="incident.severity",
            obj=locked,
            before={"severity": old.name},
            after={"severity": severity.name},
        )
        signals.incident_severity_changed.send(
            sender=Incident, incident=locked, old=old, new=severity, by=by
        )
    incident.severity = severity
    return locked


def incident_assign_role(*, incident, role, user, by) -> Incident:
    """role is commander, comms_lead, scribe (user or None) or responder (adds user)."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        who = by.display_name if by else "Vigil"
        if role == "responder":
            if user is None:
                raise IncidentError("Choose a person to add as responder.")
            if locked.responders.filter(pk=user.pk).exists():
                return locked
            locked.responders.add(user)
            body = f"{who} added {user.display_name} as a responder"
            before, after = None, {"responder": user.username}
        elif role in ROLE_FIELDS:
            old = getattr(locked, role)
            if old == user:
                return locked
            setattr(locked, role, user)
            locked.save(update_fields=[role])
            label = ROLE_FIELDS[role]
            body = (
                f"{who} made {user.display_name} {label.lower()}"
                if user
                else f"{who} removed the {label.lower()}"
            )
            before = {role: old.username if old else None}
            after = {role: user.username if user else None}
        else:
            raise IncidentError(f"Unknown role {role!r}.")
        timeline_event_add(
            incident=locked,
            kind=EventKind.ROLE,
            author=by,
            body=body,
            data={"role": role, "user": user.username if user else None},
        )
        audit_record(actor=by, action="incident.role", obj=locked, before=before, after=after)
    return locked


def checklist_create(*, incident, ticked=(), at=None) -> None:
    """Give an incident the seed's response checklist, the items of the `ticked` facts ticked
    by Vigil at `at`. Safe to call again: it adds nothing."""
    rows = []
    position = 0
    for phase, _, _, items in RESPONSE_CHECKLIST:
        for text in items:
            position += 1
            fact = RECORDED_FACTS.get(text, "")
            done = fact in ticked
            rows.append(
                ChecklistItem(
                    incident_id=incident.pk,
                    phase=phase,
                    position=position,
                    text=text,
                    fact=fact,
                    done_at=(at or timezone.now()) if done else None,
                    done_by_vigil=done,
                )
            )
    ChecklistItem.objects.bulk_create(rows, ignore_conflicts=True)


def checklist_add_post_rollback(*, incident) -> bool:
    """Open the seed's post-rollback checklist on the incident; True if it was not there yet.
    Safe to call again: it adds nothing."""
    rows = [
        ChecklistItem(
            incident_id=incident.pk,
            phase=ChecklistPhase.POST_ROLLBACK,
            position=POST_ROLLBACK_FIRST_POSITION + i,
            text=text,
            fact=RECORDED_FACTS.get(text, ""),
        )
        for i, text in enumerate(POST_ROLLBACK_CHECKLIST)
    ]
    opened = ChecklistItem.objects.filter(
        incident_id=incident.pk, phase=ChecklistPhase.POST_ROLLBACK
    ).exists()
    ChecklistItem.objects.bulk_create(rows, ignore_conflicts=True)
    return not opened


def checklist_tick_recorded(*, incident, fact, at=None) -> ChecklistItem | None:
    """Vigil ticks the item that `fact` completes: called where the fact is recorded, in its
    transaction. An item already ticked, by Vigil or by a person, stays as it was."""
    fact = ChecklistFact(fact)
    at = at or timezone.now()
    with transaction.atomic(savepoint=False):
        item = ChecklistItem.objects.filter(incident_id=incident.pk, fact=fact).first()
        # A conditional update: of two writers recording the fact at once, one ticks.
        if item is None or not ChecklistItem.objects.filter(
            pk=item.pk, done_at__isnull=True
        ).update(done_at=at, done_by=None, done_by_vigil=True):
            return None
        item.done_at, item.done_by, item.done_by_vigil = at, None, True
        timeline_event_add(
            incident=incident,
            kind=EventKind.CHECKLIST,
            body=f'Vigil ticked "{item.text}" ({item.get_phase_display()}): {fact.label}',
            occurred_at=at,
            data={
                "item": item.pk,
                "phase": item.phase,
                "text": item.text,
                "done": True,
                "fact": fact.value,
            },
        )
        audit_record(
            actor=None,
            action="checklist.tick",
            obj=item,
            before={"done_at": None},
            after={"done_at": at.isoformat(), "fact": fact.value},
        )
    return item


def _checklist_untick_recorded(*, incident, facts, at) -> None:
    """Vigil takes back its own ticks of `facts` when they stop being true."""
    items = list(
        ChecklistItem.objects.select_for_update().filter(
            incident_id=incident.pk, fact__in=list(facts), done_by_vigil=True
        )
    )
    if not items:
        return
    ChecklistItem.objects.filter(pk__in=[i.pk for i in items]).update(
        done_at=None, done_by_vigil=False
    )
    timeline_events_add(
        incident=incident,
        events=[
            {
                "kind": EventKind.CHECKLIST,
                "body": f'Vigil unticked "{item.text}" ({item.get_phase_display()}): '
                "the incident reopened",
                "occurred_at": at,
                "data": {"item": item.pk, "phase": item.phase, "text": item.text, "done": False},
            }
            for item in items
        ],
    )
    for item in items:
        audit_record(
            actor=None,
            action="checklist.untick",
            obj=item,
            before={"done_at": item.done_at.isoformat()},
            after={"done_at": None},
        )


def status_page_updated(*, incident, at=None) -> ChecklistItem | None:
    """For the status page, once Vigil has one: call this where a public update is posted,
    in that transaction, and Vigil ticks "Status page updated". Nothing calls it yet:
    status_update_post's updates are for stakeholders, not the public page."""
    return checklist_tick_recorded(incident=incident, fact=ChecklistFact.STATUS_PAGE, at=at)


def checklist_item_set_done(*, item, done: bool, by) -> ChecklistItem:
    """Tick (or untick) a checklist item; who and when go to the timeline. Vigil's own ticks
    stand for what it recorded: no person unticks them."""
    with transaction.atomic():
        item = ChecklistItem.objects.select_for_update().get(pk=item.pk)
        if item.done_by_vigil and not done:
            raise IncidentError(
                f'Vigil ticked "{item.text}" when {ChecklistFact(item.fact).label}; '
                "it stays ticked."
            )
        if item.is_done == done:
            return item
        before = {"done_at": item.done_at.isoformat() if item.done_at else None}
        now = timezone.now()
        item.done_at, item.done_by = (now, by) if done else (None, None)
        item.save(update_fields=["done_at", "done_by"])
        who = by.display_name if by else "Vigil"
        phase = item.get_phase_display()
        body = (
            f'{who} ticked "{item.text}" ({phase})'
            if done
            else f'{who} unticked "{item.text}" ({phase})'
        )
        timeline_event_add(
            incident=item.incident,
            kind=EventKind.CHECKLIST,
            author=by,
            body=body,
            occurred_at=now,
            data={"item": item.pk, "phase": item.phase, "text": item.text, "done": done},
        )
        audit_record(
            actor=by,
            action="checklist.tick" if done else "checklist.untick",
            obj=item,
            before=before,
            after={"done_at": item.done_at.isoformat() if item.done_at else None},
        )
    return item


def status_update_post(*, incident, body, by) -> TimelineEvent:
    """A status update for stakeholders (the severity's cadence says when the next is due)."""
    body = (body or "").strip()
    if not body:
        raise IncidentError("A status update needs some text.")
    with transaction.atomic():
        event = timeline_event_add(
            incident=incident, kind=EventKind.COMMS, body=body, author=by, pinned=False
        )
        audit_record(actor=by, action="incident.status_update", obj=event, after={"body": body})
    return event


IMPACT_FIELDS = [
    "summary",
    "started_at",
    "users_affected",
    "failed_requests",
    "revenue_impact",
    "sla_breach",
    "affected_services",
    "status_page_url",
]


# How each impact field reads in the timeline ("users affected 12,000").
IMPACT_LABELS = {
    "summary": "summary",
    "started_at": "impact started",
    "users_affected": "users affected",
    "failed_requests": "failed requests",
    "revenue_impact": "revenue impact",
    "sla_breach": "SLA breach",
    "affected_services": "affected services",
    "status_page_url": "status page",
}
# The timeline repeats the start of a new summary; the Impact panel shows all of it.
IMPACT_SUMMARY_IN_TIMELINE = 200


def _impact_change(field, value) -> str:
    """One changed impact field as the timeline says it: "users affected 12,000"."""
    label = IMPACT_LABELS[field]
    if field == "sla_breach":
        return "SLA breached" if value else "no SLA breach"
    if value is None or value == "" or value == []:
        return f"{label} cleared"
    if field == "started_at":
        return f"{label} {value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if field == "affected_services":
        return f"{label} {', '.join(value)}"
    if field == "summary":
        text = " ".join(value.split())
        if len(text) > IMPACT_SUMMARY_IN_TIMELINE:
            text = text[: IMPACT_SUMMARY_IN_TIMELINE - 1].rstrip() + "…"
        return f'{label} "{text}"'
    if isinstance(value, int | Decimal):
        return f"{label} {value:,}"
    return f"{label} {value}"


def incident_update_impact(*, incident, by, **changes) -> Incident:
    """Summary, start of impact and the impact figures the postmortem reports. What changed
    goes on the timeline (colleagues' pages refresh what shows it); nothing changed, nothing
    is written."""
    unknown = set(changes) - set(IMPACT_FIELDS)
    if unknown:
        raise IncidentError(f"Unknown incident fields: {', '.join(sorted(unknown))}.")
    started_at = changes.get("started_at")
    if wrong := time_out_of_range(started_at):
        raise IncidentError(f"The impact cannot start {wrong}.")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        before, after = {}, {}
        for field, value in changes.items():
            if getattr(locked, field) != value:
                before[field] = _jsonable(getattr(locked, field))
                after[field] = _jsonable(value)
                setattr(locked, field, value)
        if not after:
            return locked
        locked.save(update_fields=list(after))
        who = by.display_name if by else "Vigil"
        changed = [field for field in IMPACT_FIELDS if field in after]
        timeline_event_add(
            incident=locked,
            kind=EventKind.IMPACT,
            author=by,
            body=f"{who} updated the impact: "
            + "; ".join(_impact_change(field, getattr(locked, field)) for field in changed),
            data={"fields": changed},
        )
        audit_record(actor=by, action="incident.impact", obj=locked, before=before, after=after)
    for field in after:
        setattr(incident, field, getattr(locked, field))
    return locked


def _jsonable(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and not isinstance(value, bool | int | float | str | list | dict):
        return str(value)
    return value
