"""Job-store pages: the stores of a person's teams, a store's scans (with live progress),
killing stale jobs after a confirmation, conversation analysis, error patterns, queues and
flags. Only the store's team sees any of it; responders act, managers configure."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from common import live, sse
from common.inputs import parse_id
from incidents.models import Incident
from jobstores import conversations, errors, redisconn, selectors, services
from jobstores.forms import ConversationForm, ErrorsForm, JobStoreForm
from jobstores.models import DEFAULT_ERRORS_QUERY, JobStore, RunTrigger, ScanRun
from teams.access import CHANGE, MANAGE, VIEW, can, get_object_for_user
from teams.models import Team

# How many stale jobs a page lists (the run keeps all of them).
STALE_SHOWN = 500


def _store(request, pk, action=VIEW):
    return get_object_for_user(
        request.user, JobStore.objects.select_related("team"), action=action, pk=pk
    )


def _managed_teams(user):
    return Team.objects.filter(pk__in=[t.pk for t in Team.objects.all() if can(user, MANAGE, t)])


@login_required
def store_list(request):
    stores = selectors.stores_with_latest_run(request.user)
    return render(
        request,
        "jobstores/list.html",
        {"stores": stores, "can_create": _managed_teams(request.user).exists()},
    )


@never_cache
@login_required
def store_new(request):
    teams = _managed_teams(request.user)
    if not teams.exists():
        raise PermissionDenied("Only a team's managers may add job stores.")
    return _store_form(request, teams=teams, store=None)


@never_cache
@login_required
def store_edit(request, pk):
    store = _store(request, pk, MANAGE)
    return _store_form(request, teams=Team.objects.filter(pk=store.team_id), store=store)


def _store_form(request, *, teams, store):
    form = JobStoreForm(request.POST or None, teams=teams, instance=store)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = services.store_save(
                    team=store.team if store else data["team"],
                    data={k: v for k, v in data.items() if k != "team"},
                    by=request.user,
                    # As saved: the form wrote the posted values onto its instance.
                    store=JobStore.objects.get(pk=store.pk) if store else None,
                )
            except services.JobStoreError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Saved {saved.name}.")
                return redirect("jobstore_detail", saved.pk)
        status = 400
    return render(request, "jobstores/form.html", {"form": form, "store": store}, status=status)


@login_required
@require_POST
def store_delete(request, pk):
    store = _store(request, pk, MANAGE)
    if request.POST.get("confirm") != "yes":
        return render(request, "jobstores/delete.html", {"store": store})
    name = store.name
    services.store_delete(store=store, by=request.user)
    messages.success(request, f"Deleted job store {name}.")
    return redirect("jobstores")


@login_required
def store_detail(request, pk):
    store = _store(request, pk)
    page = selectors.store_page(store)
    run = page["latest_run"]
    if request.htmx and request.GET.get("part") == "run" and run is not None:
        return _run_part(request, store, run)
    return render(
        request,
        "jobstores/detail.html",
        {
            **page,
            "run": run,
            "store": store,
            "stale_jobs": (page["finished_run"].stale_jobs[:STALE_SHOWN])
            if page["finished_run"]
            else [],
            "can_act": can(request.user, CHANGE, store),
            "can_manage": can(request.user, MANAGE, store),
            "conversation_form": ConversationForm(),
            "errors_form": ErrorsForm(),
        },
    )


class ScanChannel(live.Channel):
    """The store page's latest scan: its progress while it runs, its figures when it ends
    (sent at once on connect, so a scan that ended meanwhile shows)."""

    poll_seconds = 1.0

    def __init__(self, store, user):
        self.store, self.user = store, user
        self.topics = frozenset({services.scan_topic(store.pk), f"access:user:{user.pk}"})
        self.shown = None

    def poll(self):
        store = JobStore.objects.filter(pk=self.store.pk).first()
        if store is None or not can(self.user, VIEW, store):
            return None  # deleted, or the person left its team: the stream ends
        run = self.store.runs.order_by("-pk").first()
        if run is None:
            return ""
        html = render_to_string("jobstores/detail.html#run", {"store": self.store, "run": run})
        if html == self.shown:
            return ""
        self.shown = html
        return sse.event("scan-run", html)


def scan_channel(request, user, value) -> ScanChannel:
    """?jobstore=<id>: the store's scans, for people of its team."""
    pk = parse_id(value)
    if pk is None:
        raise Http404("No such job store.")
    store = get_object_for_user(user, JobStore.objects.select_related("team"), pk=pk)
    return ScanChannel(store, user)


def scan_versions(ids):
    """The safety poll: each watched store's latest run and its progress, in one query
    (the hub runs on PostgreSQL only, hence DISTINCT ON)."""
    pks = [pk for value in ids if (pk := parse_id(value)) is not None]
    rows = (
        ScanRun.objects.filter(store_id__in=pks)
        .order_by("store_id", "-pk")
        .distinct("store_id")
        .values_list("store_id", "pk", "status", "keys_scanned")
    )
    return {str(store_id): rest for store_id, *rest in rows}


