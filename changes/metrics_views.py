"""The team metrics settings page: a manager sets where the team's Prometheus is and each
service's error-rate and p95 latency queries, and may test the queries before saving."""

import urllib.parse

import structlog
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from audit.services import audit_record
from changes.forms import TeamMetricsForm
from changes.models import Service, TeamMetrics
from changes.prometheus import normal_query, read
from common.inputs import parse_id
from common.links import redact_url
from teams.access import MANAGE, get_object_for_user
from teams.models import Team

logger = structlog.get_logger(__name__)


def kept_password(new_url: str, old_url: str) -> str:
    """An edit that gives the same user name and server without a password keeps the saved
    password (it is never shown back); a URL without a user name drops it."""
    try:
        new, old = urllib.parse.urlsplit(new_url), urllib.parse.urlsplit(old_url)
        same_server = (new.hostname, new.port) == (old.hostname, old.port)
    except ValueError:
        return new_url
    if new.password or not old.password or not new.username:
        return new_url
    if not same_server or new.username != old.username:
        return new_url  # another server or account: the saved password is not for it
    host = f"[{new.hostname}]" if ":" in (new.hostname or "") else new.hostname
    netloc = f"{new.username}:{old.password}@{host}" + (f":{new.port}" if new.port else "")
    return urllib.parse.urlunsplit(new._replace(netloc=netloc))


def _audit_view(metrics, services) -> dict:
    return {
        "prometheus_url": redact_url(metrics.prometheus_url),
        "services": {
            s.name: {"error_rate_query": s.error_rate_query, "latency_query": s.latency_query}
            for s in services
        },
    }


def team_metrics_save(*, team, prometheus_url: str, queries: dict, by) -> TeamMetrics:
    """Save the team's Prometheus URL (keeping a saved password the form left out) and its
    services' queries ({service: (error-rate query, latency query)}), with an audit entry."""
    with transaction.atomic():
        metrics, _ = TeamMetrics.objects.select_for_update().get_or_create(team=team)
        services = list(
            Service.objects.select_for_update()
            .filter(team=team, pk__in=[s.pk for s in queries])
            .order_by("name")
        )
        before = _audit_view(metrics, services)
        metrics.prometheus_url = kept_password(prometheus_url, metrics.prometheus_url)
        metrics.save(update_fields=["prometheus_url"])
        wanted = {s.pk: q for s, q in queries.items()}
        for service in services:
            service.error_rate_query, service.latency_query = wanted[service.pk]
        Service.objects.bulk_update(services, ["error_rate_query", "latency_query"])
        audit_record(
            actor=by,
            action="changes.team_metrics.update",
            obj=metrics,
            before=before,
            after=_audit_view(metrics, services),
        )
    logger.info("team_metrics_saved", team=team.slug, services=len(services))
    return metrics


def _seconds(value: float) -> str:
    return f"{value:.3g} s"


def _test_readings(url: str, error_query: str, latency_query: str) -> list[str]:
    """What a service's queries give now, in words (not cached: the manager asked now)."""
    asked = [
        ("Error rate", error_query, lambda v: f"{v * 100:.1f}%"),
        ("p95 latency", latency_query, _seconds),
    ]
    if latency_query:
        asked.append(("p95 latency a week ago", normal_query(latency_query), _seconds))
    lines = []
    for label, query, shown in asked:
        if not query:
            lines.append(f"{label}: no query, not measured.")
            continue
        reading = read(url, query)
        if reading.value is not None:
            lines.append(f"{label}: {shown(reading.value)}.")
            continue
        lines.append(f"{label}: {reading.problem}")
        lowered = reading.problem.lower()
        if "no data" not in lowered and "refused the query" not in lowered:
            break  # Prometheus itself failed: the next query would only wait as long again
    return lines


def _has_password(url: str) -> bool:
    try:
        return bool(urllib.parse.urlsplit(url or "").password)
    except ValueError:
        return False


@never_cache
@login_required
def team_metrics(request, slug):
    """A manager's page: the team's Prometheus URL and each service's two queries."""
    team = get_object_for_user(request.user, Team.objects.all(), action=MANAGE, slug=slug)
    metrics = TeamMetrics.objects.filter(team=team).first()
    stored_url = metrics.prometheus_url if metrics else ""
    services = list(Service.objects.filter(team=team).order_by("name"))
    form = TeamMetricsForm(
        request.POST or None, services=services, initial={"prometheus_url": stored_url}
    )
    tested = None
    if request.method == "POST" and form.is_valid():
        url = kept_password(form.cleaned_data["prometheus_url"], stored_url)
        test_id = parse_id(request.POST.get("test")) if request.POST.get("test") else None
        if test_id is not None:
            service = next((s for s in services if s.pk == test_id), None)
            if service is not None:
                error_query, latency_query = form.queries()[service]
                tested = {
                    "service": service,
                    "lines": _test_readings(
                        url or settings.PROMETHEUS_URL, error_query, latency_query
                    ),
                }
        else:
            team_metrics_save(
                team=team,
                prometheus_url=form.cleaned_data["prometheus_url"],
                queries=form.queries(),
                by=request.user,
            )
            messages.success(request, f"Metrics settings of {team} saved.")
            return redirect("changes_team_metrics", slug=team.slug)
    return render(
        request,
        "changes/team_metrics.html",
        {
            "team": team,
            "form": form,
            "has_password": _has_password(stored_url),
            "tested": tested,
        },
        status=400 if form.errors else 200,
    )
