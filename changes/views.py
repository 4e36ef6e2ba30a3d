"""The incident page's changes and rollback panels, the rollback advice with its questions,
the rollback decision, and the list of recent changes."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods

from changes import advisor, procedures, recovery
from changes.decisions import rollback_decide
from changes.models import Answer, ChangeEvent, Procedure, RollbackDecision
from changes.selectors import changes_for_incident
from changes.services import ChangeError
from common.inputs import parse_id
from incidents.models import EventKind
from incidents.selectors import incident_for_page
from teams.access import CHANGE, can, get_object_for_user

CHANGES_PER_PAGE = 50


def _partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def changes_panel_context(*, incident, user) -> dict:
    return {
        "changes": changes_for_incident(incident=incident),
        "can_change": incident.is_open and can(user, CHANGE, incident),
    }


def rollback_panel_context(*, incident, user) -> dict:
    watch = recovery.watch_for_incident(incident=incident)
    decision = (
        RollbackDecision.objects.filter(incident_id=incident.pk)
        .select_related("decided_by", "change__service")
        .first()
    )
    return {
        "decision": decision,
        "watch": watch,
        "chart": recovery.chart_svg(watch) if watch else "",
        "can_change": incident.is_open and can(user, CHANGE, incident),
    }


def _advice_context(incident, user) -> dict:
    advice = advisor.advice_for(incident=incident)
    return {
        "incident": incident,
        "advice": advice,
        "answers": Answer.choices,
        "can_change": incident.is_open and can(user, CHANGE, incident),
    }


@login_required
@require_http_methods(["GET", "POST"])
def advice(request, pk):
    """The rollback advice: GET shows it (alone for HTMX, the incident panel loads it so the
    page never waits on Prometheus); POST records the responder's answers."""
    incident = get_object_for_user(
        request.user,
        incident_for_page(),
        action=CHANGE if request.method == "POST" else "view",
        pk=pk,
    )
    if request.method == "POST":
        given = {
            c.name: request.POST.get(f"answer-{c.name}", "")
            for c in advisor.CRITERIA
            if f"answer-{c.name}" in request.POST
        }
        try:
            for name, value in given.items():
                advisor.answer_record(
                    incident=incident, criterion=name, answer=value, by=request.user
                )
        except ChangeError as exc:
            context = _advice_context(incident, request.user)
            context["error"] = str(exc)
            return render(request, "changes/advice.html#advice", context, status=400)
        if not _partial(request):
            messages.success(request, "Answers saved; the advice below follows them.")
            return redirect(f"{incident.get_absolute_url()}#part-rollback")
    context = _advice_context(incident, request.user)
    template = "changes/advice.html#advice" if _partial(request) else "changes/advice.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def rollback(request, pk):
    """Decide "Roll back": which change, which of the four procedures, its commands."""
    incident = get_object_for_user(request.user, incident_for_page(), action=CHANGE, pk=pk)
    recent = changes_for_incident(incident=incident)
    by_id = {view.change.pk: view.change for view in recent}
    wanted = request.POST.get("change") if request.method == "POST" else request.GET.get("change")
    change = None
    error = ""
    if wanted not in (None, "", "none"):
        change = by_id.get(parse_id(wanted))
        if change is None:
            error = "That change is not one of this incident's recent changes."
    elif wanted is None:
        change = next((view.change for view in recent if view.suspect), None)
    procedure = (request.POST if request.method == "POST" else request.GET).get("procedure")
    if procedure not in Procedure.values:
        procedure = procedures.suggested(change)
    if request.method == "POST" and not error:
        if request.POST.get("procedure") not in Procedure.values:
            error = "Pick one of the four procedures."
        else:
            snapshot = advisor.advice_for(incident=incident).as_snapshot()
            try:
                rollback_decide(
                    incident=incident,
                    change=change,
                    procedure=procedure,
                    by=request.user,
                    advice=snapshot,
                )
            except ChangeError as exc:
                error = str(exc)
            else:
                messages.success(
                    request,
                    "Rollback recorded. The post-rollback checklist is open and Vigil is "
                    "watching the error rate and latency.",
                )
                return redirect(f"{incident.get_absolute_url()}#part-rollback")
    options = [
        {
            "value": value,
            "label": label,
            "commands": procedures.commands(value, change),
            "checked": value == procedure,
        }
        for value, label in Procedure.choices
    ]
    return render(
        request,
        "changes/rollback.html",
        {
            "incident": incident,
            "recent": recent,
            "change": change,
            "options": options,
            "error": error,
        },
        status=400 if error and request.method == "POST" else 200,
    )


@login_required
def change_list(request):
    """Every team's changes, newest first (changes are not private)."""
    changes = ChangeEvent.objects.select_related("service", "team").order_by("-occurred_at", "-pk")
    page = Paginator(changes, CHANGES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "changes/list.html", {"page": page})


# For the panels' registration: the kinds that change what each shows.
# (An edited impact start moves the changes' window; the panel shows it at the next load.)
CHANGES_PANEL_REFRESH = {EventKind.CHANGE}
ROLLBACK_PANEL_REFRESH = {EventKind.ROLLBACK, EventKind.RECOVERY}
