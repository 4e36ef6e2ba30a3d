"""Vigil's own Prometheus metrics.

Counters and histograms measured in a process (alerts received, ingest latency) live in that
process's registry, as Prometheus expects of each scraped instance. What another process does
(the tick, deliveries) is read from the database at scrape time, so every web host reports
the same totals for it.
"""

from django.db.models import Count, Q, Sum
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from alerts.models import AlertGroup
from paging.models import Notification, StepRun

registry = CollectorRegistry(auto_describe=True)

alerts_received = Counter(
    "vigil_alerts_received",
    "Alerts received on integration webhooks.",
    ["kind"],
    registry=registry,
)
ingest_latency = Histogram(
    "vigil_ingest_latency_seconds",
    "Time to authenticate, validate and store one webhook payload.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=registry,
)
webhook_rejected = Counter(
    "vigil_webhook_rejected",
    "Webhook requests refused, by HTTP status.",
    ["status"],
    registry=registry,
)

LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class DatabaseCollector:
    """Groups open, notifications by channel and state, escalation lateness (from step runs)."""

    def describe(self):
        return []

    def collect(self):
        open_groups = GaugeMetricFamily(
            "vigil_alert_groups_open", "Alert groups with something firing.", labels=["team"]
        )
        for row in (
            AlertGroup.objects.filter(resolved_at__isnull=True)
            .values("team__slug")
            .annotate(n=Count("id"))
        ):
            open_groups.add_metric([row["team__slug"]], row["n"])
        yield open_groups

        sent = CounterMetricFamily(
            "vigil_notifications_sent", "Notifications delivered, by channel.", labels=["channel"]
        )
        failed = CounterMetricFamily(
            "vigil_notifications_failed",
            "Notifications given up on after every retry, by channel.",
            labels=["channel"],
        )
        for row in Notification.objects.values("channel").annotate(
            sent=Count("id", filter=Q(state="sent")), failed=Count("id", filter=Q(state="failed"))
        ):
            sent.add_metric([row["channel"]], row["sent"])
            failed.add_metric([row["channel"]], row["failed"])
        yield sent
        yield failed

        aggregates = {
            f"le_{i}": Count("id", filter=Q(lateness__lte=b))
            for i, b in enumerate(LATENESS_BUCKETS)
        }
        stats = StepRun.objects.aggregate(total=Count("id"), sum=Sum("lateness"), **aggregates)
        buckets = [(str(b), stats[f"le_{i}"]) for i, b in enumerate(LATENESS_BUCKETS)]
        buckets.append(("+Inf", stats["total"]))
        lateness = HistogramMetricFamily(
            "vigil_escalation_lateness_seconds",
            "How long after its due time each escalation step ran.",
        )
        lateness.add_metric([], buckets, sum_value=stats["sum"] or 0.0)
        yield lateness


registry.register(DatabaseCollector())
