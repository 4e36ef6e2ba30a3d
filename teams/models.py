"""Teams: who belongs to which team in which role, and each team's own settings (time zone,
business hours, alert routing, the PagerDuty key). Every app above builds on these; the
access rules that read them are in teams/access.py."""

from datetime import time

from django.conf import settings
from django.db import models, transaction

from accounts.models import validate_time_zone


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    RESPONDER = "responder", "Responder"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


# A higher rank may do everything a lower one may.
ROLE_RANK = {Role.VIEWER: 1, Role.RESPONDER: 2, Role.MANAGER: 3, Role.ADMIN: 4}


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    engineering_lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="teams_led",
        help_text="The last step of the team's default escalation path.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams"
    )

    class Meta:
        db_table = "oncall_team"  # the table it has had since Vigil's first release
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if not self._state.adding:
            super().save(*args, **kwargs)
            return
        # Every team has its routing settings (and, through oncall's receiver, its escalation
        # path) from the start, in the transaction that makes it; reads never make them.
        with transaction.atomic():
            super().save(*args, **kwargs)
            TeamRouting.objects.create(team=self)


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.RESPONDER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")
        ]
        db_table = "oncall_membership"
        ordering = ["team__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.get_role_display()})"


def default_business_days():
    return [0, 1, 2, 3, 4]


def default_severity_map():
    return {"critical": "SEV1", "warning": "SEV2", "info": "SEV4"}


class TeamRouting(models.Model):
    """How a team's alerts are routed (the seed's AlertRouter, made configurable)."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="routing")
    business_days = models.JSONField(
        default=default_business_days, help_text="Weekdays, Monday = 0."
    )
    business_start = models.TimeField(default=time(9, 0))
    business_end = models.TimeField(default=time(17, 0))
    severity_map = models.JSONField(
        default=default_severity_map, help_text="Alert severity label → SEV name."
    )
    incidents_webhook_url = models.URLField(blank=True, help_text="#incidents")
    oncall_webhook_url = models.URLField(blank=True, help_text="#on-call")
    alerts_webhook_url = models.URLField(blank=True, help_text="#alerts")
    pagerduty_routing_key = models.CharField(max_length=64, blank=True)
    reopen_window_minutes = models.PositiveIntegerField(
        default=30,
        help_text="An alert group that fires again this many minutes after its incident was "
        "resolved reopens that incident instead of opening a new one (0: never reopen).",
    )

    class Meta:
        db_table = "alerts_teamrouting"

    def __str__(self):
        return f"Routing for {self.team}"

    @property
    def is_private(self):
        return False
