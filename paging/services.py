"""The paging engine: escalation rows advanced by a tick, an outbox delivered by Celery.

- escalation_start() writes an Escalation row due now.
- engine_tick() claims due rows with SELECT … FOR UPDATE SKIP LOCKED, runs each one's next
  step in one transaction (Page rows, outbox Notification rows, a PAGE timeline event) and
  sets its next due time. It also re-queues outbox rows a lost task left behind.
- Delivery (paging.delivery) claims one outbox row at a time with a conditional update.
Nothing waits on a Celery ETA: every due time is a database column.
"""

import time
from datetime import timedelta

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from alerts.routing import CHANNEL_LABELS
from common import live
from common.enqueue import publish, run_in_background
from common.text import duration
from incidents.models import ChecklistFact, EventKind, Status
from incidents.services import (
    checklist_tick_recorded,
    incident_change_status,
    timeline_event_add,
)
from oncall.models import ContactMethod
from oncall.selectors import escalation_policy_for, escalation_step_targets
from oncall.services import escalation_policy_default
from paging import delivery, messages
from paging.models import (
    Channel,
    DeliveryState,
    Escalation,
    EscalationStatus,
    InAppNotification,
    Notification,
    Page,
    StepRun,
    bell_topic,
)
from teams.selectors import team_routing

logger = structlog.get_logger(__name__)

CONTACT_CHANNELS = {
    "email": Channel.EMAIL,
    "slack": Channel.SLACK,
    "webhook": Channel.WEBHOOK,
    "sms": Channel.SMS,
    "phone": Channel.VOICE,
}


class PagingError(ValueError):
    """A paging request that cannot be honoured; the message is shown to the person."""


# --- enqueueing ---------------------------------------------------------------------------
# Published after commit on common.enqueue's background pool, so a broker outage never slows
# a webhook answer. What fails to publish keeps its row pending with no enqueued_at, and the
# tick hands it out when the broker is back (paging's own outbox, so no OutboxTask rows).


def _publish_deliveries(ids):
    failed = [
        pk for pk in ids if not publish("paging.tasks.deliver_notification", [pk], expires=300)
    ]
    if failed:
        Notification.objects.filter(pk__in=failed, state=DeliveryState.PENDING).update(
            enqueued_at=None
        )


def _enqueue_deliveries(ids, *, background=True):
    if not ids:
        return
    if background:
        run_in_background(_publish_deliveries, list(ids))
    else:
        _publish_deliveries(list(ids))


def _publish_tick():
    publish("paging.tasks.engine_tick", kwargs={"requested_at": time.time()}, expires=300)


def outbox_write(rows: list[Notification], *, fresh=False) -> None:
    """Insert outbox rows (an existing key is left alone) and deliver them after commit.
    `fresh`: no key can exist yet (each names a row made in this transaction), so the
    insert returns the ids and nothing is read back."""
    if not rows:
        return
    now = timezone.now()
    for row in rows:
        row.enqueued_at = now
    if fresh:
        # In-app is a row in Vigil's own database: it is delivered in this transaction, with
        # the page, rather than by a task (and is exactly once by construction).
        in_app = [r for r in rows if r.channel == Channel.IN_APP]
        for row in in_app:
            row.state, row.attempts, row.sent_at = DeliveryState.SENT, 1, now
        Notification.objects.bulk_create(rows)
        delivery.in_app_write(in_app, at=now)
        ids = [r.pk for r in rows if r.channel != Channel.IN_APP]
        transaction.on_commit(lambda: _enqueue_deliveries(ids))
        return
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    keys = [r.key for r in rows]
    transaction.on_commit(
        lambda: _enqueue_deliveries(
            list(
                Notification.objects.filter(key__in=keys, state=DeliveryState.PENDING).values_list(
                    "pk", flat=True
                )
            )
        )
    )


def kick_tick():
    """Ask for a tick once this transaction commits, so the new due row is advanced now
    rather than at the next beat."""
    transaction.on_commit(lambda: run_in_background(_publish_tick))


# A burst of new escalations asks for a tick each. A tick that started after a request was
# made sees what that request committed, so the request is dropped rather than run again.
# The margin covers clocks that differ between hosts; a wrongly dropped request only waits
# for the beat's tick (every second), it loses nothing.
TICK_STARTED_KEY = "paging:tick-started"
TICK_CLOCK_MARGIN = 0.05


