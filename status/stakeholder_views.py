"""A team's stakeholders page: its members read who is kept informed, its managers add and
remove them."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from common.inputs import parse_id
from oncall.models import masked_tail
from status.models import Stakeholder, StakeholderKind
from status.stakeholders import StakeholderError, stakeholder_add, stakeholder_remove
from teams.access import MANAGE, VIEW, can, get_object_for_user, has_team_role
from teams.models import Role, Team


def _shown(stakeholder, *, may_manage) -> str:
    """A webhook URL is its secret: only its host is shown. An email address is shown in
    full to the managers who keep the list, its tail to the other members."""
    if stakeholder.kind == StakeholderKind.SLACK:
        parts = stakeholder.address.split("/")
        return parts[2] if len(parts) > 2 else "····"
    if stakeholder.kind == StakeholderKind.EMAIL:
        return stakeholder.address if may_manage else masked_tail(stakeholder.address)
    return stakeholder.user.username if stakeholder.user else ""


def _team_for(request, slug, *, action) -> Team:
    """The team, 404 to anyone not in it (who its stakeholders are is the team's business),
    403 to a member whose role does not allow `action`."""
    team = get_object_or_404(Team, slug=slug)
    if not has_team_role(request.user, team.pk, Role.VIEWER):
        raise Http404("No such team.")
    return get_object_for_user(request.user, Team.objects.all(), action=action, pk=team.pk)


@login_required
@require_http_methods(["GET", "POST"])
def stakeholders(request, slug):
    team = _team_for(request, slug, action=MANAGE if request.method == "POST" else VIEW)
    error = ""
    form = {"kind": StakeholderKind.EMAIL, "name": "", "address": "", "username": ""}
    if request.method == "POST":
        form = {key: request.POST.get(key, "") for key in form}
        try:
            added = stakeholder_add(team=team, by=request.user, **form)
        except StakeholderError as exc:
            error = str(exc)
        else:
            messages.success(request, f"{added.name} will be told of {team.name}'s updates.")
            return redirect("status_stakeholders", slug=team.slug)
    may_manage = can(request.user, MANAGE, team)
    rows = Stakeholder.objects.filter(team=team).select_related("user")
    return render(
        request,
        "status/stakeholders.html",
        {
            "team": team,
            "stakeholders": [(s, _shown(s, may_manage=may_manage)) for s in rows],
            "kinds": StakeholderKind.choices,
            "form": form,
            "may_manage": may_manage,
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_POST
def stakeholder_delete(request, slug, pk):
    team = _team_for(request, slug, action=MANAGE)
    stakeholder_id = parse_id(pk)
    stakeholder = Stakeholder.objects.filter(team=team, pk=stakeholder_id).first()
    if stakeholder_id is None or stakeholder is None:
        raise Http404("No such stakeholder.")
    stakeholder_remove(stakeholder=stakeholder, by=request.user)
    messages.success(request, f"{stakeholder.name} is no longer told of {team.name}'s updates.")
    return redirect("status_stakeholders", slug=team.slug)
