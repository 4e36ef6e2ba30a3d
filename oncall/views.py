from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from oncall.models import Team


@login_required
def oncall_now(request):
    teams = Team.objects.select_related("engineering_lead").order_by("name")
    return render(request, "oncall/now.html", {"teams": teams})
