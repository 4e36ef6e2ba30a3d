from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from incidents.selectors import incident_list_open_for_user, teams_user_may_declare_in
from teams.models import Membership


@login_required
def dashboard(request):
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    return render(
        request,
        "dashboard.html",
        {
            "open_incidents": incident_list_open_for_user(user=request.user)[:20],
            "memberships": memberships,
            "may_declare": teams_user_may_declare_in(user=request.user).exists(),
        },
    )


@csrf_exempt  # it changes nothing: a POST to a mistyped API path gets the same JSON 404
def api_not_found(request, *args, **kwargs):
    """Under /api/ a path that matches no operation (an id that is not a number) answers as
    the API does, in JSON, not with the site's HTML 404 page."""
    return JsonResponse({"detail": "Not found."}, status=404)
