from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from teams.access import team_roles
from teams.models import Team


@login_required
def index(request):
    """The reports of every team the person is in: response, on-call health, drills."""
    teams = Team.objects.order_by("name")
    if not request.user.is_superuser:
        teams = teams.filter(pk__in=list(team_roles(request.user)))
    return render(request, "reports/index.html", {"teams": list(teams)})
