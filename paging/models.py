from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from oncall.models import masked_tail


class EscalationStatus(models.TextChoices):
    ACTIVE = "active", "Escalating"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    EXHAUSTED = "exhausted", "Every step notified"


class Escalation(models.Model):
    """An incident's walk through its team's escalation policy. The tick claims rows whose
    next_action_at has come (FOR UPDATE SKIP LOCKED) and runs the next step."""

    incident = models.OneToOneField(
        "incidents.Incident", on_delete=models.CASCADE, related_name="escalation"
    )
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=EscalationStatus.choices, default=EscalationStatus.ACTIVE
    )
    started_at = models.DateTimeField(default=timezone.now)
    next_action_at = models.DateTimeField(null=True, blank=True)
    next_position = models.PositiveIntegerField(default=0, help_text="Index into the steps.")
    cycle = models.PositiveIntegerField(default=1)
    steps_run = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    time_to_acknowledge = models.DurationField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_action_at"],
                condition=Q(status="active"),
                name="escalation_due",
            )
        ]

    def __str__(self):
        return f"Escalation of incident #{self.incident_id} ({self.get_status_display()})"


class StepRun(models.Model):
    """One escalation step executed. Unique per (escalation, number): a step runs once."""

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="step_runs")
    number = models.PositiveIntegerField(help_text="1, 2, 3… across repeats.")
    position = models.PositiveIntegerField()
    cycle = models.PositiveIntegerField(default=1)
    scheduled_at = models.DateTimeField()
    executed_at = models.DateTimeField()
    lateness = models.FloatField(help_text="Seconds after scheduled_at; never negative.")
    # The step's target kind as it was when it ran (layer, user, lead): what the step was
    # then, whatever the policy says now. The reports count "reached the lead" by it.
    target_kind = models.CharField(max_length=8, blank=True, db_default="")

    class Meta:
        ordering = ["escalation", "number"]
        constraints = [
            models.UniqueConstraint(fields=["escalation", "number"], name="step_runs_once")
        ]

    def __str__(self):
        return f"Step {self.number} of escalation {self.escalation_id}"


class Page(models.Model):
    """One person notified at one escalation step."""

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="pages")
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="pages"
    )
    step_run = models.ForeignKey(StepRun, on_delete=models.CASCADE, related_name="pages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pages"
    )
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ack_link_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["step_run", "user"], name="one_page_per_step_person")
        ]

    def __str__(self):
        return f"Page to {self.user} for incident #{self.incident_id}"

    @property
    def team_id(self):
        return self.escalation.team_id


class Channel(models.TextChoices):
    IN_APP = "in_app", "In-app"
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    PAGERDUTY = "pagerduty", "PagerDuty"
    WEBHOOK = "webhook", "Webhook"
    SMS = "sms", "SMS"
    VOICE = "voice", "Phone call"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Notification(models.Model):
    """The outbox: one message to deliver. `key` is unique, built from (page, step, person,
    channel, contact) for pages, so a retry or a second tick never sends it twice."""

    key = models.CharField(max_length=200, unique=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    page = models.ForeignKey(
        Page, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    step = models.PositiveIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    purpose = models.CharField(max_length=16, help_text="page, chat, acknowledge, resolve")
    target = models.CharField(max_length=500, help_text="Address or URL (never shown in full).")
    payload = models.JSONField()
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=["pending", "sending"]),
                name="notification_due",
            ),
            models.Index(fields=["incident", "created_at"]),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} {self.purpose} ({self.state})"

    @property
    def target_display(self):
        if self.channel in (Channel.SLACK, Channel.WEBHOOK, Channel.PAGERDUTY):
            return self.target.split("/")[2] if "//" in self.target else self.target[:20]
        if self.channel in (Channel.EMAIL, Channel.SMS, Channel.VOICE):
            # Everyone who may see the incident sees its delivery log; a number is its owner's.
            return masked_tail(self.target)
        return self.target


class DeliveryAttempt(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self):
        return f"Attempt {self.number} of notification {self.notification_id}"


def bell_topic(user_id) -> str:
    """The live topic of a person's notifications (the bell)."""
    return f"user:{user_id}"


class InAppNotification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="in_app_notifications"
    )
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    page = models.ForeignKey(
        Page, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self):
        return self.title