def _run_part(request, store, run):
    response = render(request, "jobstores/detail.html#run", {"store": store, "run": run})
    response["Vary"] = "HX-Request"
    return response


@never_cache
@login_required
def run_detail(request, pk, run_pk):
    store = _store(request, pk)
    run = get_object_or_404(ScanRun, pk=run_pk, store=store)
    if request.htmx:
        return _run_part(request, store, run)
    return render(request, "jobstores/run.html", {"store": store, "run": run})


@login_required
@require_POST
def scan_start(request, pk):
    store = _store(request, pk, CHANGE)
    run = services.scan_start(store=store, trigger=RunTrigger.PERSON, by=request.user)
    if request.htmx:
        return _run_part(request, store, run)
    return redirect("jobstore_detail", store.pk)


@never_cache
@login_required
@require_POST
def kill(request, pk):
    """First POST: the confirmation page for the chosen jobs (or all); a second POST with
    confirm=yes kills them."""
    store = _store(request, pk, CHANGE)
    run = services.latest_finished_run(store)
    stale = run.stale_jobs if run else []
    every = request.POST.get("all") == "yes"
    chosen_ids = [] if every else request.POST.getlist("job_id")
    if not every and not chosen_ids:
        messages.error(request, "Choose the jobs to kill, or kill all of them.")
        return redirect("jobstore_detail", store.pk)
    chosen = stale if every else [j for j in stale if str(j.get("job_id")) in set(chosen_ids)]
    if request.POST.get("confirm") != "yes":
        return render(
            request,
            "jobstores/kill_confirm.html",
            {"store": store, "run": run, "jobs": chosen, "every": every},
        )
    try:
        result = services.kill_jobs(
            store=store, job_ids=None if every else chosen_ids, by=request.user
        )
    except services.JobStoreError as exc:
        messages.error(request, str(exc))
        return redirect("jobstore_detail", store.pk)
    text = f"Killed {len(result.killed)} stale jobs."
    if result.skipped:
        text += f" Left {len(result.skipped)} alone: they were no longer stale."
    messages.success(request, text)
    for error in result.errors:
        messages.error(request, error)
    return redirect("jobstore_detail", store.pk)


@never_cache
@login_required
def conversation(request, pk):
    store = _store(request, pk)
    form = ConversationForm(request.GET or None)
    analysis = None
    if form.is_valid():
        prefix = store.conv_pattern.removesuffix("*") or "conv:"
        try:
            with redisconn.connect(store.redis_url, cluster=store.cluster) as conn:
                analysis = conversations.analyze_conversation(
                    conn.client, form.cleaned_data["conv_id"], key_prefix=prefix
                )
        except redisconn.StoreUnavailable as exc:
            analysis = {"error": str(exc)}
    status = 400 if request.GET and not form.is_valid() else 200
    return render(
        request,
        "jobstores/conversation.html",
        {"store": store, "form": form, "analysis": analysis},
        status=status,
    )


@never_cache
@login_required
def error_patterns(request, pk):
    store = _store(request, pk)
    form = ErrorsForm(request.GET or None)
    patterns = None
    if form.is_valid():
        hours = form.cleaned_data["hours"]
        if form.cleaned_data["source"] == "prometheus":
            if not store.prometheus_url:
                patterns = {"error": "This job store has no Prometheus URL."}
            else:
                patterns = errors.prometheus_error_patterns(
                    store.prometheus_url, store.errors_query or DEFAULT_ERRORS_QUERY
                )
        else:
            try:
                with redisconn.connect(store.redis_url, cluster=store.cluster) as conn:
                    patterns = errors.stream_error_patterns(
                        conn.client, store.errors_stream, hours=hours
                    )
            except redisconn.StoreUnavailable as exc:
                patterns = {"error": str(exc)}
    status = 400 if request.GET and not form.is_valid() else 200
    return render(
        request,
        "jobstores/errors.html",
        {"store": store, "form": form, "patterns": patterns},
        status=status,
    )


@login_required
@require_POST
def flag_disable(request, pk):
    """The seed's "Disable Feature", confirmed: from the store's page or an incident's."""
    store = _store(request, pk, CHANGE)
    key = request.POST.get("key", "")
    incident = None
    if request.POST.get("incident"):
        incident = get_object_for_user(
            request.user, Incident.objects.all(), action=CHANGE, pk=_int(request.POST["incident"])
        )
        if incident.team_id != store.team_id:
            raise PermissionDenied("This job store belongs to another team than the incident.")
    back = (
        redirect("incident_detail", incident.pk)
        if incident
        else redirect("jobstore_detail", store.pk)
    )
    if request.POST.get("confirm") != "yes":
        state = store.flags.filter(key=key).first()
        if state is None:
            messages.error(request, f"{store.name} has no flag {key!r}.")
            return back
        return render(
            request,
            "jobstores/flag_confirm.html",
            {"store": store, "flag": state, "incident": incident},
        )
    try:
        change = services.flag_disable(store=store, key=key, by=request.user, incident=incident)
    except services.JobStoreError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Turned {change.key} off ({change.before} → {change.after}).")
    return back


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
