import calendar
import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import validate_time_zone
from teams.models import Team


def masked_tail(value: str) -> str:
    """A contact value as people other than its owner see it: its last four characters only,
    and none of it when it is too short for four to leave most of it hidden."""
    value = (value or "").strip()
    return f"····{value[-4:]}" if len(value) >= 10 else "····"


class ContactMethod(models.Model):
    """How a person is reached when paged; listed on "On call now" and used by the paging engine.

    `kind` is one of email, sms, phone, slack, webhook; `value` is the address, number or URL,
    shown in full only to its owner and administrators (`teams.access.sees_contact_values`).
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        PHONE = "phone", "Phone call"
        SLACK = "slack", "Slack"
        WEBHOOK = "webhook", "Webhook"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=300)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user_id", "kind", "id"]

    def __str__(self):
        # Masked: this lands in the audit log and admin lists, which are no place for a secret.
        return f"{self.get_kind_display()}: {self.masked_value}"

    @property
    def masked_value(self) -> str:
        return masked_tail(self.value)


class Schedule(models.Model):
    """A team's on-call schedule: rotation layers evaluated in the schedule's time zone."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="schedules")
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="one_schedule_name_per_team")
        ]

    def __str__(self):
        return f"{self.team} · {self.name}"


class Cadence(models.TextChoices):
    DAILY = "daily", "Every N days"
    WEEKLY = "weekly", "Every N weeks"


class Restriction(models.TextChoices):
    NONE = "none", "Around the clock"
    BUSINESS_HOURS = "business_hours", "Business hours only (Mon–Fri)"


class Layer(models.Model):
    """A rotation layer of a schedule (e.g. "Primary", "Secondary").

    Members take turns in `position` order; a handoff happens every `interval` days (daily
    cadence) or weeks (weekly cadence) at `handoff_time` local to the schedule's time zone, on
    `handoff_weekday` (0 = Monday) for the weekly cadence. The first shift starts at the first
    handoff on or after `start_date`. A business-hours layer is on call only Monday–Friday
    between `active_from` and `active_until` local time.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField(default=0)
    cadence = models.CharField(max_length=8, choices=Cadence.choices, default=Cadence.WEEKLY)
    interval = models.PositiveSmallIntegerField(default=1)
    handoff_weekday = models.PositiveSmallIntegerField(
        default=0, choices=[(i, d) for i, d in enumerate(calendar.day_name)]
    )
    handoff_time = models.TimeField(default=datetime.time(9, 0))
    start_date = models.DateField()
    restriction = models.CharField(
        max_length=16, choices=Restriction.choices, default=Restriction.NONE
    )
    active_from = models.TimeField(default=datetime.time(9, 0))
    active_until = models.TimeField(default=datetime.time(17, 0))

    class Meta:
        ordering = ["schedule_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "name"], name="one_layer_name_per_schedule")
        ]

    def __str__(self):
        return f"{self.schedule.name} · {self.name}"

    @property
    def team_id(self):
        return self.schedule.team_id

    @property
    def team(self):
        return self.schedule.team


class LayerMember(models.Model):
    """One person's place in a layer's rotation order."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="layer_memberships"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["layer_id", "position", "id"]

    def __str__(self):
        return f"{self.user} #{self.position + 1} in {self.layer_id}"


class Override(models.Model):
    """`user` is on call for `layer` from `start` to `end`, whatever the rotation says.

    The most recently created override wins where overrides overlap.
    """

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="overrides_taken"
    )
    replaces = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="overrides_given",
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["layer", "end", "start"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="override_ends_after_start"
            )
        ]

    def __str__(self):
        return f"{self.user} covers {self.layer} {self.start:%Y-%m-%d %H:%M}–{self.end:%H:%M}"

    @property
    def team_id(self):
        return self.layer.schedule.team_id

    @property
    def team(self):
        return self.layer.schedule.team


