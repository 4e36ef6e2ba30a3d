from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from incidents.selectors import incident_list_open_for_user


@login_required
def incident_list(request):
    return render(
        request,
        "incidents/list.html",
        {"incidents": incident_list_open_for_user(user=request.user)},
    )
