"""Communications: status updates written from templates, and the public status pages they
feed (components in groups, each public incident's updates, planned maintenance).

Statuses and phases use Statuspage's v2 values, so its JSON is Vigil's JSON."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import validate_time_zone


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED = "degraded_performance", "Degraded performance"
    PARTIAL = "partial_outage", "Partial outage"
    MAJOR = "major_outage", "Major outage"
    MAINTENANCE = "under_maintenance", "Under maintenance"


# Worst wins when several incidents name one component; maintenance is below any outage.
STATUS_RANK = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.MAINTENANCE: 1,
    ComponentStatus.DEGRADED: 2,
    ComponentStatus.PARTIAL: 3,
    ComponentStatus.MAJOR: 4,
}


class Phase(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


class Impact(models.TextChoices):
    NONE = "none", "None"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


# The public impact a Vigil severity means, until the person posting says otherwise.
IMPACT_FOR_SEVERITY = {1: Impact.CRITICAL, 2: Impact.MAJOR, 3: Impact.MINOR, 4: Impact.NONE}


class StatusPage(models.Model):
    """One public page (a product's or a team's) with its own components, title and logo."""

    slug = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    logo_url = models.URLField(blank=True, help_text="An https image shown beside the title.")
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        related_name="status_pages",
        help_text="Its managers edit the page; its incidents may post to it.",
    )
    is_default = models.BooleanField(default=False, help_text="The page served at /status/.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="status_one_default_page"
            )
        ]

    def __str__(self):
        return self.title

    @property
    def is_private(self):
        return False


class ComponentGroup(models.Model):
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["page", "name"], name="status_group_name_once")
        ]

    def __str__(self):
        return self.name


class Component(models.Model):
    """A part of the product the public sees. In at most one group (its foreign key)."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="components")
    group = models.ForeignKey(
        ComponentGroup,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="components",
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    alert_service = models.CharField(
        max_length=100,
        blank=True,
        help_text="The `service` label of this component's alerts: silenced during maintenance.",
    )

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["page", "name"], name="status_component_name_once")
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if self.group_id and self.group.page_id != self.page_id:
            raise ValidationError({"group": "The group belongs to another status page."})


class PublicIncident(models.Model):
    """What one status page says about one Vigil incident: its public name and impact.
    Made by the first public update; the internal title never leaves Vigil."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="incidents")
    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="public_incidents"
    )
    name = models.CharField(max_length=200)
    impact = models.CharField(max_length=16, choices=Impact.choices, default=Impact.MINOR)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.INVESTIGATING)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["page", "incident"], name="status_incident_once")
        ]
        indexes = [models.Index(fields=["page", "resolved_at"], name="status_pi_open")]

    def __str__(self):
        return self.name


class StatusUpdate(models.Model):
    """One update: public (on a status page, to subscribers) or internal (to the team and
    stakeholders only). Always on the incident's timeline."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="status_updates"
    )
    public_incident = models.ForeignKey(
        PublicIncident,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="updates",
    )
    phase = models.CharField(max_length=16, choices=Phase.choices)
    body = models.TextField()
    is_public = models.BooleanField()
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    posted_at = models.DateTimeField(default=timezone.now)
    timeline_event = models.OneToOneField(
        "incidents.TimelineEvent", on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["-posted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_public=False, public_incident__isnull=True)
                | Q(is_public=True, public_incident__isnull=False),
                name="status_update_public_has_page",
            )
        ]

    def __str__(self):
        return f"{self.get_phase_display()} update of incident #{self.incident_id}"


class ComponentImpact(models.Model):
    """A component's status as one public update set it."""

    update = models.ForeignKey(StatusUpdate, on_delete=models.CASCADE, related_name="impacts")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="impacts")
    status = models.CharField(max_length=24, choices=ComponentStatus.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["update", "component"], name="status_impact_once")
        ]

    def __str__(self):
        return f"{self.component_id}: {self.status}"


