"""The update cadence: an open incident whose status update is overdue (its severity's
cadence after the last update, or after the declaration) reminds its communications lead,
else its commander, else the team's primary on call, once per due time.

Every cadence interval that passes without an update is one due time, so an incident still
silent an interval later reminds again. Each reminder is an UpdateReminder row, unique per
(incident, due time) and written with its notifications in one transaction: a restart, a
second tick or a second worker never reminds twice, and a lost tick loses nothing."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from incidents.models import EventKind, Incident, Status, TimelineEvent
from incidents.selectors import status_update_due
from oncall.selectors import PRIMARY, default_layer, layer_oncall_at
from paging.messages import incident_url
from paging.models import Channel, Notification
from paging.services import outbox_write
from status.models import UpdateReminder
from teams.selectors import team_routing

logger = structlog.get_logger(__name__)

REMINDER_PURPOSE = "reminder"


@dataclass(frozen=True)
class Overdue:
    """An incident's update is overdue since `since`; `due_at` is the latest due time passed
    (`since` plus whole cadence intervals), the one a reminder is for."""

    since: datetime
    due_at: datetime


def overdue_at(*, first_due: datetime | None, cadence: timedelta | None, now) -> Overdue | None:
    if first_due is None or not cadence or first_due > now:
        return None
    intervals = (now - first_due) // cadence
    return Overdue(since=first_due, due_at=first_due + intervals * cadence)


def update_overdue(*, incident, now=None) -> Overdue | None:
    """Whether the incident's next update is overdue (two queries at most, for its panel)."""
    due = status_update_due(incident=incident)
    return overdue_at(
        first_due=due.due_at, cadence=incident.severity.update_cadence, now=now or timezone.now()
    )


def reminder_recipient(*, incident, at):
    """Who is reminded: the communications lead, else the commander, else the primary on
    call for the incident's team now (None when the team has nobody on call)."""
    for person in (incident.comms_lead, incident.commander):
        if person is not None and person.is_active:
            return person
    layer = default_layer(incident.team, PRIMARY, 0)
    if layer is None:
        return None
    people = layer_oncall_at(layer=layer, at=at)
    return people[0] if people else None


def _overdue_incidents(now):
    last_comms = (
        TimelineEvent.objects.filter(
            incident_id=OuterRef("pk"), kind=EventKind.COMMS, deleted_at__isnull=True
        )
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    # The same due time as incidents.selectors.status_update_due, for every open incident at once.
    incidents = (
        Incident.objects.exclude(status=Status.RESOLVED)
        .filter(severity__update_cadence_minutes__gt=0)
        .select_related("severity", "team", "comms_lead", "commander")
        .annotate(last_comms_at=Subquery(last_comms))
        .order_by("pk")
    )
    for incident in incidents:
        cadence = incident.severity.update_cadence
        first_due = (incident.last_comms_at or incident.declared_at) + cadence
        if overdue := overdue_at(first_due=first_due, cadence=cadence, now=now):
            yield incident, overdue


def _reminder_text(incident, overdue, now) -> tuple[str, str]:
    late = max(1, int((now - overdue.since).total_seconds() // 60))
    title = f"Status update overdue: #{incident.pk} {incident.title}"[:300]
    body = (
        f"The {incident.severity.name} cadence asks for an update every "
        f"{incident.severity.update_cadence_minutes} min, and one has been due for {late} min."
    )
    return title, body


def _remind(incident, overdue, now) -> UpdateReminder | None:
    """Write the reminder for this due time with its notifications, or None when it exists."""
    if UpdateReminder.objects.filter(incident=incident, due_at=overdue.due_at).exists():
        return None
    recipient = reminder_recipient(incident=incident, at=now)
    try:
        with transaction.atomic():
            reminder = UpdateReminder.objects.create(
                incident=incident, due_at=overdue.due_at, recipient=recipient, sent_at=now
            )
            title, body = _reminder_text(incident, overdue, now)
            url = incident_url(incident) + "#part-communications"
            rows = []
            if recipient is not None:
                rows.append(
                    Notification(
                        key=f"reminder:{reminder.pk}:{Channel.IN_APP}:{recipient.pk}",
                        incident=incident,
                        user=recipient,
                        channel=Channel.IN_APP,
                        purpose=REMINDER_PURPOSE,
                        target=recipient.username,
                        payload={"title": title, "body": body, "url": url},
                    )
                )
            chat_url = team_routing(incident.team).incidents_webhook_url
            if chat_url:
                who = f" {recipient.display_name}, please post one." if recipient else ""
                rows.append(
                    Notification(
                        key=f"reminder:{reminder.pk}:{Channel.SLACK}:incidents",
                        incident=incident,
                        channel=Channel.SLACK,
                        purpose=REMINDER_PURPOSE,
                        target=chat_url,
                        payload={"text": f"{title}\n{body}{who}\n{url}"},
                    )
                )
            outbox_write(rows, fresh=True)
    except IntegrityError:
        # Another worker wrote this due time's reminder between the check and the insert.
        return None
    logger.info(
        "update_reminder_sent",
        incident_id=incident.pk,
        due_at=overdue.due_at.isoformat(),
        recipient_id=recipient.pk if recipient else None,
    )
    return reminder


def reminders_send_due(*, now=None) -> int:
    """Remind for every open incident whose update is overdue and not yet reminded for its
    latest due time. Returns how many reminders were written."""
    now = now or timezone.now()
    return sum(
        1 for incident, overdue in _overdue_incidents(now) if _remind(incident, overdue, now)
    )
