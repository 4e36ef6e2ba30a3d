"""Reading a service's error rate and p95 latency from its team's Prometheus, for the rollback
advisor and the recovery watch. "Normal" is the same query a week earlier (offset 1w)."""

from dataclasses import dataclass

from django.conf import settings

from changes.models import TeamMetrics
from checks.runners import prometheus_instant
from common.links import redact_url

# Every PromQL expression can be read a week back as a subquery with an offset (an offset
# after a whole expression is not PromQL): the last value of a 1-minute subquery, 1w ago.
NORMAL_OFFSET = "1w"


def normal_query(query: str) -> str:
    """The same query, one week earlier."""
    return f"last_over_time(({query.strip()})[5m:1m] offset {NORMAL_OFFSET})"


def prometheus_url_for(team) -> str:
    """The team's own Prometheus, else PROMETHEUS_URL; "" when neither is set."""
    own = TeamMetrics.objects.filter(team=team).values_list("prometheus_url", flat=True).first()
    return (own or settings.PROMETHEUS_URL or "").strip()


@dataclass(frozen=True)
class Reading:
    """One query's answer: the largest value over its series, or None with the reason."""

    value: float | None
    problem: str = ""
    series: int = 0


def read(url: str, query: str, *, timeout: float | None = None, at=None) -> Reading:
    """Never raises: an unreachable, slow or refusing Prometheus is a Reading with a
    problem that names it."""
    if not url:
        return Reading(None, "No Prometheus is set for this team (nor PROMETHEUS_URL).")
    if not (query or "").strip():
        return Reading(None, "No query is set for this service.")
    values, problem = prometheus_instant(
        url, query, timeout=timeout or settings.PROMETHEUS_QUERY_TIMEOUT, at=at
    )
    where = redact_url(url)
    if problem:
        return Reading(None, f"{where}: {problem}")
    finite = [v for v in values if v == v and v not in (float("inf"), float("-inf"))]
    if not finite:
        return Reading(None, f"{where}: no data for the query.")
    return Reading(max(finite), "", len(finite))
