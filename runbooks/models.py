from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from incidents.models import IncidentScoped

# A runbook is read on a phone at 3 AM: a megabyte of Markdown is already far beyond useful.
MAX_BODY_BYTES = 1_000_000
REVIEW_INTERVAL = timedelta(days=90)


class Runbook(models.Model):
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="runbooks")
    body = models.TextField(help_text="Markdown.")
    tags = models.JSONField(default=list, blank=True)
    alert_names = models.JSONField(
        default=list, blank=True, help_text="Values of the alertname label this runbook answers."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runbooks_owned",
    )
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    last_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("runbook_detail", args=[self.slug])

    @property
    def reviewed_or_created_at(self):
        # Writing a runbook is its first review.
        return self.last_reviewed_at or self.created_at

    @property
    def is_stale(self):
        return self.reviewed_or_created_at < timezone.now() - REVIEW_INTERVAL


class RunbookRevision(models.Model):
    """The content of a runbook as one save left it. Numbered from 1 per runbook."""

    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    alert_names = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=300, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "number"], name="runbook_revision_number")
        ]

    def __str__(self):
        return f"{self.runbook} revision {self.number}"

    @property
    def team_id(self):
        return self.runbook.team_id


class StepCheck(IncidentScoped, models.Model):
    """A runbook step a responder ticked during an incident."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="runbook_steps"
    )
    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="step_checks")
    step_key = models.CharField(max_length=64)
    label = models.CharField(max_length=300)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    checked_at = models.DateTimeField(default=timezone.now)
    event = models.ForeignKey(
        "incidents.TimelineEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["checked_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "runbook", "step_key"], name="runbook_step_once"
            )
        ]

    def __str__(self):
        return f"{self.label} on #{self.incident_id}"