def tick_started_since(requested_at: float) -> bool:
    try:
        started = cache.get(TICK_STARTED_KEY)
    except Exception:  # noqa: BLE001 — no cache: run the tick
        return False
    return started is not None and started > requested_at + TICK_CLOCK_MARGIN


def tick_mark_started() -> None:
    try:
        cache.set(TICK_STARTED_KEY, time.time(), timeout=300)
    except Exception:  # noqa: BLE001 — no cache: later requests simply all run
        logger.warning("tick_mark_failed")


# --- starting, chat, PagerDuty --------------------------------------------------------------


def escalation_start(*, incident, at=None, routing=None, new_incident=False) -> Escalation:
    """`new_incident`: declared in this transaction, so it cannot have an escalation yet."""
    at = at or timezone.now()
    values = {"team_id": incident.team_id, "started_at": at, "next_action_at": at}
    if new_incident:
        escalation, created = Escalation.objects.create(incident=incident, **values), True
    else:
        escalation, created = Escalation.objects.get_or_create(incident=incident, defaults=values)
    if created:
        logger.info("escalation_started", incident_id=incident.pk)
        _pagerduty(incident=incident, action="trigger", routing=routing)
        kick_tick()
    return escalation


def escalation_restart(*, incident, at=None, routing=None) -> Escalation:
    """A reopened incident pages again from its policy's first step, as a new one would.
    Step runs keep counting, so every earlier page and its delivery stay as they were."""
    at = at or timezone.now()
    escalation = Escalation.objects.select_for_update().filter(incident=incident).first()
    if escalation is None:
        return escalation_start(incident=incident, at=at, routing=routing)
    if escalation.status == EscalationStatus.ACTIVE:
        return escalation
    escalation.status = EscalationStatus.ACTIVE
    escalation.started_at = escalation.next_action_at = at
    escalation.next_position, escalation.cycle = 0, 1
    escalation.acknowledged_at = escalation.acknowledged_by = None
    escalation.time_to_acknowledge = escalation.ended_at = None
    escalation.save()
    logger.info("escalation_restarted", incident_id=incident.pk)
    _pagerduty(
        incident=incident, action="trigger", routing=routing, round_key=f":{escalation.steps_run}"
    )
    kick_tick()
    return escalation


def _pagerduty(*, incident, action, routing=None, round_key=""):
    routing = routing or team_routing(incident.team)
    if not routing.pagerduty_routing_key:
        return
    if action != "trigger":
        # An acknowledge or resolve belongs to the latest trigger: a reopened incident's
        # second round has keys of its own, or the outbox would drop them as sent.
        latest = (
            Notification.objects.filter(
                incident=incident, channel=Channel.PAGERDUTY, purpose="trigger"
            )
            .order_by("-id")
            .values_list("key", flat=True)
            .first()
        )
        if latest is None:
            return
        round_key = latest.removeprefix(f"pd:{incident.pk}:trigger")
    facts = messages.alert_facts(incident=incident)
    outbox_write(
        [
            Notification(
                key=f"pd:{incident.pk}:{action}{round_key}",
                incident=incident,
                channel=Channel.PAGERDUTY,
                purpose=action,
                target=settings.PAGERDUTY_EVENTS_URL,
                payload=messages.pagerduty_event(
                    facts,
                    routing_key=routing.pagerduty_routing_key,
                    action=action,
                    dedup_key=f"vigil-incident-{incident.pk}",
                ),
            )
        ]
    )


def chat_post(*, group, channel, routing, at=None):
    """Post an alert group to one of the team's chat channels (Slack-compatible webhook)."""
    url = getattr(routing, f"{channel}_webhook_url")
    if not url:
        logger.info("chat_channel_not_configured", team_id=group.team_id, channel=channel)
        return
    facts = messages.alert_facts(incident=group.incident, group=group)
    outbox_write(
        [
            Notification(
                key=f"chat:{group.pk}:{channel}",
                incident=group.incident,
                channel=Channel.SLACK,
                purpose="chat",
                target=url,
                payload=messages.slack_message(facts, channel=CHANNEL_LABELS[channel]),
            )
        ]
    )


