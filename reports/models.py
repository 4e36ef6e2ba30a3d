"""The learning loop: drills (rehearsals of a night through the real alert pipeline), the
people who take part in them, and each team's drill schedule. The reports themselves are read
from the incidents, pages and timelines Vigil already records; they store nothing."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class DrillScenario(models.Model):
    """What a drill sends: one synthetic alert (name, labels, annotations, the figure it
    reports) and, optionally, a change recorded shortly before it, as on a real night. A
    scenario without a team is built in and offered to every team."""

    team = models.ForeignKey(
        "teams.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    alert_name = models.CharField(max_length=200)
    severity = models.CharField(
        max_length=16, default="critical", help_text="The alert's severity label."
    )
    service = models.CharField(max_length=100, blank=True)
    labels = models.JSONField(default=dict, blank=True, help_text="Further alert labels.")
    annotations = models.JSONField(default=dict, blank=True)
    value = models.CharField(max_length=40, blank=True, help_text="The figure, e.g. 45%.")
    change_version = models.CharField(
        max_length=100, blank=True, help_text="A deploy recorded before the alert (none: blank)."
    )
    change_minutes_before = models.PositiveSmallIntegerField(default=3)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "slug"], name="drill_scenario_slug_per_team"),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(team=None), name="drill_scenario_builtin_slug"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_built_in(self):
        return self.team_id is None

    @property
    def is_private(self):
        return False


class DrillOptIn(models.Model):
    """A person who takes part in their team's drills: only they are paged by one."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drill_opt_ins"
    )
    opted_in_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_drill_opt_in_per_team")
        ]

    def __str__(self):
        return f"{self.user} takes part in {self.team}'s drills"

    @property
    def is_private(self):
        return False


class DrillState(models.TextChoices):
    RUNNING = "running", "Running"
    ENDED = "ended", "Ended"


class Drill(models.Model):
    """One rehearsal: its incident (marked is_drill), who was in it, and, once ended, its
    report (times against the targets, what was skipped, who acknowledged without being in
    it). The team's drill log is its drills, newest first."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="drills")
    scenario = models.ForeignKey(DrillScenario, on_delete=models.PROTECT, related_name="drills")
    state = models.CharField(max_length=8, choices=DrillState.choices, default=DrillState.RUNNING)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Blank when the team's drill schedule started it.",
    )
    schedule = models.ForeignKey(
        "DrillSchedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="drills"
    )
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incident = models.OneToOneField(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drill",
    )
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="drills_taken"
    )
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["team", "-started_at"])]

    def __str__(self):
        return f"Drill {self.pk}: {self.scenario} for {self.team}"

    @property
    def is_private(self):
        return False


class DrillSchedule(models.Model):
    """A team's standing drill: every N weeks the worker starts its scenario at a random
    time inside the team's business hours, told in advance to the team's managers only."""

    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="drill_plan")
    scenario = models.ForeignKey(DrillScenario, on_delete=models.PROTECT, related_name="+")
    every_weeks = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(52)]
    )
    enabled = models.BooleanField(default=True)
    next_at = models.DateTimeField(null=True, blank=True, help_text="Known to managers only.")
    managers_told_for = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["next_at"], condition=Q(enabled=True), name="drill_plan_due")
        ]

    def __str__(self):
        return f"A drill every {self.every_weeks} weeks for {self.team}"

    @property
    def is_private(self):
        return False