class UpdateTemplate(models.Model):
    """A team's own wording for one phase; without one, Vigil's default is used."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    phase = models.CharField(max_length=16, choices=Phase.choices)
    body = models.TextField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "phase"], name="status_template_once")
        ]

    def __str__(self):
        return f"{self.get_phase_display()} template of {self.team}"

    @property
    def is_private(self):
        return False


class MaintenanceStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"


class Maintenance(models.Model):
    """A planned window on some components of one page."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="maintenances")
    name = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    components = models.ManyToManyField(Component, related_name="maintenances")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    silences = models.ManyToManyField("alerts.Silence", blank=True, related_name="+")

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="status_maintenance_ends_after"
            )
        ]

    def __str__(self):
        return self.name

    def status_at(self, at):
        if at < self.starts_at:
            return MaintenanceStatus.SCHEDULED
        if at < self.ends_at:
            return MaintenanceStatus.IN_PROGRESS
        return MaintenanceStatus.COMPLETED


class SubscriberKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class Subscriber(models.Model):
    """Someone told of a page's public updates and maintenance. An email subscriber is told
    nothing before confirming (double opt-in); an unsubscribed one never again. No
    components chosen means all of them."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="subscribers")
    kind = models.CharField(max_length=8, choices=SubscriberKind.choices)
    address = models.CharField(max_length=500, help_text="An email address or an https URL.")
    components = models.ManyToManyField(Component, blank=True, related_name="subscribers")
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "kind", "address"], name="status_subscriber_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["page", "id"],
                condition=Q(confirmed_at__isnull=False, unsubscribed_at__isnull=True),
                name="status_subscriber_active",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} subscriber of {self.page}"

    @property
    def is_active(self):
        return self.confirmed_at is not None and self.unsubscribed_at is None


class NoticeState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class SubscriberNotice(models.Model):
    """One subscriber told of one public update or maintenance window: the per-subscriber
    record the worker sends from, retries and never sends twice."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="notices")
    update = models.ForeignKey(
        StatusUpdate, on_delete=models.CASCADE, null=True, blank=True, related_name="notices"
    )
    maintenance = models.ForeignKey(
        Maintenance, on_delete=models.CASCADE, null=True, blank=True, related_name="notices"
    )
    state = models.CharField(max_length=8, choices=NoticeState.choices, default=NoticeState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "update"],
                condition=Q(update__isnull=False),
                name="status_notice_update_once",
            ),
            models.UniqueConstraint(
                fields=["subscriber", "maintenance"],
                condition=Q(maintenance__isnull=False),
                name="status_notice_maintenance_once",
            ),
            models.CheckConstraint(
                condition=Q(update__isnull=False, maintenance__isnull=True)
                | Q(update__isnull=True, maintenance__isnull=False),
                name="status_notice_of_one_thing",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="status_notice_due",
            )
        ]

    def __str__(self):
        return f"Notice {self.pk} to subscriber {self.subscriber_id} ({self.state})"


class StakeholderKind(models.TextChoices):
    PERSON = "person", "A person in Vigil (in-app and their contact methods)"
    EMAIL = "email", "An email address"
    SLACK = "slack", "A Slack-compatible webhook channel"


class Stakeholder(models.Model):
    """Someone a team keeps informed of its incidents' updates."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="stakeholders")
    kind = models.CharField(max_length=8, choices=StakeholderKind.choices)
    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    address = models.CharField(max_length=500, blank=True, help_text="Email address or URL.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def is_private(self):
        return False


class UpdateReminder(models.Model):
    """The worker's reminder that an incident's update is due: one per due time, so a
    restart or a second worker never reminds twice."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="update_reminders"
    )
    due_at = models.DateTimeField()
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "due_at"], name="status_reminder_once")
        ]

    def __str__(self):
        return f"Update reminder for incident #{self.incident_id} due {self.due_at:%H:%M}"
