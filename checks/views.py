"""/health for load balancers, and the Checks page: Vigil's own probes, then the dependency
checks of a person's teams with their history. Only a check's team sees it; managers set
checks up, responders may run one now."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from checks import selectors, services
from checks.charts import history_svg
from checks.forms import CheckForm, ExampleForm, example_initial, without_password
from checks.health import probe_all
from checks.models import Check
from common import live
from teams.access import CHANGE, MANAGE, VIEW, can, get_object_for_user
from teams.models import Team

RESULTS_LISTED = 20


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
        # This web process's live layer: listening, or polling while its LISTEN reconnects.
        "live": live.health(),
    }
    return JsonResponse(body, status=200 if healthy else 503)


def _check(request, pk, action=VIEW) -> Check:
    return get_object_for_user(
        request.user, Check.objects.select_related("team"), action=action, pk=pk
    )


@login_required
def checks_index(request):
    return render(
        request,
        "checks/index.html",
        {
            "probes": probe_all(),
            "checks": selectors.checks_with_last_detail(request.user),
            "can_create": selectors.teams_managed_by(request.user).exists(),
        },
    )


@never_cache
@login_required
def check_new(request):
    teams = selectors.teams_managed_by(request.user)
    if not teams.exists():
        raise PermissionDenied("Only a team's managers may add checks.")
    return _check_form(request, teams=teams, check=None)


@never_cache
@login_required
def check_edit(request, pk):
    check = _check(request, pk, MANAGE)
    return _check_form(request, teams=Team.objects.filter(pk=check.team_id), check=check)


def _initial(request, check) -> dict:
    initial = {}
    if check is not None:
        initial = {name: getattr(check, name) for name in services.FIELDS}
        initial["target"] = without_password(check.target)
    example = example_initial(request.GET.get("example", ""))
    if check is not None:
        example.pop("name", None)  # an edit keeps its name
    return initial | example


def _check_form(request, *, teams, check):
    posted = request.method == "POST"
    form = CheckForm(
        request.POST if posted else None,
        teams=teams,
        check=check,
        initial=_initial(request, check),
    )
    status = 200
    if posted:
        if form.is_valid():
            data = {k: v for k, v in form.cleaned_data.items() if k != "team"}
            try:
                if check is None:
                    saved = services.check_create(
                        team=form.cleaned_data["team"], data=data, by=request.user
                    )
                else:
                    saved = services.check_update(check=check, data=data, by=request.user)
            except services.CheckError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc))
            else:
                messages.success(request, f"Saved check {saved.name}.")
                return redirect("check_detail", saved.pk)
        status = 400
    example_form = ExampleForm(initial={"example": request.GET.get("example")})
    return render(
        request,
        "checks/form.html",
        {"form": form, "check": check, "example_form": example_form},
        status=status,
    )


@login_required
def check_detail(request, pk):
    check = _check(request, pk)
    history = selectors.check_history(check)
    return render(
        request,
        "checks/detail.html",
        {
            "check": check,
            "chart": history_svg(history),
            "results": list(reversed(history))[:RESULTS_LISTED],
            "shown": len(history),
            "can_run": can(request.user, CHANGE, check),
            "can_manage": can(request.user, MANAGE, check),
        },
    )


@login_required
@require_POST
def check_run(request, pk):
    check = _check(request, pk, CHANGE)
    result = services.check_run_now(check=check)
    if result is not None:
        outcome = "passed" if result.ok else "failed"
        level = messages.success if result.ok else messages.error
        level(request, f"{check.name} {outcome}: {result.detail}")
    return redirect("check_detail", check.pk)


@login_required
@require_POST
def check_delete(request, pk):
    check = _check(request, pk, MANAGE)
    if request.POST.get("confirm") != "yes":
        return render(request, "checks/delete.html", {"check": check})
    name = check.name
    services.check_delete(check=check, by=request.user)
    messages.success(request, f"Deleted check {name}.")
    return redirect("checks")
