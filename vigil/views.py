from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from incidents.selectors import incident_list_open_for_user, teams_user_may_declare_in
from oncall.models import Membership


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
