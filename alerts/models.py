import functools
import hashlib
import secrets
import uuid

import re2
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from common.links import http_url


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class IntegrationKind(models.TextChoices):
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager (webhook v4)"
    GENERIC = "generic", "Generic JSON"
    # The one per team that Vigil's own dependency checks and job-store scans raise alerts
    # through; it takes no webhook.
    INTERNAL = "vigil", "Vigil checks and scans"
    # Deploys, config and flag changes, not alerts: it takes the changes webhook.
    CHANGES = "changes", "Change events (deploys, config, flags)"


class Integration(models.Model):
    """A webhook alerts come in through. Its token is shown once; only hashes are stored."""

    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="integrations")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=IntegrationKind.choices)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_hash = models.CharField(max_length=64)
    # During a rotation the previous token stays valid until previous_valid_until.
    previous_token_hash = models.CharField(max_length=64, blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    maintenance_until = models.DateTimeField(
        null=True, blank=True, help_text="Alerts are stored but page nobody until then."
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["team__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="integration_name_per_team")
        ]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def webhook_path(self, token: str | None = None) -> str:
        # Named, not imported: the changes app imports this one, and owns its webhook.
        prefix = "changes_webhook" if self.kind == IntegrationKind.CHANGES else "alerts_webhook"
        if token:
            return reverse(f"{prefix}_token", args=[self.public_id, token])
        return reverse(prefix, args=[self.public_id])

    def webhook_url(self, token: str | None = None) -> str:
        return settings.SITE_URL + self.webhook_path(token)

    def in_maintenance(self, at=None) -> bool:
        return bool(self.maintenance_until and self.maintenance_until > (at or timezone.now()))

    @property
    def is_private(self):
        return False


class GroupStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class Decision(models.TextChoices):
    PAGE = "page", "Page the on-call now"
    PAGE_BUSINESS_HOURS = "page_business_hours", "Page (business hours)"
    ONCALL_CHANNEL = "oncall_channel", "Post to the on-call channel"
    ALERTS_CHANNEL = "alerts_channel", "Post to the alerts channel"
    INCIDENTS_CHANNEL = "incidents_channel", "Post to the incidents channel"
    SILENCED = "silenced", "Silenced"
    MAINTENANCE = "maintenance", "Maintenance"
    FIRED_AGAIN = "fired_again", "Fired again: joined its open incident"


def annotation_link(annotations: dict, name: str) -> str:
    """An alert's `<name>_url` or `<name>` annotation, when it is an http(s) link."""
    return http_url(annotations.get(f"{name}_url")) or http_url(annotations.get(name))


class AlertGroup(models.Model):
    """Alerts that share a group key (Alertmanager groupKey, or a generic dedup_key). At most
    one open group per key: a database constraint, so concurrent senders cannot split it."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="groups")
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="alert_groups")
    group_key = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=GroupStatus.choices)
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=32, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    silenced = models.BooleanField(default=False)
    decision = models.CharField(max_length=32, choices=Decision.choices, blank=True)
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alert_groups",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    last_alert_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "group_key"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_alert_group_per_key",
            )
        ]
        indexes = [
            models.Index(fields=["team", "status", "-opened_at"]),
            # The storm limit counts an integration's groups opened in the last minute.
            models.Index(fields=["integration", "-opened_at"], name="alert_group_recent"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("alerts_group_detail", args=[self.pk])

    @property
    def is_private(self):
        return False

    @property
    def runbook_url(self):
        return annotation_link(self.annotations, "runbook")

    @property
    def dashboard_url(self):
        return annotation_link(self.annotations, "dashboard")


class Alert(models.Model):
    group = models.ForeignKey(AlertGroup, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=GroupStatus.choices)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.TextField(blank=True)
    silenced = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "fingerprint"], name="one_alert_per_fingerprint"
            )
        ]

    def __str__(self):
        return self.labels.get("alertname") or self.fingerprint

    @property
    def name(self):
        return self.labels.get("alertname") or self.annotations.get("summary") or self.fingerprint


class SignedReceipt(models.Model):
    """Signatures already accepted: a replayed signed request is refused."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    signature = models.CharField(max_length=128)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "signature"], name="signature_once")
        ]

    def __str__(self):
        return f"Signed request to integration {self.integration_id}"


MATCH_OPS = ("=", "!=", "=~", "!~")
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


@functools.lru_cache(maxsize=2048)
def matcher_regex(pattern: str):
    """A matcher's regex compiled with RE2, anchored as Alertmanager anchors it (`^(?:…)$`).

    People write these, and silences run them on every new alert inside the ingest
    transaction: RE2 (what Alertmanager's Go regexp is) matches in linear time, where
    Python's backtracking engine takes seconds on `(a+)+b` against a few dozen characters.
    None when RE2 refuses the pattern (lookarounds, backreferences)."""
    try:
        return re2.compile(f"^(?:{pattern})$", _RE2_OPTIONS)
    except re2.error:
        return None


def matchers_match(matchers: list[dict], labels: dict) -> bool:
    """Alertmanager-style matchers: every one must hold. Regexes are anchored RE2; a stored
    pattern RE2 refuses holds for no alert, so a broken silence silences nothing."""
    for m in matchers:
        value = labels.get(m["name"], "")
        op = m.get("op", "=")
        if op == "=" and value != m["value"]:
            return False
        if op == "!=" and value == m["value"]:
            return False
        if op in ("=~", "!~"):
            regex = matcher_regex(m["value"])
            if regex is None:
                return False
            hit = regex.search(value) is not None
            if (op == "=~") != hit:
                return False
    return True


class RoutingRule(models.Model):
    """Label matchers that send an integration's alerts to another team (first match wins)."""

    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, related_name="routing_rules"
    )
    position = models.PositiveIntegerField(default=0)
    matchers = models.JSONField(help_text='[{"name": "service", "op": "=", "value": "db"}]')
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["integration", "position", "id"]

    def __str__(self):
        return f"{self.matchers} → {self.team}"


class Silence(models.Model):
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, related_name="silences")
    matchers = models.JSONField()
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self):
        return ", ".join(f"{m['name']}{m.get('op', '=')}{m['value']}" for m in self.matchers)

    @property
    def is_private(self):
        return False

    def is_active(self, at=None):
        at = at or timezone.now()
        return self.starts_at <= at < self.ends_at

    def matches(self, labels: dict) -> bool:
        return matchers_match(self.matchers, labels)
