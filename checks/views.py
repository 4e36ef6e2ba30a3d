from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from checks.health import probe_all


@require_GET
@never_cache
def health(request):
    probes = probe_all()
    healthy = all(p.ok for p in probes)
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": {
            p.name: {"ok": p.ok, "detail": p.detail}
            | ({"age_seconds": p.age_seconds} if p.age_seconds is not None else {})
            for p in probes
        },
    }
    return JsonResponse(body, status=200 if healthy else 503)


@login_required
def checks_index(request):
    return render(request, "checks/index.html", {"probes": probe_all()})