class SwapRequest(models.Model):
    """`requester` asks `recipient` to cover `layer` from `start` to `end`.

    Accepting creates the Override; declining or cancelling keeps the record.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        CANCELLED = "cancelled", "Cancelled"

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="swap_requests")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="swaps_requested"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="swaps_received"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    override = models.OneToOneField(
        Override, null=True, blank=True, on_delete=models.SET_NULL, related_name="swap_request"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The status whose email went out, so a task delivered twice emails once.
    emailed_for = models.CharField(max_length=10, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="swap_ends_after_start"
            )
        ]

    def __str__(self):
        return f"{self.requester} asks {self.recipient} to cover {self.layer}"

    @property
    def team_id(self):
        return self.layer.schedule.team_id

    @property
    def team(self):
        return self.layer.schedule.team


class EscalationPolicy(models.Model):
    """Who is notified, in which order, when a page is not acknowledged.

    The steps run in `position` order; the whole list runs `repeat` times (1 = once).
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="escalation_policies")
    name = models.CharField(max_length=100, default="Default")
    repeat = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["team_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team"], name="one_escalation_policy_per_team")
        ]

    def __str__(self):
        return f"{self.team}: {self.name}"


class EscalationStep(models.Model):
    """Notify a target, then wait `wait_minutes` before the next step (or the next repeat).

    target_kind "layer": whoever is on call in `layer` at the time; "user": `user`;
    "lead": the team's engineering lead at the time.
    """

    class TargetKind(models.TextChoices):
        LAYER = "layer", "Whoever is on call in a layer"
        USER = "user", "A person"
        LEAD = "lead", "The team's engineering lead"

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    target_kind = models.CharField(max_length=8, choices=TargetKind.choices)
    layer = models.ForeignKey(
        Layer, null=True, blank=True, on_delete=models.SET_NULL, related_name="escalation_steps"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="escalation_steps",
    )
    wait_minutes = models.PositiveSmallIntegerField(default=5)

    class Meta:
        ordering = ["policy_id", "position", "id"]

    def __str__(self):
        return f"Step {self.position + 1}: {self.get_target_kind_display()}"


class HandoffNote(models.Model):
    """What the outgoing person tells the incoming one at a handoff of `layer`."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="handoff_notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="handoff_notes"
    )
    handoff_at = models.DateTimeField(help_text="The end of the author's shift.")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-handoff_at", "-id"]

    def __str__(self):
        return f"Handoff note by {self.author} at {self.handoff_at:%Y-%m-%d %H:%M}"


PRE_SHIFT_CHECKLIST = [
    ("laptop", "Laptop charged and ready"),
    ("vpn", "VPN configured"),
    ("access", "Access to all systems verified"),
    ("runbooks", "Runbooks bookmarked"),
    ("secondary", "Secondary on-call contact saved"),
    ("escalation", "Escalation path known"),
]


class ShiftReminder(models.Model):
    """One pre-shift reminder per (layer, person, shift start), with the checklist ticked."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shift_reminders"
    )
    shift_start = models.DateTimeField()
    shift_end = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    checked = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["shift_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["layer", "user", "shift_start"], name="one_reminder_per_shift"
            )
        ]

    def __str__(self):
        return f"Reminder for {self.user} at {self.shift_start:%Y-%m-%d %H:%M}"

    @property
    def checklist(self):
        return [(key, label, key in self.checked) for key, label in PRE_SHIFT_CHECKLIST]


class GapNotice(models.Model):
    """A gap in a layer already raised to the team's managers (raised once per gap)."""

    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="gap_notices")
    start = models.DateTimeField()
    end = models.DateTimeField()
    notified_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["layer", "start"], name="one_notice_per_gap")
        ]

    def __str__(self):
        return f"Gap in {self.layer_id} from {self.start:%Y-%m-%d %H:%M}"


class CalendarToken(models.Model):
    """The secret in an iCalendar feed URL, for a schedule or for a person. Revocable.

    The URL is shown once, when issued; only its SHA-256 and first characters are kept.
    """

    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.CASCADE, related_name="calendar_tokens"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="calendar_tokens",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=6, blank=True)  # not a secret: tells feeds apart
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(schedule__isnull=False, user__isnull=True)
                | models.Q(schedule__isnull=True, user__isnull=False),
                name="calendar_token_for_schedule_or_person",
            )
        ]

    def __str__(self):
        return f"Calendar feed token {self.prefix}…"
