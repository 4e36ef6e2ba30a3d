"""The drill pages: a team's drill log (taking part, starting a drill, the schedule, the team's
own scenarios) and a drill's report. A team's drills are its members' business: anyone else
gets 404. Starting, scheduling and ending need a manager; taking part needs a responder."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from reports import drills
from reports.drill_forms import (
    DrillScenarioForm,
    DrillScheduleForm,
    DrillStartForm,
    first_error,
)
from reports.models import Drill, DrillSchedule, DrillState
from teams.access import CHANGE, MANAGE, VIEW, can, has_team_role
from teams.models import Role, Team

DRILLS_PER_PAGE = 50
# The report's keys in the order a night goes, with the words the page uses for them.
TIME_LABELS = {
    "acknowledge": "Time to acknowledge",
    "first_runbook_step": "Time to the first runbook step",
    "rollback_decision": "Time to the rollback decision",
    "mitigation": "Time to mitigation",
}


def _partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _may(user, team, action) -> None:
    if action != VIEW and not can(user, action, team):
        raise PermissionDenied(f"Your role in {team.name} does not allow this.")


def _team_for(request, slug, *, action=VIEW) -> Team:
    """The team, 404 to anyone not in it (its drills, and when the next one comes, are the
    team's business), 403 to a member whose role does not allow `action`."""
    team = get_object_or_404(Team, slug=slug)
    if not has_team_role(request.user, team.pk, Role.VIEWER):
        raise Http404("No such team.")
    _may(request.user, team, action)
    return team


def _drill_for(request, pk, *, action=VIEW) -> Drill:
    drill = get_object_or_404(
        Drill.objects.select_related(
            "team", "scenario", "incident", "started_by", "ended_by", "schedule"
        ),
        pk=pk,
    )
    if not has_team_role(request.user, drill.team_id, Role.VIEWER):
        raise Http404("No such drill.")
    _may(request.user, drill.team, action)
    return drill


# --- the drill log ------------------------------------------------------------------------------


def _log_context(request, team, **forms) -> dict:
    may_manage = can(request.user, MANAGE, team)
    scenarios = list(drills.scenarios_for(team))
    schedule = DrillSchedule.objects.filter(team=team).select_related("scenario").first()
    log = drills.drill_log(team).select_related("started_by")
    page = Paginator(log, DRILLS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"drill": drill, "acknowledge": _acknowledge_seconds(drill)} for drill in page]
    taking_part = list(drills.opted_in(team).order_by("username"))
    context = {
        "team": team,
        "page": page,
        "rows": rows,
        "taking_part": taking_part,
        "i_take_part": any(person.pk == request.user.pk for person in taking_part),
        "may_take_part": can(request.user, CHANGE, team),
        "may_manage": may_manage,
        "scenarios": scenarios,
        "schedule": schedule,
        "error": "",
    }
    if may_manage:
        context["start_form"] = forms.get("start_form") or DrillStartForm(
            scenarios=scenarios,
            initial={"scenario": _three_am(scenarios)},
        )
        context["schedule_form"] = forms.get("schedule_form") or DrillScheduleForm(
            scenarios=scenarios,
            initial={
                "scenario": schedule.scenario_id if schedule else _three_am(scenarios),
                "every_weeks": schedule.every_weeks if schedule else 4,
                "enabled": schedule.enabled if schedule else True,
            },
        )
        context["scenario_form"] = forms.get("scenario_form") or DrillScenarioForm()
    return context


def _three_am(scenarios):
    return next((s.pk for s in scenarios if s.slug == drills.THREE_AM_SLUG), None)


def _acknowledge_seconds(drill):
    """Time to acknowledge from an ended drill's report; a running one shows "running"."""
    for row in (drill.report or {}).get("times", []):
        if row.get("key") == "acknowledge":
            return row.get("seconds")
    return None


