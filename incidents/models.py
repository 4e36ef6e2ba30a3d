from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone


class Severity(models.Model):
    """SEV1–SEV4. Wording and policy are editable by admins; the rows come from a migration."""

    level = models.PositiveSmallIntegerField(unique=True)
    name = models.CharField(max_length=16, unique=True)
    title = models.CharField(max_length=100)
    description = models.TextField()
    pages = models.BooleanField(help_text="Whether declaring at this level pages the on-call.")
    update_cadence_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="How often a status update is due; empty for none."
    )

    class Meta:
        ordering = ["level"]
        verbose_name_plural = "severities"

    def __str__(self):
        return f"{self.name} — {self.title}"

    @property
    def update_cadence(self):
        return (
            timedelta(minutes=self.update_cadence_minutes) if self.update_cadence_minutes else None
        )


class TransitionError(Exception):
    """An incident status change that the lifecycle does not allow."""


class Status(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"


# Which statuses each one may move to. Skipping ahead is allowed (a fix can land before an
# acknowledgement is recorded); going back is not, except reopening a mitigated incident.
ALLOWED_TRANSITIONS = {
    Status.TRIGGERED: {Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED},
    Status.ACKNOWLEDGED: {Status.MITIGATED, Status.RESOLVED},
    Status.MITIGATED: {Status.RESOLVED},
    Status.RESOLVED: set(),
}
STATUS_TIMESTAMP = {
    Status.ACKNOWLEDGED: "acknowledged_at",
    Status.MITIGATED: "mitigated_at",
    Status.RESOLVED: "resolved_at",
}


class Incident(models.Model):
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    severity = models.ForeignKey(Severity, on_delete=models.PROTECT, related_name="incidents")
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="incidents")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIGGERED)
    is_private = models.BooleanField(
        default=False, help_text="Visible only to the team and Vigil administrators."
    )
    # A rehearsal (reports.drills): marked so in every notification, never on a public status
    # page and never counted in the reports.
    is_drill = models.BooleanField(default=False)

    started_at = models.DateTimeField(help_text="When the impact began; may precede declaration.")
    declared_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    users_affected = models.PositiveIntegerField(null=True, blank=True)
    failed_requests = models.PositiveBigIntegerField(null=True, blank=True)
    revenue_impact = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    sla_breach = models.BooleanField(default=False)
    affected_services = models.JSONField(default=list, blank=True)
    status_page_url = models.URLField(blank=True)

    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    comms_lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="communications lead",
    )
    scribe = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    responders = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="incidents_responded"
    )

    # Bumped on every timeline change; the live stream's event ids are these numbers.
    timeline_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-declared_at"]
        indexes = [
            models.Index(fields=["status", "-declared_at", "-id"], name="incident_status_recent"),
            models.Index(fields=["team", "status"]),
            # The list sorted by a column header reads a page along these, not every incident.
            models.Index(fields=["-declared_at", "-id"], name="incident_recent"),
            models.Index(fields=["title", "id"], name="incident_title"),
            # The few open incidents, found without reading the resolved history.
            models.Index(
                fields=["severity", "-declared_at"],
                condition=~models.Q(status="resolved"),
                name="incident_open",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.title}"

    def get_absolute_url(self):
        return reverse("incident_detail", args=[self.pk])

    @property
    def is_open(self):
        return self.status != Status.RESOLVED

    @property
    def duration(self):
        end = self.resolved_at or timezone.now()
        return end - self.started_at

    def transition(self, new_status: str, *, at=None) -> tuple[str, str]:
        """Move to new_status under a row lock. Returns (old, new); raises TransitionError."""
        new_status = Status(new_status)
        at = at or timezone.now()
        with transaction.atomic():
            locked = type(self).objects.select_for_update().get(pk=self.pk)
            old = Status(locked.status)
            if new_status not in ALLOWED_TRANSITIONS[old]:
                raise TransitionError(
                    f"An incident that is {old.label.lower()} cannot be marked "
                    f"{new_status.label.lower()}."
                )
            locked.status = new_status
            fields = ["status"]
            for status, field in STATUS_TIMESTAMP.items():
                # Skipping ahead fills the skipped timestamps too, so durations add up.
                if getattr(locked, field) is None and _rank(status) <= _rank(new_status):
                    setattr(locked, field, at)
                    fields.append(field)
            locked.save(update_fields=fields)
        for field in ["status", *STATUS_TIMESTAMP.values()]:
            setattr(self, field, getattr(locked, field))
        return old, new_status


def _rank(status) -> int:
    return list(Status).index(Status(status))


class EventKind(models.TextChoices):
    NOTE = "note", "Note"
    DECLARED = "declared", "Declared"
    STATUS = "status", "Status change"
    SEVERITY = "severity", "Severity change"
    ROLE = "role", "Role change"
    IMPACT = "impact", "Impact change"
    ALERT = "alert", "Alert"
    PAGE = "page", "Page"
    ACK = "ack", "Acknowledgement"
    DEPLOY = "deploy", "Deploy"
    ROLLBACK = "rollback", "Rollback"
    COMMS = "comms", "Status update"
    CHECKLIST = "checklist", "Checklist item"
    RUNBOOK_STEP = "runbook_step", "Runbook step"
    POSTMORTEM = "postmortem", "Postmortem"
    ROUTING = "routing", "Routing decision"
    # What a responder did through Vigil's debug tools: stale jobs killed, a flag turned off.
    MITIGATION = "mitigation", "Mitigation"
    # A deploy, config or flag change in the incident's window (changes/).
    CHANGE = "change", "Change"
    # What the recovery watch saw after a rollback or mitigation.
    RECOVERY = "recovery", "Recovery watch"


# Kinds a person writes; everything else is recorded by Vigil itself.
MANUAL_KINDS = {EventKind.NOTE}


class IncidentScoped:
    """For rows that belong to an incident: teams.access applies the incident's team and
    privacy to them."""

    @property
    def team_id(self):
        return self.incident.team_id

    @property
    def is_private(self):
        return self.incident.is_private


class TimelineEvent(IncidentScoped, models.Model):
    """One line of an incident's timeline: a note or something Vigil recorded."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices, db_index=True)
    body = models.TextField(help_text="Markdown source.")
    body_html = models.TextField(help_text="Rendered and sanitised from body.")
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    pinned = models.BooleanField(default=False, help_text="A key event for the postmortem.")
    data = models.JSONField(default=dict, blank=True)
    # The incident's timeline_seq at this event's last change: live streams resume from it.
    seq = models.PositiveBigIntegerField(default=0)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["incident", "occurred_at", "id"]),
            models.Index(fields=["incident", "seq"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on #{self.incident_id} at {self.occurred_at:%H:%M}"

    @property
    def is_manual(self):
        return self.kind in MANUAL_KINDS


class TimelineEventRevision(models.Model):
    """The text a note had before an edit: edits never lose what was written."""

    event = models.ForeignKey(TimelineEvent, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    replaced_at = models.DateTimeField(default=timezone.now)
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["replaced_at", "id"]

    def __str__(self):
        return f"Earlier text of event {self.event_id}"


class ChecklistPhase(models.TextChoices):
    DETECTION = "detection", "Detection"
    MITIGATION = "mitigation", "Mitigation"
    COMMUNICATION = "communication", "Communication"
    RESOLUTION = "resolution", "Resolution"
    FOLLOW_UP = "follow_up", "Follow-up"
    POST_ROLLBACK = "post_rollback", "Post-rollback"


# The seed's "Incident Response Checklist": (phase, window as written, target, items).
# A target is (anchor field, minutes after it) or None for phases without a deadline.
RESPONSE_CHECKLIST = [
    (
        ChecklistPhase.DETECTION,
        "0-5 minutes",
        ("declared_at", 5),
        [
            "Alert received and acknowledged",
            "Severity assessed (SEV1-4)",
            "Dashboard opened",
            "Recent changes checked",
        ],
    ),
    (
        ChecklistPhase.MITIGATION,
        "5-15 minutes",
        ("declared_at", 15),
        [
            "Obvious fix attempted (rollback, scale, etc.)",
            "Mitigation confirmed working",
            "OR escalation triggered",
        ],
    ),
    (
        ChecklistPhase.COMMUNICATION,
        "continuous",
        None,
        [
            "Status page updated",
            "Incident channel created/updated",
            "Stakeholders notified",
            "Regular updates posted (every 15-30 min)",
        ],
    ),
    (
        ChecklistPhase.RESOLUTION,
        "variable",
        None,
        [
            "Root cause identified",
            "Permanent fix deployed",
            "Monitoring confirms resolution",
            "Incident declared resolved",
        ],
    ),
    (
        ChecklistPhase.FOLLOW_UP,
        "24-48 hours",
        ("resolved_at", 48 * 60),
        [
            "Postmortem scheduled",
            "Action items created",
            "Runbooks updated",
            "Lessons shared with team",
        ],
    ),
]


# The seed's "Post-Rollback" steps (and the postmortem within 24-48 h), added to an incident's
# checklist when a rollback is decided. Positions after the response checklist's.
POST_ROLLBACK_WINDOW = "after the rollback"
POST_ROLLBACK_FIRST_POSITION = 101
POST_ROLLBACK_CHECKLIST = [
    "Verify recovery: error rate drops, latency normalises, watched for 15 minutes",
    "Communicate: status page updated, stakeholders notified, incident channel posted",
    "Preserve evidence: logs saved, metrics exported",
    "Postmortem scheduled within 24-48 hours",
]


class ChecklistFact(models.TextChoices):
    """Something Vigil records that completes a checklist item: Vigil ticks the item then.
    The labels end the sentence "Vigil ticked this when …"."""

    ACKNOWLEDGED = "acknowledged", "an acknowledgement was recorded"
    SEVERITY = "severity", "a person set the severity"
    STATUS_PAGE = "status_page", "a public update was posted to the status page"
    RESOLVED = "resolved", "the incident was marked resolved"
    POSTMORTEM = "postmortem", "the postmortem draft was started"
    ACTION_ITEMS = "action_items", "an action item was created"
    MITIGATION = "mitigation", "a rollback was decided"
    RECOVERED = "recovered", "the recovery watch saw the error rate and latency back to normal"


# The seed's items that Vigil ticks itself, and the fact that ticks each.
RECORDED_FACTS = {
    "Alert received and acknowledged": ChecklistFact.ACKNOWLEDGED,
    "Severity assessed (SEV1-4)": ChecklistFact.SEVERITY,
    "Status page updated": ChecklistFact.STATUS_PAGE,
    "Incident declared resolved": ChecklistFact.RESOLVED,
    "Postmortem scheduled": ChecklistFact.POSTMORTEM,
    "Action items created": ChecklistFact.ACTION_ITEMS,
    "Obvious fix attempted (rollback, scale, etc.)": ChecklistFact.MITIGATION,
    POST_ROLLBACK_CHECKLIST[0]: ChecklistFact.RECOVERED,
}
PHASE_WINDOW = {phase: window for phase, window, _, _ in RESPONSE_CHECKLIST}
PHASE_WINDOW[ChecklistPhase.POST_ROLLBACK] = POST_ROLLBACK_WINDOW
PHASE_TARGET = {phase: target for phase, _, target, _ in RESPONSE_CHECKLIST}
PHASE_TARGET[ChecklistPhase.POST_ROLLBACK] = None
PHASE_ORDER = {phase: i for i, (phase, _, _, _) in enumerate(RESPONSE_CHECKLIST)}
PHASE_ORDER[ChecklistPhase.POST_ROLLBACK] = len(PHASE_ORDER)


class ChecklistItem(IncidentScoped, models.Model):
    """One line of an incident's response checklist, ticked by a person at a time, or by Vigil
    when it records the item's fact (then no person unticks it)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="checklist")
    phase = models.CharField(max_length=16, choices=ChecklistPhase.choices)
    position = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=200)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    fact = models.CharField(
        max_length=16,
        choices=ChecklistFact.choices,
        blank=True,
        help_text="What Vigil records that ticks this item; empty for items only people tick.",
    )
    done_by_vigil = models.BooleanField(
        default=False, help_text="Ticked by Vigil when it recorded the fact; no person unticks it."
    )

    class Meta:
        ordering = ["incident", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "position"], name="one_checklist_item_per_position"
            ),
            models.UniqueConstraint(
                fields=["incident", "fact"],
                condition=~models.Q(fact=""),
                name="one_checklist_item_per_fact",
            ),
            models.CheckConstraint(
                condition=models.Q(done_by_vigil=False) | ~models.Q(fact=""),
                name="vigil_ticks_only_a_fact",
            ),
        ]

    def __str__(self):
        return f"{self.text} (#{self.incident_id})"

    @property
    def is_done(self):
        return self.done_at is not None

    def phase_due_at(self, incident=None):
        """When this item's phase should be complete, or None if it has no deadline."""
        incident = incident or self.incident
        target = PHASE_TARGET[ChecklistPhase(self.phase)]
        if target is None:
            return None
        anchor = getattr(incident, target[0])
        return anchor + timedelta(minutes=target[1]) if anchor else None
