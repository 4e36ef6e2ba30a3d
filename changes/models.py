"""Change events (deploys, config and feature-flag changes), the services they touch, and what
a responder decides about them: the rollback advisor's answers, the rollback decision and the
recovery watch that follows it."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The seed's alert rules, as a service's queries until its team sets its own.
DEFAULT_ERROR_RATE_QUERY = "sum(rate(agent_errors_total[5m])) / sum(rate(agent_requests_total[5m]))"
DEFAULT_LATENCY_QUERY = "histogram_quantile(0.95, rate(agent_response_seconds_bucket[5m]))"


class ChangeKind(models.TextChoices):
    DEPLOY = "deploy", "Deploy"
    CONFIG = "config", "Config change"
    FLAG = "flag", "Feature flag change"


class ChangeSource(models.TextChoices):
    API = "api", "Vigil API"
    PAGERDUTY = "pagerduty", "PagerDuty Change Events"
    GITHUB = "github", "GitHub deployment"
    CLI = "cli", "record_change"
    FLAGS = "flags", "Vigil flag snapshot"


class TeamMetrics(models.Model):
    """Where the rollback advisor and the recovery watch read a team's metrics."""

    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="metrics")
    prometheus_url = models.URLField(
        blank=True,
        help_text="Prometheus base URL, e.g. http://prometheus:9090; empty: PROMETHEUS_URL.",
    )

    def __str__(self):
        return f"Metrics for {self.team}"

    @property
    def is_private(self):
        return False


class Service(models.Model):
    """Something a team deploys; made on the first change that names it."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=100)
    error_rate_query = models.TextField(
        default=DEFAULT_ERROR_RATE_QUERY,
        blank=True,
        help_text="PromQL giving the error rate as a ratio (0.1 = 10%); empty: not measured.",
    )
    latency_query = models.TextField(
        default=DEFAULT_LATENCY_QUERY,
        blank=True,
        help_text="PromQL giving the p95 latency in seconds; empty: not measured.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="service_per_team")]

    def __str__(self):
        return self.name

    @property
    def is_private(self):
        return False


# The key of a drill's staged change in its details (reports.drills records the drill's id).
DRILL_KEY = "drill"


class ChangeEvent(models.Model):
    """One deploy, config change or flag change, as its sender told it."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="changes")
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="changes")
    environment = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=8, choices=ChangeKind.choices, default=ChangeKind.DEPLOY)
    summary = models.CharField(max_length=500)
    # The version (or revision, image tag, commit) the change put in place, and the one it
    # replaced where the sender knows it: the rollback's commands are filled from them.
    version = models.CharField(max_length=200, blank=True)
    previous_version = models.CharField(max_length=200, blank=True)
    author = models.CharField(max_length=200, blank=True, help_text="Who made the change.")
    occurred_at = models.DateTimeField()
    url = models.URLField(max_length=2000, blank=True)
    source = models.CharField(max_length=16, choices=ChangeSource.choices)
    # The sender's id for it (a GitHub delivery, a PagerDuty body's hash, an API client's
    # key): the same change sent again is stored once.
    external_id = models.CharField(max_length=200, blank=True)
    integration = models.ForeignKey(
        "alerts.Integration", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            models.Index(fields=["team", "-occurred_at"], name="change_team_recent"),
            models.Index(fields=["service", "-occurred_at"], name="change_service_recent"),
            models.Index(fields=["-occurred_at", "-id"], name="change_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "source", "external_id"],
                condition=~Q(external_id=""),
                name="change_once_per_sender_id",
            )
        ]

    def __str__(self):
        return f"{self.service}: {self.summary}"

    @property
    def is_private(self):
        return False

    @property
    def is_drill(self) -> bool:
        """A drill's staged deploy: recorded like a real one, and never one."""
        return isinstance(self.details, dict) and DRILL_KEY in self.details


class IncidentChange(models.Model):
    """A change inside an incident's window, put on its timeline once."""

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="+")
    change = models.ForeignKey(ChangeEvent, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(
        "incidents.TimelineEvent", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "change"], name="change_once_per_incident")
        ]

    def __str__(self):
        return f"Change {self.change_id} on #{self.incident_id}"


class Answer(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNKNOWN = "unknown", "Don't know"


class AdvisorAnswer(models.Model):
    """A responder's answer to one of the rollback advisor's questions."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="rollback_answers"
    )
    criterion = models.CharField(max_length=32)
    answer = models.CharField(max_length=8, choices=Answer.choices)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["criterion"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "criterion"], name="one_answer_per_criterion"
            )
        ]

    def __str__(self):
        return f"{self.criterion}: {self.answer} (#{self.incident_id})"


class Procedure(models.TextChoices):
    """The seed's four rollback procedures."""

    KUBERNETES = "kubernetes", "Kubernetes rolling undo"
    BLUE_GREEN = "blue_green", "Blue-green switch"
    FLAG_OFF = "flag_off", "Feature flag off"
    DATABASE = "database", "Database migration rollback"


class RollbackDecision(models.Model):
    """ "Roll back": who decided, when, which change, how (the commands as shown)."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="rollback_decisions"
    )
    change = models.ForeignKey(
        ChangeEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    procedure = models.CharField(max_length=16, choices=Procedure.choices)
    commands = models.TextField()
    # The advice when the decision was made (recommendation and criteria), for the postmortem.
    advice = models.JSONField(default=dict, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at", "-pk"]

    def __str__(self):
        return f"Rollback ({self.get_procedure_display()}) on #{self.incident_id}"


class WatchStatus(models.TextChoices):
    WATCHING = "watching", "Watching"
    RECOVERED = "recovered", "Recovered"
    NOT_RECOVERED = "not_recovered", "Not recovered"
    NO_DATA = "no_data", "No metrics"


class RecoveryWatch(models.Model):
    """After a rollback or mitigation: the error rate and p95 latency read every minute for
    15 minutes. The row is the state (a worker restart loses nothing): the tick samples the
    watches whose next_sample_at has come."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="recovery_watches"
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.ForeignKey(
        RollbackDecision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trigger = models.CharField(max_length=100, help_text="What started it, e.g. 'Rollback'.")
    status = models.CharField(
        max_length=16, choices=WatchStatus.choices, default=WatchStatus.WATCHING
    )
    started_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    next_sample_at = models.DateTimeField()
    interval_seconds = models.PositiveIntegerField(default=60)
    # "Normal": the same queries a week earlier (offset 1w), read when the watch starts.
    normal_error_rate = models.FloatField(null=True, blank=True)
    normal_latency = models.FloatField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_sample_at"],
                condition=Q(status="watching"),
                name="recovery_watch_due",
            )
        ]

    def __str__(self):
        return f"Recovery watch on #{self.incident_id} ({self.status})"


class RecoverySample(models.Model):
    watch = models.ForeignKey(RecoveryWatch, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField(default=timezone.now)
    error_rate = models.FloatField(null=True, blank=True)
    latency = models.FloatField(null=True, blank=True)
    problem = models.CharField(max_length=300, blank=True, help_text="Why a value is missing.")

    class Meta:
        ordering = ["watch", "at", "pk"]

    def __str__(self):
        return f"{self.at:%H:%M:%S} error rate {self.error_rate} p95 {self.latency}"
