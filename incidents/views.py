from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from incidents.models import Incident
from incidents.selectors import incident_list_open_for_user
from vigil.access import get_object_for_user


@login_required
def incident_list(request):
    return render(
        request,
        "incidents/list.html",
        {"incidents": incident_list_open_for_user(user=request.user)},
    )


@login_required
def incident_detail(request, pk):
    incident = get_object_for_user(
        request.user, Incident.objects.select_related("severity", "team"), pk=pk
    )
    events = incident.events.filter(deleted_at__isnull=True).select_related("author")
    return render(request, "incidents/detail.html", {"incident": incident, "events": events})
