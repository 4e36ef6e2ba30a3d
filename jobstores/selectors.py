"""Reads for job stores: only the team's members see a store (it holds conversations)."""

from django.db.models import OuterRef, Subquery

from jobstores.models import FlagState, JobStore, QueueSample, RunStatus, ScanRun
from teams.access import team_roles

RUNS_SHOWN = 20
CHANGES_SHOWN = 20


def stores_for(user):
    stores = JobStore.objects.select_related("team")
    if user.is_superuser:
        return stores
    return stores.filter(team_id__in=list(team_roles(user)))


def stores_with_latest_run(user) -> list[JobStore]:
    """The stores a person sees, each with its latest run as `latest_run` (two queries)."""
    latest = ScanRun.objects.filter(store=OuterRef("pk")).order_by("-started_at", "-pk")
    stores = list(stores_for(user).annotate(latest_run_id=Subquery(latest.values("pk")[:1])))
    runs = ScanRun.objects.in_bulk([s.latest_run_id for s in stores if s.latest_run_id])
    for store in stores:
        store.latest_run = runs.get(store.latest_run_id)
    return stores


def latest_queue_depths(store) -> list[QueueSample]:
    """The queues as the latest reading found them (a reading stores all its samples at one
    moment): two queries, on any database."""
    latest = (
        QueueSample.objects.filter(store=store).order_by("-at").values_list("at", flat=True)[:1]
    )
    return list(QueueSample.objects.filter(store=store, at__in=Subquery(latest)).order_by("key"))


def store_page(store) -> dict:
    runs = list(store.runs.order_by("-started_at", "-pk")[:RUNS_SHOWN])
    finished = next((r for r in runs if r.status == RunStatus.OK), None)
    if finished is None and runs:
        finished = store.runs.filter(status=RunStatus.OK).order_by("-started_at", "-pk").first()
    return {
        "runs": runs,
        "latest_run": runs[0] if runs else None,
        "finished_run": finished,
        "queues": latest_queue_depths(store),
        "flags": list(store.flags.all()),
        "flag_changes": list(store.flag_changes.select_related("by")[:CHANGES_SHOWN]),
    }


def flags_for_incident(incident) -> list[FlagState]:
    """The flags of the incident team's job stores, for the incident page (one query)."""
    return list(
        FlagState.objects.filter(store__team_id=incident.team_id, store__enabled=True)
        .select_related("store")
        .order_by("store__name", "key")
    )