# --- the tick -------------------------------------------------------------------------------


def engine_tick(*, now=None, batch=200) -> dict:
    """Advance every due escalation, then re-queue outbox rows nobody is delivering."""
    now = now or timezone.now()
    advanced = 0
    while True:
        with transaction.atomic():
            due = list(
                Escalation.objects.select_for_update(skip_locked=True)
                .select_related("incident__severity", "team")
                .filter(status=EscalationStatus.ACTIVE, next_action_at__lte=now)
                .order_by("next_action_at")[:batch]
            )
            # Within one tick every escalation of a team sees the same policy and on-call.
            cache = {}
            for escalation in due:
                _advance(escalation, now, cache)
        advanced += len(due)
        if len(due) < batch:
            break
    requeued = outbox_requeue(now=now)
    if advanced or requeued:
        logger.info("engine_tick", advanced=advanced, requeued=requeued)
    return {"advanced": advanced, "requeued": requeued}


def _advance(escalation, now, cache):
    key = ("policy", escalation.team_id)
    if key not in cache:
        policy = escalation_policy_for(team=escalation.team)
        if policy is None:  # a team made without its default (a bulk insert, a raw fixture)
            escalation_policy_default(team=escalation.team)
            policy = escalation_policy_for(team=escalation.team)
        cache[key] = (policy, sorted(policy.steps.all(), key=lambda s: (s.position, s.pk)))
    policy, steps = cache[key]
    if escalation.next_position >= len(steps):
        escalation.status = EscalationStatus.EXHAUSTED
        escalation.next_action_at = None
        escalation.ended_at = now
        escalation.save(update_fields=["status", "next_action_at", "ended_at"])
        return
    step = steps[escalation.next_position]
    scheduled = escalation.next_action_at
    run = StepRun.objects.create(
        escalation=escalation,
        number=escalation.steps_run + 1,
        position=step.position,
        cycle=escalation.cycle,
        scheduled_at=scheduled,
        executed_at=now,
        lateness=max(0.0, (now - scheduled).total_seconds()),
        target_kind=step.target_kind,
    )
    if ("targets", step.pk) not in cache:
        cache[("targets", step.pk)] = escalation_step_targets(step=step, at=now)
    targets = cache[("targets", step.pk)]
    incident = escalation.incident
    if incident.is_drill:
        targets = _drill_targets(incident, targets)
    if targets:
        _page_people(escalation=escalation, run=run, users=targets, now=now)
        names = ", ".join(u.display_name for u in targets)
        target = step.get_target_kind_display().lower()
        body = f"Paged {names} (escalation step {step.position + 1}, {target})"
    else:
        body = f"Escalation step {step.position + 1} found nobody to page; moving on"
    timeline_event_add(
        incident=incident,
        kind=EventKind.PAGE,
        body=body,
        occurred_at=now,
        data={
            "step": step.position + 1,
            "cycle": escalation.cycle,
            "users": [u.username for u in targets],
            "scheduled_at": scheduled.isoformat(),
            "lateness_seconds": run.lateness,
        },
    )
    escalation.steps_run += 1
    escalation.next_position += 1
    wait = timedelta(minutes=step.wait_minutes)
    if escalation.next_position < len(steps):
        escalation.next_action_at = scheduled + wait
    elif escalation.cycle < policy.repeat:
        escalation.cycle += 1
        escalation.next_position = 0
        escalation.next_action_at = scheduled + wait
    else:
        escalation.status = EscalationStatus.EXHAUSTED
        escalation.next_action_at = None
        escalation.ended_at = now
    escalation.save(
        update_fields=[
            "steps_run",
            "next_position",
            "cycle",
            "next_action_at",
            "status",
            "ended_at",
        ]
    )


def _drill_targets(incident, targets):
    """A drill pages only the people taking part in it: the step's people narrowed to them,
    or, when none of the step's people take part, every one of them."""
    drill = getattr(incident, "drill", None)  # None: not linked to a drill (yet)
    if drill is None:
        return []
    people = list(drill.participants.filter(is_active=True).order_by("username"))
    ids = {u.pk for u in people}
    return [u for u in targets if u.pk in ids] or people


