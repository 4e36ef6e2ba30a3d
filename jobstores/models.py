"""The agent job stores Vigil watches: the Redis of an AI-agent platform, where jobs,
conversations, queues and feature flags live. The source document's debug tools, run by the
workers every minute and on demand."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from common.links import SECRET_MASK, redact_url  # noqa: F401 (the store's callers read them here)

# The seed's error counter by type, over the last hour.
DEFAULT_ERRORS_QUERY = "sum by (type) (increase(agent_errors_total[1h]))"


class JobFormat(models.TextChoices):
    SEED = "json", "JSON jobs (job:<id> strings with status and started_at)"
    RQ = "rq", "RQ (started-job registries and rq:job hashes)"
    CELERY = "celery", "Celery's Redis transport (unacknowledged messages)"


class JobStore(models.Model):
    """One monitored Redis (or Redis Cluster) and what to look for in it."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="job_stores")
    name = models.CharField(max_length=100)
    # A secret: its password is never shown after saving, nor logged (see redacted_url).
    redis_url = models.CharField(max_length=500)
    cluster = models.BooleanField(
        default=False, help_text="A Redis Cluster: every primary is scanned."
    )
    format = models.CharField(max_length=8, choices=JobFormat.choices, default=JobFormat.SEED)
    job_pattern = models.CharField(max_length=200, default="job:*")
    conv_pattern = models.CharField(max_length=200, default="conv:*")
    queue_pattern = models.CharField(max_length=200, default="queue:priority:*")
    flag_pattern = models.CharField(max_length=200, default="flag:*")
    stale_after_seconds = models.PositiveIntegerField(default=300)
    queue_depth_threshold = models.PositiveIntegerField(default=1000)
    queue_depth_minutes = models.PositiveIntegerField(default=15)
    errors_stream = models.CharField(max_length=200, default="errors")
    prometheus_url = models.CharField(max_length=500, blank=True)
    errors_query = models.CharField(max_length=1000, blank=True, default=DEFAULT_ERRORS_QUERY)
    # Celery's Redis transport redelivers an unacknowledged message after this many seconds.
    visibility_timeout_seconds = models.PositiveIntegerField(default=3600)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="job_store_name_per_team")
        ]

    def __str__(self):
        return self.name

    @property
    def redacted_url(self) -> str:
        return redact_url(self.redis_url)

    # A store holds people's conversations: only its team's members see it (teams.access).
    is_private = True


# What a team's manager sets on a store (its form, its save, its audit entries).
STORE_FIELDS = (
    "name",
    "redis_url",
    "cluster",
    "format",
    "job_pattern",
    "conv_pattern",
    "queue_pattern",
    "flag_pattern",
    "stale_after_seconds",
    "queue_depth_threshold",
    "queue_depth_minutes",
    "errors_stream",
    "prometheus_url",
    "errors_query",
    "visibility_timeout_seconds",
    "enabled",
)


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "Finished"
    FAILED = "failed", "Failed"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Every minute"
    PERSON = "person", "Started by a person"
    CLI = "cli", "Command line"


class ScanRun(models.Model):
    """One stale-job scan of a store: what it read, what it found, how fast."""

    store = models.ForeignKey(JobStore, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=8, choices=RunTrigger.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    max_age_seconds = models.PositiveIntegerField(default=300)
    # Progress while running: keys scanned of the store's DBSIZE (summed over primaries).
    dbsize = models.BigIntegerField(default=0)
    keys_scanned = models.BigIntegerField(default=0)
    # Keys by outcome: stale, processing, other_status, not_json, wrong_type,
    # missing_fields, bad_time, vanished, too_large.
    counts = models.JSONField(default=dict)
    stale_count = models.PositiveIntegerField(default=0)
    stale_jobs = models.JSONField(default=list)
    # What went wrong, in words (a node that did not answer, a wrong password...).
    errors = models.JSONField(default=list)
    duration_seconds = models.FloatField(null=True, blank=True)
    keys_per_second = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["store", "-started_at"], name="scanrun_store_recent")]

    def __str__(self):
        return f"{self.store} scan at {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def progress_percent(self) -> int:
        if self.status != RunStatus.RUNNING:
            return 100
        if not self.dbsize:
            return 0
        return min(100, int(100 * self.keys_scanned / self.dbsize))


class QueueSample(models.Model):
    """A queue's depth (LLEN) at one moment; the depth alert reads the last minutes' ones."""

    store = models.ForeignKey(JobStore, on_delete=models.CASCADE, related_name="queue_samples")
    key = models.CharField(max_length=500)
    depth = models.BigIntegerField()
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["store", "key", "-at"], name="queuesample_recent")]

    def __str__(self):
        return f"{self.key}: {self.depth}"


class FlagState(models.Model):
    """A feature flag's last seen value, to notice when it changes."""

    store = models.ForeignKey(JobStore, on_delete=models.CASCADE, related_name="flags")
    key = models.CharField(max_length=500)
    value = models.TextField()
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["store", "key"], name="flag_per_store")]

    def __str__(self):
        return f"{self.key} = {self.value}"


class FlagChange(models.Model):
    """A change event: a flag's value changed, seen by a scan or made through Vigil."""

    store = models.ForeignKey(JobStore, on_delete=models.CASCADE, related_name="flag_changes")
    key = models.CharField(max_length=500)
    before = models.TextField(null=True, blank=True)  # None: the flag appeared
    after = models.TextField(null=True, blank=True)  # None: the flag was deleted
    at = models.DateTimeField(default=timezone.now)
    # Set when a person changed it through Vigil ("Disable feature"); empty: seen by a scan.
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["store", "-at"], name="flagchange_recent")]

    def __str__(self):
        return f"{self.key}: {self.before} → {self.after}"
