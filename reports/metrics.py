"""Incident figures on /metrics, read from PostgreSQL at scrape time in three bounded
queries, so every web host reports the same values.

- vigil_incidents_open{severity}: incidents not yet resolved, by severity (every severity
  level, zero included: a handful of labels).
- vigil_incident_time_to_acknowledge_seconds: declared → first acknowledgement, over the
  incidents acknowledged.
- vigil_pages_total{team}: pages sent (one person notified at one escalation step), by team.
  The label set is capped: the TEAM_LABELS teams with the most pages are named, the rest are
  added up under team="other".

Drills are never counted. Registered into alerts.metrics.registry by ReportsConfig.ready().
"""

import datetime as dt

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from incidents.models import Incident, Severity, Status
from paging.models import Page

ACKNOWLEDGE_BUCKETS = (60, 300, 900, 1800, 3600, 14400)
TEAM_LABELS = 50
OTHER_TEAMS = "other"


class IncidentCollector:
    """Open incidents by severity, time to acknowledge, pages by team."""

    def describe(self):
        return []  # nothing read at registration: the database is read at scrape time

    def collect(self):
        yield self._open_incidents()
        yield self._time_to_acknowledge()
        yield self._pages()

    def _open_incidents(self):
        gauge = GaugeMetricFamily(
            "vigil_incidents_open",
            "Incidents not yet resolved, by severity; drills excluded.",
            labels=["severity"],
        )
        open_real = Q(incidents__is_drill=False) & ~Q(incidents__status=Status.RESOLVED)
        for name, n in (
            Severity.objects.annotate(n=Count("incidents", filter=open_real))
            .order_by("level")
            .values_list("name", "n")
        ):
            gauge.add_metric([name], n)
        return gauge

    def _time_to_acknowledge(self):
        taken = ExpressionWrapper(
            F("acknowledged_at") - F("declared_at"), output_field=DurationField()
        )
        buckets = {
            f"le_{i}": Count("id", filter=Q(taken__lte=dt.timedelta(seconds=b)))
            for i, b in enumerate(ACKNOWLEDGE_BUCKETS)
        }
        stats = (
            Incident.objects.filter(is_drill=False, acknowledged_at__isnull=False)
            .annotate(taken=taken)
            .aggregate(total=Count("id"), sum=Sum("taken"), **buckets)
        )
        histogram = HistogramMetricFamily(
            "vigil_incident_time_to_acknowledge_seconds",
            "Time from an incident's declaration to its first acknowledgement, over the "
            "incidents acknowledged; drills excluded.",
        )
        rows = [(str(float(b)), stats[f"le_{i}"]) for i, b in enumerate(ACKNOWLEDGE_BUCKETS)]
        rows.append(("+Inf", stats["total"]))
        total = stats["sum"].total_seconds() if stats["sum"] is not None else 0.0
        histogram.add_metric([], rows, sum_value=total)
        return histogram

    def _pages(self):
        counter = CounterMetricFamily(
            "vigil_pages",
            f"Pages sent (one person notified at one escalation step), by team; drills "
            f"excluded. The {TEAM_LABELS} teams with the most pages are named, the rest are "
            f'team="{OTHER_TEAMS}".',
            labels=["team"],
        )
        pages = Page.objects.filter(incident__is_drill=False)
        # One more than the cap tells whether anything is left over for "other".
        top = list(
            pages.values("escalation__team__slug")
            .annotate(n=Count("id"))
            .order_by("-n", "escalation__team__slug")
            .values_list("escalation__team__slug", "n")[: TEAM_LABELS + 1]
        )
        named = top[:TEAM_LABELS]
        for slug, n in named:
            counter.add_metric([slug], n)
        if len(top) > TEAM_LABELS:
            rest = pages.count() - sum(n for _, n in named)
            counter.add_metric([OTHER_TEAMS], rest)
        return counter


collector = IncidentCollector()
_registered = False


def register(registry) -> None:
    """Add the collector to `registry` once per process."""
    global _registered
    if not _registered:
        registry.register(collector)
        _registered = True