def _page_people(*, escalation, run, users, now):
    incident = escalation.incident
    users = list({u.pk: u for u in users}.values())
    # The step run is new, so none of its pages exists yet: the insert returns their ids.
    pages = {
        p.user_id: p
        for p in Page.objects.bulk_create(
            [
                Page(escalation=escalation, incident=incident, step_run=run, user=u, created_at=now)
                for u in users
            ]
        )
    }
    contacts = {}
    for cm in ContactMethod.objects.filter(user__in=users, kind__in=list(CONTACT_CHANNELS)):
        contacts.setdefault(cm.user_id, []).append(cm)
    facts = messages.alert_facts(incident=incident)
    rows = []
    for user in users:
        page = pages[user.pk]
        ack_url = messages.ack_link(page)
        base = f"page:{page.pk}:step:{run.number}:user:{user.pk}"
        rows.append(
            Notification(
                key=f"{base}:{Channel.IN_APP}:0",
                incident=incident,
                page=page,
                user=user,
                step=run.number,
                channel=Channel.IN_APP,
                purpose="page",
                target=user.username,
                payload=messages.in_app_message(facts, ack_url=ack_url),
            )
        )
        for cm in contacts.get(user.pk, []):
            channel = CONTACT_CHANNELS[cm.kind]
            if channel == Channel.EMAIL:
                payload = messages.email_message(facts, to=cm.value, ack_url=ack_url)
            elif channel == Channel.SLACK:
                payload = messages.slack_message(facts, ack_url=ack_url)
            elif channel == Channel.SMS:
                payload = messages.sms_message(facts, to=cm.value, ack_url=ack_url)
            elif channel == Channel.VOICE:
                payload = messages.voice_message(
                    facts, to=cm.value, ack_url=messages.voice_ack_url(page)
                )
            else:
                payload = messages.webhook_message(facts, event="page", ack_url=ack_url, user=user)
            rows.append(
                Notification(
                    key=f"{base}:{channel}:{cm.pk}",
                    incident=incident,
                    page=page,
                    user=user,
                    step=run.number,
                    channel=channel,
                    purpose="page",
                    target=cm.value,
                    payload=payload,
                )
            )
    outbox_write(rows, fresh=True)


def outbox_requeue(*, now=None) -> int:
    """Rows a lost task left behind: stuck `sending` past the timeout, or `pending` and due
    but not handed to a worker recently. Each is handed to a worker again."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.PAGING_SENDING_TIMEOUT)
    Notification.objects.filter(state=DeliveryState.SENDING, sending_started_at__lt=stale).update(
        state=DeliveryState.PENDING,
        enqueued_at=None,
        last_error="The worker delivering this was lost; retrying.",
    )
    requeue_before = now - timedelta(seconds=settings.PAGING_REQUEUE_AFTER)
    with transaction.atomic():
        ids = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
            .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue_before))
            .values_list("pk", flat=True)[:1000]
        )
        if ids:
            Notification.objects.filter(pk__in=ids).update(enqueued_at=now)
    if ids:
        _enqueue_deliveries(ids, background=False)
    return len(ids)


# --- stopping --------------------------------------------------------------------------------


def _cancel_pending_pages(escalation):
    Notification.objects.filter(
        page__escalation=escalation, purpose="page", state=DeliveryState.PENDING
    ).update(state=DeliveryState.CANCELLED, last_error="Acknowledged before delivery.")


def escalation_stop(
    *, incident, status, by=None, at=None, via="incident page"
) -> Escalation | None:
    """Stop an incident's escalation (acknowledged or resolved). Idempotent."""
    at = at or timezone.now()
    escalation = Escalation.objects.select_for_update().filter(incident=incident).first()
    if escalation is None:
        return None
    if escalation.status == EscalationStatus.ACKNOWLEDGED and status == EscalationStatus.RESOLVED:
        _pagerduty(incident=incident, action="resolve")
        return escalation
    if escalation.status not in (EscalationStatus.ACTIVE, EscalationStatus.EXHAUSTED):
        return escalation
    escalation.status = status
    escalation.next_action_at = None
    escalation.ended_at = at
    fields = ["status", "next_action_at", "ended_at"]
    if status == EscalationStatus.ACKNOWLEDGED:
        escalation.acknowledged_at = at
        escalation.acknowledged_by = by
        escalation.time_to_acknowledge = at - escalation.started_at
        fields += ["acknowledged_at", "acknowledged_by", "time_to_acknowledge"]
        Page.objects.filter(escalation=escalation, acknowledged_at__isnull=True).update(
            acknowledged_at=at
        )
    escalation.save(update_fields=fields)
    _cancel_pending_pages(escalation)
    if status == EscalationStatus.ACKNOWLEDGED:
        who = by.display_name if by else "Vigil"
        timeline_event_add(
            incident=incident,
            kind=EventKind.ACK,
            author=by,
            body=f"{who} acknowledged the page ({via}); time to acknowledge "
            f"{duration(escalation.time_to_acknowledge)}; escalation stopped",
            occurred_at=at,
            data={
                "time_to_acknowledge_seconds": escalation.time_to_acknowledge.total_seconds(),
                "via": via,
                "user": by.username if by else None,
            },
        )
        checklist_tick_recorded(incident=incident, fact=ChecklistFact.ACKNOWLEDGED, at=at)
        _pagerduty(incident=incident, action="acknowledge")
    else:
        _pagerduty(incident=incident, action="resolve")
    logger.info("escalation_stopped", incident_id=incident.pk, status=status)
    return escalation