def _render_log(request, team, *, error="", status=200, **forms):
    context = _log_context(request, team, **forms)
    context["error"] = error
    with timezone.override(team.time_zone):
        response = render(request, "reports/drill_log.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def drill_log(request, slug):
    team = _team_for(request, slug)
    return _render_log(request, team)


@login_required
@require_POST
def drill_start(request, slug):
    """A manager starts a drill now: its alert goes through the team's pipeline and pages
    the people who take part. The manager then watches its report fill in."""
    team = _team_for(request, slug, action=MANAGE)
    form = DrillStartForm(request.POST, scenarios=drills.scenarios_for(team))
    if not form.is_valid():
        return _render_log(request, team, error=first_error(form), status=400, start_form=form)
    try:
        drill = drills.drill_start(
            team=team, scenario=form.cleaned_data["scenario"], by=request.user
        )
    except drills.DrillError as exc:
        return _render_log(request, team, error=str(exc), status=400, start_form=form)
    messages.success(
        request,
        f"Drill started: {drill.scenario.name}. The people taking part are being paged; "
        "the incident is marked as a drill.",
    )
    return redirect("drill_detail", pk=drill.pk)


@login_required
@require_POST
def drill_schedule(request, slug):
    team = _team_for(request, slug, action=MANAGE)
    form = DrillScheduleForm(request.POST, scenarios=drills.scenarios_for(team))
    if not form.is_valid():
        return _render_log(request, team, error=first_error(form), status=400, schedule_form=form)
    try:
        schedule = drills.schedule_save(
            team=team,
            by=request.user,
            scenario=form.cleaned_data["scenario"],
            every_weeks=form.cleaned_data["every_weeks"],
            enabled=form.cleaned_data["enabled"],
        )
    except drills.DrillError as exc:
        return _render_log(request, team, error=str(exc), status=400, schedule_form=form)
    if schedule.enabled:
        messages.success(
            request,
            f"A drill every {schedule.every_weeks} week{'s' if schedule.every_weeks != 1 else ''}"
            ": only the team's managers see when the next one comes.",
        )
    else:
        messages.success(request, "The drill schedule is off: no drill starts by itself.")
    return redirect("drill_log", slug=team.slug)


@login_required
@require_POST
def drill_scenario_add(request, slug):
    team = _team_for(request, slug, action=MANAGE)
    form = DrillScenarioForm(request.POST)
    if not form.is_valid():
        return _render_log(request, team, error=first_error(form), status=400, scenario_form=form)
    try:
        scenario = drills.scenario_save(team=team, by=request.user, **form.cleaned_data)
    except drills.DrillError as exc:
        return _render_log(request, team, error=str(exc), status=400, scenario_form=form)
    messages.success(request, f"Scenario saved: {scenario.name}. It can be started or scheduled.")
    return redirect("drill_log", slug=team.slug)


def _taking_part_answer(request, team):
    """The "Taking part" box alone for htmx, the whole page otherwise."""
    if _partial(request):
        context = _log_context(request, team)
        response = render(request, "reports/drill_log.html#taking_part", context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    return redirect("drill_log", slug=team.slug)


@login_required
@require_POST
def drill_opt_in(request, slug):
    team = _team_for(request, slug, action=CHANGE)
    try:
        drills.opt_in(team=team, user=request.user)
    except drills.DrillError as exc:
        return _render_log(request, team, error=str(exc), status=400)
    if not _partial(request):
        messages.success(request, f"You take part in {team.name}'s drills: a drill pages you.")
    return _taking_part_answer(request, team)


@login_required
@require_POST
def drill_opt_out(request, slug):
    team = _team_for(request, slug, action=CHANGE)
    try:
        drills.opt_out(team=team, user=request.user)
    except drills.DrillError as exc:
        return _render_log(request, team, error=str(exc), status=400)
    if not _partial(request):
        messages.success(request, f"You no longer take part in {team.name}'s drills.")
    return _taking_part_answer(request, team)


# --- a drill's report ---------------------------------------------------------------------------


def _report_rows(report) -> dict:
    """The report as the page shows it: each time with its words, what was skipped in words."""
    times = []
    for row in report.get("times", []):
        times.append({**row, "label": row.get("label") or TIME_LABELS.get(row.get("key"), "")})
    labels = {row["key"]: row["label"] for row in times}
    skipped = [labels.get(key) or TIME_LABELS.get(key, key) for key in report.get("skipped", [])]
    return {
        "times": times,
        "skipped": skipped,
        "outsiders": [
            {"user": ack.get("user", ""), "at": parse_datetime(ack.get("at") or "")}
            for ack in report.get("outsider_acknowledgements", [])
        ],
        "participants": report.get("participants", []),
        "acknowledged_by": report.get("acknowledged_by"),
    }


def _detail_context(request, drill) -> dict:
    running = drill.state == DrillState.RUNNING
    report = drills.drill_report(drill) if running or not drill.report else drill.report
    return {
        "drill": drill,
        "team": drill.team,
        "running": running,
        "report": _report_rows(report),
        "may_end": running and can(request.user, MANAGE, drill.team),
    }


@login_required
@require_GET
def drill_detail(request, pk):
    drill = _drill_for(request, pk)
    context = _detail_context(request, drill)
    template = "reports/drill_detail.html#report" if _partial(request) else None
    with timezone.override(drill.team.time_zone):
        response = render(request, template or "reports/drill_detail.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
def drill_end(request, pk):
    drill = _drill_for(request, pk, action=MANAGE)
    try:
        drills.drill_end(drill=drill, by=request.user)
    except drills.DrillError as exc:
        context = _detail_context(request, drill)
        context["error"] = str(exc)
        with timezone.override(drill.team.time_zone):
            return render(request, "reports/drill_detail.html", context, status=400)
    messages.success(request, "Drill ended. Its report is written to the team's drill log.")
    return redirect("drill_detail", pk=drill.pk)


# --- the incident page's drill banner -----------------------------------------------------------


def drill_panel_context(*, incident, user) -> dict:
    """For the incident page: a drill's incident says so at the top, with its drill's report.
    One query on a drill's incident, none on any other."""
    if not incident.is_drill:
        return {"drill": None}
    drill = Drill.objects.filter(incident_id=incident.pk).select_related("scenario").first()
    return {"drill": drill}
