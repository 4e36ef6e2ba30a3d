from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt

from common import live, sse
from incidents.live import LIST_TOPIC
from incidents.selectors import incident_list_open_for_user, teams_user_may_declare_in
from teams.models import Membership


@login_required
def dashboard(request):
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    return render(
        request,
        "dashboard.html",
        {
            **_open_incidents(request.user),
            "memberships": memberships,
        },
    )


def _open_incidents(user) -> dict:
    return {
        "open_incidents": incident_list_open_for_user(user=user)[:20],
        "may_declare": teams_user_may_declare_in(user=user).exists(),
    }


class DashboardChannel(live.Channel):
    """The dashboard's open incidents, again whenever an incident is declared or changes."""

    poll_seconds = 5.0

    def __init__(self, user):
        self.user = user
        self.topics = frozenset({LIST_TOPIC, f"access:user:{user.pk}"})
        self.shown = None

    def poll(self):
        html = render_to_string("dashboard_open_incidents.html", _open_incidents(self.user))
        if html == self.shown:
            return ""
        self.shown = html
        return sse.event("open-incidents", html)


def dashboard_channel(request, user, value) -> DashboardChannel:
    return DashboardChannel(user)


@csrf_exempt  # it changes nothing: a POST to a mistyped API path gets the same JSON 404
def api_not_found(request, *args, **kwargs):
    """Under /api/ a path that matches no operation (an id that is not a number) answers as
    the API does, in JSON, not with the site's HTML 404 page."""
    return JsonResponse({"detail": "Not found."}, status=404)
