"""Vigil's own heartbeat, and the dependency checks it runs for teams: the source document's
"Step 3: Check Dependencies" (the model API's HTTP status, Redis PING, PostgreSQL SELECT 1)
and its Prometheus alert expressions (error rate, p95 latency), run on an interval."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from common.links import redact_url

# The seed's alert expressions (prometheus-rules.yaml), offered as examples in the form.
SEED_EXAMPLES = {
    "error_rate": {
        "label": "Error rate above 10% (AgentHighErrorRate)",
        "name": "Agent error rate",
        "query": "(sum(rate(agent_errors_total[5m])) / sum(rate(agent_requests_total[5m])))",
        "comparison": ">",
        "threshold": 0.10,
    },
    "p95_latency": {
        "label": "p95 latency above 5 s (AgentHighLatency)",
        "name": "Agent p95 latency",
        "query": "histogram_quantile(0.95, rate(agent_response_seconds_bucket[5m]))",
        "comparison": ">",
        "threshold": 5.0,
    },
}


class Heartbeat(models.Model):
    """The last time a periodic process proved it was alive (e.g. Celery beat)."""

    name = models.CharField(max_length=64, unique=True)
    at = models.DateTimeField(default=timezone.now)
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"


class CheckKind(models.TextChoices):
    HTTP = "http", "HTTP status"
    TCP = "tcp", "TCP connect"
    REDIS = "redis", "Redis PING"
    POSTGRES = "postgres", "PostgreSQL SELECT 1"
    PROMETHEUS = "prometheus", "Prometheus query vs threshold"


class Comparison(models.TextChoices):
    GT = ">", "> (fails above)"
    GE = ">=", ">= (fails at or above)"
    LT = "<", "< (fails below)"
    LE = "<=", "<= (fails at or below)"


class CheckState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    UP = "up", "Up"
    DOWN = "down", "Down"


class Check(models.Model):
    """One dependency a team watches. It goes down after `fail_after` failures in a row and
    raises an alert through the team's internal integration; up again after `recover_after`
    successes in a row, which resolves it.

    A Prometheus check fails when any series of the query's instant vector breaches the
    threshold (`value comparison threshold` is true), and also when the query gives no data
    or NaN: a dependency that stopped reporting is not a healthy one."""

    # Targets are a team's internal addresses: only the team sees its checks.
    is_private = True

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="checks")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=CheckKind.choices)
    # A secret when it holds a password (redis://, postgres://): shown only as redacted_target.
    target = models.CharField(max_length=500)
    expected_status = models.PositiveSmallIntegerField(default=200)
    body_match = models.CharField(max_length=500, blank=True)
    query = models.TextField(blank=True)
    comparison = models.CharField(
        max_length=2, choices=Comparison.choices, default=Comparison.GT, blank=True
    )
    threshold = models.FloatField(null=True, blank=True)
    interval_seconds = models.PositiveIntegerField(default=60)
    timeout_seconds = models.FloatField(default=5)
    fail_after = models.PositiveSmallIntegerField(default=3)
    recover_after = models.PositiveSmallIntegerField(default=2)
    state = models.CharField(max_length=8, choices=CheckState.choices, default=CheckState.UNKNOWN)
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(default=timezone.now, db_index=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="check_name_unique_per_team")
        ]

    def __str__(self):
        return self.name

    @property
    def redacted_target(self) -> str:
        return redact_url(self.target)

    @property
    def alert_key(self) -> str:
        return f"check:{self.pk}"


class CheckResult(models.Model):
    """One run of a check. Kept for RESULTS_KEPT_FOR (checks.services)."""

    # Not `check`: that name is Model.check(), Django's system checks.
    dependency_check = models.ForeignKey(
        Check, on_delete=models.CASCADE, related_name="results", db_column="check_id"
    )
    at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    detail = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["dependency_check", "-at"], name="checkresult_check_at")]

    def __str__(self):
        outcome = "ok" if self.ok else "failed"
        return f"{self.dependency_check_id} {outcome} at {self.at:%Y-%m-%d %H:%M:%S}"
