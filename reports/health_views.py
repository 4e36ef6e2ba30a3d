"""The on-call health page of a team: managers see everyone, a member sees their own row."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from common.inputs import InputError, clean_text
from oncall.models import Schedule
from reports.health import (
    DEFINITIONS,
    INTERRUPTING_CHANNELS,
    health_period,
    parse_factor,
    team_health,
)
from reports.periods import MAX_DAYS
from teams.access import at_least, role_in
from teams.models import Role, Team


def _team_and_role(user, slug: str):
    """The team a member (or a Vigil administrator) asks about, and whether they see everyone;
    404 for everyone else, so an outsider cannot tell a team from a typing error."""
    team = Team.objects.filter(slug=slug).first()
    role = role_in(user, team.pk) if team is not None else None
    if team is None or not (user.is_superuser or role is not None):
        raise Http404("No such team.")
    return team, user.is_superuser or at_least(role, Role.MANAGER)


def _fairness_links(team, period) -> list[tuple[Schedule, str]]:
    query = urlencode({"start": period.start.isoformat(), "end": period.end.isoformat()})
    return [
        (schedule, f"{reverse('oncall_fairness', args=[schedule.pk])}?{query}")
        for schedule in Schedule.objects.filter(team=team).order_by("name", "pk")
    ]


@never_cache
@login_required
def health_page(request, slug):
    """A team's on-call health for a period (?start=&end=, YYYY-MM-DD, end included; default
    the last 30 days) with a flag above ?factor= times the team's median (default 2)."""
    team, sees_everyone = _team_and_role(request.user, slug)
    start, end = request.GET.get("start", ""), request.GET.get("end", "")
    context = {
        "team": team,
        "sees_everyone": sees_everyone,
        "definitions": DEFINITIONS,
        "max_days": MAX_DAYS,
        "channels": [c.label for c in INTERRUPTING_CHANNELS],
        "start": clean_text(start)[:40],
        "end": clean_text(end)[:40],
        "factor_text": clean_text(request.GET.get("factor", ""))[:40],
    }
    try:
        period = health_period(team=team, start=start, end=end)
        factor = parse_factor(request.GET.get("factor"))
    except InputError as exc:
        context["error"] = str(exc)
        return render(request, "reports/health.html", context, status=400)
    report = team_health(team=team, period=period, factor=factor)
    people = report.people
    if not sees_everyone:
        people = [p for p in people if p.user.pk == request.user.pk]
    context.update(
        {
            "report": report,
            "period": period,
            "people": people,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "factor_text": f"{factor:g}",
            "threshold_interruptions": report.threshold(report.median_interruptions),
            "threshold_sleep": report.threshold(report.median_sleep),
            "fairness_links": _fairness_links(team, period),
        }
    )
    return render(request, "reports/health.html", context)
