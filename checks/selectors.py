"""Reads for dependency checks: only a check's team sees it (targets are internal
addresses)."""

from django.db.models import OuterRef, Subquery

from checks.models import Check, CheckResult, CheckState
from teams.access import roles_at_least, team_roles
from teams.models import Role, Team

HISTORY_SHOWN = 100


def checks_for(user):
    checks = Check.objects.select_related("team")
    if user.is_superuser:
        return checks
    return checks.filter(team_id__in=list(team_roles(user)))


def checks_with_last_detail(user) -> list[Check]:
    """The checks a person sees, each with its latest result's words (one query)."""
    latest = CheckResult.objects.filter(dependency_check=OuterRef("pk")).order_by("-at", "-pk")
    return list(
        checks_for(user).annotate(
            last_detail=Subquery(latest.values("detail")[:1]),
            last_ok=Subquery(latest.values("ok")[:1]),
        )
    )


def teams_managed_by(user):
    if user.is_superuser:
        return Team.objects.order_by("name")
    managed = [t for t, role in team_roles(user).items() if role in roles_at_least(Role.MANAGER)]
    return Team.objects.filter(pk__in=managed).order_by("name")


def check_history(check, limit: int = HISTORY_SHOWN) -> list[CheckResult]:
    """The latest `limit` results, oldest first (as the chart draws them)."""
    return list(reversed(check.results.order_by("-at", "-pk")[:limit]))


def failing_checks_for(user):
    """The person's teams' enabled checks that are down, each with its latest result's
    words, the longest failing first (one query)."""
    latest = CheckResult.objects.filter(dependency_check=OuterRef("pk")).order_by("-at", "-pk")
    return (
        checks_for(user)
        .filter(state=CheckState.DOWN, enabled=True)
        .annotate(last_detail=Subquery(latest.values("detail")[:1]))
        .order_by("-consecutive_failures", "team__name", "name", "pk")
    )
