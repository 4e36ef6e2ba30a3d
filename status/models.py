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