def escalation_alerts_resolved(*, incident, at=None):
    """Every alert group of the incident stopped firing: stop paging people about it."""
    escalation = escalation_stop(incident=incident, status=EscalationStatus.RESOLVED, at=at)
    if escalation is not None and escalation.status == EscalationStatus.RESOLVED:
        timeline_event_add(
            incident=incident,
            kind=EventKind.ROUTING,
            body="Every alert of this incident resolved; escalation stopped",
            occurred_at=at,
            data={"decision": "alerts_resolved"},
        )


def incident_acknowledge(*, incident, by, at=None, via="incident page"):
    """Acknowledge as a person: the incident moves to acknowledged (its signal stops the
    escalation), or, when it already moved on, the escalation stops directly."""
    with transaction.atomic():
        incident.refresh_from_db(fields=["status"])
        if incident.status == Status.TRIGGERED:
            incident._ack_via = via
            incident_change_status(incident=incident, status=Status.ACKNOWLEDGED, by=by, at=at)
        else:
            escalation_stop(
                incident=incident, status=EscalationStatus.ACKNOWLEDGED, by=by, at=at, via=via
            )


def page_acknowledge_by_link(*, page_id, at=None, via="notification link") -> Page:
    """The signed link in a notification: single use, acknowledges as the paged person."""
    at = at or timezone.now()
    with transaction.atomic():
        page = Page.objects.select_for_update().select_related("incident", "user").get(pk=page_id)
        if page.ack_link_used_at:
            raise PagingError("This acknowledgement link was already used.")
        page.ack_link_used_at = at
        page.save(update_fields=["ack_link_used_at"])
        incident_acknowledge(incident=page.incident, by=page.user, at=at, via=via)
    return page


def on_incident_status_changed(sender, *, incident, old, new, by, **kwargs):
    """Receiver: acknowledging (or resolving, or mitigating) an incident stops its escalation."""
    if new in (Status.ACKNOWLEDGED, Status.MITIGATED):
        escalation_stop(
            incident=incident,
            status=EscalationStatus.ACKNOWLEDGED,
            by=by,
            via=getattr(incident, "_ack_via", "incident page"),
        )
    elif new == Status.RESOLVED:
        escalation_stop(incident=incident, status=EscalationStatus.RESOLVED, by=by)


def on_incident_declared(sender, *, incident, page=False, **kwargs):
    """Every new incident that is to page starts its escalation here, whoever declared it."""
    if page:
        escalation_start(incident=incident, at=incident.declared_at, new_incident=True)


def notifications_mark_read(*, user, ids=None) -> int:
    qs = InAppNotification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    with transaction.atomic():
        count = qs.update(read_at=timezone.now())
        if count:
            live.publish(bell_topic(user.pk))
    return count
