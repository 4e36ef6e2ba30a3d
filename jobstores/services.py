"""Writes for job stores: saving targets, running and recording scans, killing stale jobs,
reading queues and flags, turning a flag off. What a scan finds becomes alerts through the
team's internal integration, so routing, silences and paging treat it like Alertmanager's."""

import time
import urllib.parse
from datetime import timedelta

import redis
import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.models import AlertGroup, IntegrationKind
from alerts.services import internal_alert
from audit.services import audit_record
from changes.models import ChangeKind, ChangeSource
from changes.services import LIMITS as CHANGE_LIMITS
from changes.services import ChangeError, change_record
from common import live
from common.enqueue import enqueue
from common.inputs import check_text
from common.outbound import OutboundRefused, check_endpoint
from incidents.models import EventKind
from incidents.services import timeline_event_add
from jobstores import queues, redisconn, scanning
from jobstores.models import (
    STORE_FIELDS,
    FlagChange,
    FlagState,
    JobStore,
    QueueSample,
    RunStatus,
    RunTrigger,
    ScanRun,
    redact_url,
)

logger = structlog.get_logger(__name__)

# How often a running scan writes its progress to its row (seconds).
PROGRESS_EVERY = 0.5
# Runs and queue samples kept per store.
RUNS_KEPT = 500
SAMPLES_KEPT_FOR = timedelta(days=2)


def _in_words(exc, store) -> str:
    """A Redis error met mid-read, for a run's record (redis-py's text can hold the URL)."""
    if isinstance(exc, redis.TimeoutError):
        return f"{store.name} stopped answering in time."
    if isinstance(exc, redis.ConnectionError):
        return f"{store.name} closed the connection."
    return f"{store.name} answered with an error: {str(exc).split(' ')[0][:40]}."


class JobStoreError(ValueError):
    """A request about job stores that cannot be honoured; the message is for the person."""


# --- targets ---------------------------------------------------------------------------


def _check_redis_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 6379
    except ValueError:
        raise JobStoreError("The Redis URL's port must be a number from 1 to 65535.") from None
    if parts.scheme not in ("redis", "rediss"):
        raise JobStoreError("Use a redis:// or rediss:// URL.")
    if not parts.hostname:
        raise JobStoreError("The Redis URL has no host name.")
    try:
        check_endpoint(parts.hostname, port)
    except OutboundRefused as exc:
        if not exc.unresolved:
            raise JobStoreError(str(exc)) from None


def _kept_password(new_url: str, old_url: str) -> str:
    """An edit that leaves the password out keeps the saved one (it is never shown back)."""
    try:
        new, old = urllib.parse.urlsplit(new_url), urllib.parse.urlsplit(old_url)
    except ValueError:
        return new_url
    if new.password or not old.password:
        return new_url
    if (new.hostname, new.port) != (old.hostname, old.port):
        return new_url  # another server: the old one's password is not for it
    user = new.username or old.username or ""
    host = f"[{new.hostname}]" if ":" in (new.hostname or "") else new.hostname
    netloc = f"{user}:{old.password}@{host}" + (f":{new.port}" if new.port else "")
    return urllib.parse.urlunsplit(new._replace(netloc=netloc))


def _audit_view(store) -> dict:
    view = {f: getattr(store, f) for f in STORE_FIELDS}
    view["redis_url"] = store.redacted_url
    view["prometheus_url"] = redact_url(store.prometheus_url)
    return view


def store_save(*, team, data: dict, by, store: JobStore | None = None) -> JobStore:
    """Create (store None) or update a job store from cleaned form data."""
    data = dict(data)
    name = check_text((data.get("name") or "").strip(), "Name")
    if not name:
        raise JobStoreError("A job store needs a name.")
    data["name"] = name
    url = (data.get("redis_url") or "").strip()
    if store is not None and not url:
        url = store.redis_url
    elif store is not None:
        url = _kept_password(url, store.redis_url)
    if not url:
        raise JobStoreError("A job store needs a Redis URL.")
    _check_redis_url(url)
    data["redis_url"] = url
    if data.get("prometheus_url"):
        try:
            parts = urllib.parse.urlsplit(data["prometheus_url"])
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise JobStoreError("The Prometheus URL must be an http(s) URL.")
            check_endpoint(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        except OutboundRefused as exc:
            if not exc.unresolved:
                raise JobStoreError(str(exc)) from None
        except ValueError:
            raise JobStoreError("The Prometheus URL is not a URL.") from None
    clash = JobStore.objects.filter(team=team, name=name)
    if store is not None:
        clash = clash.exclude(pk=store.pk)
    if clash.exists():
        raise JobStoreError(f"{team} already has a job store named {name!r}.")
    with transaction.atomic():
        if store is None:
            store = JobStore(team=team, created_by=by)
            before = None
        else:
            store = JobStore.objects.select_for_update().get(pk=store.pk)
            before = _audit_view(store)
        for field in STORE_FIELDS:
            if field in data:
                setattr(store, field, data[field])
        store.save()
        audit_record(
            actor=by,
            action="jobstore.create" if before is None else "jobstore.update",
            obj=store,
            before=before,
            after=_audit_view(store),
        )
    return store


def store_delete(*, store, by) -> None:
    with transaction.atomic():
        audit_record(actor=by, action="jobstore.delete", obj=store, before=_audit_view(store))
        store.delete()


# --- stale-job scans -------------------------------------------------------------------


def scan_topic(store_id) -> str:
    """The live topic of a store's scans: a run started, progressed or ended."""
    return f"jobstore:{store_id}"


def scan_start(*, store, trigger=RunTrigger.PERSON, by=None) -> ScanRun:
    """A new run, handed to a worker. A store has at most one run going at a time: asking
    again while one runs returns that one."""
    with transaction.atomic():
        locked = JobStore.objects.select_for_update().get(pk=store.pk)
        running = locked.runs.filter(status=RunStatus.RUNNING).first()
        if running and not _abandoned(running):
            return running
        if running:
            _finish_abandoned(running)
        run = ScanRun.objects.create(
            store=locked,
            trigger=trigger,
            started_by=by if getattr(by, "is_authenticated", False) else None,
            max_age_seconds=locked.stale_after_seconds,
        )
        live.publish(scan_topic(store.pk))
        enqueue("jobstores.tasks.run_scan", run.pk)
    return run


def scan_now(*, store, trigger=RunTrigger.CLI, by=None, max_age_seconds=None, now=None):
    """A scan run here and now (the CLI), recorded like the workers' ones."""
    run = ScanRun.objects.create(
        store=store,
        trigger=trigger,
        started_by=by if getattr(by, "is_authenticated", False) else None,
        max_age_seconds=max_age_seconds or store.stale_after_seconds,
    )
    return scan_run(run.pk, now=now)


def _abandoned(run) -> bool:
    """A run whose worker died: no progress for several scan periods."""
    limit = max(300.0, settings.JOBSTORES_SCAN_EVERY * 5)
    return (timezone.now() - run.started_at).total_seconds() > limit


def _finish_abandoned(run) -> None:
    ScanRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        errors=[*run.errors, "The worker running this scan stopped before it finished."],
    )
    live.publish(scan_topic(run.store_id))


def scan_run(run_id: int, *, now=None) -> ScanRun | None:
    """Run a scan row to its end: connect, scan, store the figures, raise or resolve the
    store's stale-jobs alert. Idempotent: a finished run is left as it is."""
    run = ScanRun.objects.select_related("store__team").filter(pk=run_id).first()
    if run is None or run.status != RunStatus.RUNNING:
        return run
    store = run.store
    started = time.monotonic()
    last_write = [0.0]

    def progress(scanned, dbsize):
        if time.monotonic() - last_write[0] >= PROGRESS_EVERY:
            last_write[0] = time.monotonic()
            ScanRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                keys_scanned=scanned, dbsize=dbsize
            )
            live.publish(scan_topic(store.pk))

    try:
        with redisconn.connect(store.redis_url, cluster=store.cluster) as conn:
            result = scanning.find_stale_jobs(
                conn,
                fmt=store.format,
                pattern=store.job_pattern,
                max_age_seconds=run.max_age_seconds,
                now=now,
                visibility_timeout=store.visibility_timeout_seconds,
                progress=progress,
            )
    except redisconn.StoreUnavailable as exc:
        return _run_failed(run, str(exc), started)
    except redis.RedisError as exc:
        return _run_failed(run, _in_words(exc, store), started)
    ScanRun.objects.filter(pk=run.pk).update(
        status=RunStatus.OK,
        finished_at=timezone.now(),
        dbsize=result.dbsize,
        keys_scanned=result.keys_scanned,
        counts=result.counts,
        stale_count=len(result.stale_jobs),
        stale_jobs=result.stale_jobs,
        errors=result.errors,
        duration_seconds=result.duration_seconds,
        keys_per_second=result.keys_per_second,
    )
    live.publish(scan_topic(store.pk))
    run.refresh_from_db()
    logger.info(
        "jobstore_scanned",
        store_id=store.pk,
        run_id=run.pk,
        keys=result.keys_scanned,
        stale=run.stale_count,
        seconds=round(result.duration_seconds, 3),
    )
    if not result.errors or result.keys_scanned:
        _stale_alert(store, run)
    _trim_runs(store)
    return run


def _run_failed(run, reason, started) -> ScanRun:
    ScanRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        errors=[*run.errors, reason],
        duration_seconds=time.monotonic() - started,
    )
    live.publish(scan_topic(run.store_id))
    logger.warning("jobstore_scan_failed", store_id=run.store_id, run_id=run.pk, reason=reason)
    run.refresh_from_db()
    return run


def stale_alert_key(store) -> str:
    return f"jobstore:{store.pk}:stale"


def _stale_alert(store, run) -> None:
    count = run.stale_count
    oldest = max((job.get("age_seconds") or 0 for job in run.stale_jobs), default=0)
    internal_alert(
        team=store.team,
        key=stale_alert_key(store),
        title=f"Stale jobs in {store.name}",
        firing=count > 0,
        source="jobstore",
        severity="critical",
        description=(
            f"{count} jobs have been processing for more than {run.max_age_seconds} s "
            f"(the oldest for {int(oldest)} s)."
            if count
            else "No stale jobs."
        ),
        labels={"jobstore": store.name, "check": "stale_jobs"},
    )


def _trim_runs(store) -> None:
    old = store.runs.order_by("-started_at", "-pk").values_list("pk", flat=True)[RUNS_KEPT:]
    ScanRun.objects.filter(pk__in=list(old)).delete()


def latest_finished_run(store) -> ScanRun | None:
    return store.runs.filter(status=RunStatus.OK).order_by("-started_at", "-pk").first()


# --- kill ------------------------------------------------------------------------------


def open_incident_for(store):
    """The open incident the store's stale-jobs alert is attached to, if any."""
    group = (
        AlertGroup.objects.filter(
            team=store.team,
            integration__kind=IntegrationKind.INTERNAL,
            group_key=f"vigil:{stale_alert_key(store)}",
            incident__isnull=False,
        )
        .select_related("incident")
        .order_by("-opened_at")
        .first()
    )
    if group and group.incident.is_open:
        return group.incident
    return None


def kill_jobs(*, store, job_ids=None, by, now=None, incident=None):
    """Kill stale jobs of the store's latest finished scan: those in job_ids, or all of them.
    Each job is checked again atomically; a job that finished meanwhile is left alone."""
    run = latest_finished_run(store)
    if run is None:
        raise JobStoreError("Scan the store first: there is no finished scan to kill from.")
    jobs = run.stale_jobs
    if job_ids is not None:
        wanted = {str(j) for j in job_ids}
        jobs = [job for job in jobs if str(job.get("job_id")) in wanted]
        if not jobs:
            raise JobStoreError("None of the chosen jobs is in the latest scan's stale jobs.")
    if not jobs:
        raise JobStoreError("The latest scan found no stale jobs.")
    try:
        with redisconn.connect(store.redis_url, cluster=store.cluster) as conn:
            result = scanning.kill_stale_jobs(
                conn,
                jobs=jobs,
                max_age_seconds=run.max_age_seconds,
                now=now,
                fmt=store.format,
            )
    except redisconn.StoreUnavailable as exc:
        raise JobStoreError(str(exc)) from None
    incident = incident or open_incident_for(store)
    with transaction.atomic():
        audit_record(
            actor=by,
            action="jobstore.kill",
            obj=store,
            after={
                "killed": result.killed,
                "skipped": result.skipped,
                "errors": result.errors,
                "max_age_seconds": run.max_age_seconds,
                "run": run.pk,
            },
        )
        if incident is not None and result.killed:
            shown = ", ".join(result.killed[:10]) + (
                f" and {len(result.killed) - 10} more" if len(result.killed) > 10 else ""
            )
            timeline_event_add(
                incident=incident,
                kind=EventKind.MITIGATION,
                body=(
                    f"Killed {len(result.killed)} stale jobs in {store.name} "
                    f"(processing for more than {run.max_age_seconds} s): {shown}"
                ),
                author=by,
                data={"jobstore": store.pk, "killed": result.killed, "skipped": result.skipped},
            )
    logger.warning(
        "stale_jobs_killed",
        store_id=store.pk,
        killed=len(result.killed),
        skipped=len(result.skipped),
    )
    return result


# --- queues and flags ------------------------------------------------------------------


def queue_alert_key(store, key) -> str:
    return f"jobstore:{store.pk}:queue:{key}"


def monitor_store(store, *, now=None) -> dict:
    """Read the store's queue depths and flags once: samples stored, depth alerts raised or
    resolved, flag changes recorded. Returns what it read, for the caller's log."""
    now = now or timezone.now()
    try:
        with redisconn.connect(store.redis_url, cluster=store.cluster) as conn:
            depths = queues.queue_depths(conn.nodes, store.queue_pattern)
            flags = queues.read_flags(conn.nodes, conn.client, store.flag_pattern)
    except (redisconn.StoreUnavailable, redis.RedisError) as exc:
        why = str(exc) if isinstance(exc, redisconn.StoreUnavailable) else (_in_words(exc, store))
        logger.warning("jobstore_monitor_failed", store_id=store.pk, reason=why)
        return {"error": why}
    # A queue that vanished while its alert fires is empty now.
    for key in _queues_alerting(store) - set(depths):
        depths[key] = 0
    QueueSample.objects.bulk_create(
        [QueueSample(store=store, key=key, depth=depth, at=now) for key, depth in depths.items()]
    )
    QueueSample.objects.filter(store=store, at__lt=now - SAMPLES_KEPT_FOR).delete()
    window = now - timedelta(minutes=store.queue_depth_minutes + 1)
    samples = {}
    for key, depth, at in QueueSample.objects.filter(store=store, at__gte=window).values_list(
        "key", "depth", "at"
    ):
        samples.setdefault(key, []).append((at, depth))
    breached = []
    for key in sorted(depths):
        over = queues.depth_breached(
            sorted(samples.get(key, [])),
            threshold=store.queue_depth_threshold,
            minutes=store.queue_depth_minutes,
            now=now,
        )
        if over:
            breached.append(key)
        internal_alert(
            team=store.team,
            key=queue_alert_key(store, key),
            title=f"Queue {key} in {store.name} over {store.queue_depth_threshold}",
            firing=over,
            source="jobstore",
            severity="warning",
            description=(
                f"{key} has held more than {store.queue_depth_threshold} jobs for "
                f"{store.queue_depth_minutes} min (now {depths.get(key, 0)})."
            ),
            labels={"jobstore": store.name, "check": "queue_depth", "queue": key},
        )
    changes = _record_flags(store, flags, now)
    return {"queues": depths, "breached": breached, "flag_changes": changes}


def _queues_alerting(store) -> set[str]:
    """Queues with a firing depth alert, so one that vanished still gets resolved."""
    prefix = f"vigil:{queue_alert_key(store, '')}"
    keys = AlertGroup.objects.filter(
        team=store.team,
        integration__kind=IntegrationKind.INTERNAL,
        group_key__startswith=prefix,
        resolved_at__isnull=True,
    ).values_list("group_key", flat=True)
    return {key.removeprefix(prefix) for key in keys}


def _record_flags(store, flags: dict, now) -> int:
    with transaction.atomic():
        known = {f.key: f for f in FlagState.objects.select_for_update().filter(store=store)}
        # The first reading is the baseline: its flags are not changes.
        baseline = not known and not store.flag_changes.exists()
        changes = []
        for key, value in flags.items():
            state = known.get(key)
            if state is None:
                FlagState.objects.create(store=store, key=key, value=value, seen_at=now)
                if not baseline:
                    changes.append(FlagChange(store=store, key=key, before=None, after=value))
            elif state.value != value:
                changes.append(FlagChange(store=store, key=key, before=state.value, after=value))
                state.value, state.seen_at = value, now
                state.save(update_fields=["value", "seen_at"])
        for key, state in known.items():
            if key not in flags:
                changes.append(FlagChange(store=store, key=key, before=state.value, after=None))
                state.delete()
        for change in changes:
            change.at = now
        FlagChange.objects.bulk_create(changes)
        for change in changes:
            _flag_change_event(store, change)
    return len(changes)


# A flag's value as a change's summary shows it; flag values may be long JSON.
FLAG_VALUE_SHOWN = 100


def _flag_change_summary(change) -> str:
    def shown(value):
        return value if len(value) <= FLAG_VALUE_SHOWN else value[: FLAG_VALUE_SHOWN - 1] + "…"

    if change.before is None:
        what = f"appeared as {shown(change.after)}"
    elif change.after is None:
        what = f"deleted (was {shown(change.before)})"
    else:
        what = f"{shown(change.before)} → {shown(change.after)}"
    return f"Feature flag {change.key}: {what}"[: CHANGE_LIMITS["summary"]]


def _flag_change_event(store, change) -> None:
    """The flag change as a change event, so it is on the timeline of the incidents it may
    explain; called inside the transaction that stores the FlagChange."""
    try:
        change_record(
            team=store.team,
            service=store.name,
            kind=ChangeKind.FLAG,
            source=ChangeSource.FLAGS,
            summary=_flag_change_summary(change),
            author=change.by.username if change.by is not None else "",
            # A reading dated by a clock ahead of this one must not be refused as a change
            # from the future (and lose the scan's transaction with it).
            occurred_at=min(change.at, timezone.now()),
            external_id=f"flagchange:{change.pk}",
            details={"jobstore": store.pk, "flag": change.key[:500]},
        )
    except ChangeError as exc:  # refused before anything was written: the reading stands
        logger.warning(
            "flag_change_not_recorded_as_change", store_id=store.pk, key=change.key, reason=str(exc)
        )


def flag_disable(*, store, key, by, incident=None) -> FlagChange:
    """The seed's "Disable Feature": the flag set to its off value, only if nobody changed it
    since Vigil read it; recorded as a change, in the audit trail and on the incident."""
    state = FlagState.objects.filter(store=store, key=key).first()
    if state is None:
        raise JobStoreError(f"{store.name} has no flag {key!r} (as of its last reading).")
    try:
        off = queues.flag_off_value(state.value)
    except ValueError as exc:
        raise JobStoreError(str(exc)) from None
    if off == state.value:
        raise JobStoreError(f"{key} is already off.")
    try:
        with redisconn.connect(store.redis_url, cluster=store.cluster) as conn:
            written = queues.set_flag_if(conn.client, key, state.value, off)
    except redisconn.StoreUnavailable as exc:
        raise JobStoreError(str(exc)) from None
    if not written:
        raise JobStoreError(
            f"{key} changed since Vigil last read it; nothing was written. Reload and look again."
        )
    now = timezone.now()
    with transaction.atomic():
        before = state.value
        FlagState.objects.filter(pk=state.pk).update(value=off, seen_at=now)
        change = FlagChange.objects.create(
            store=store, key=key, before=before, after=off, at=now, by=by, incident=incident
        )
        _flag_change_event(store, change)
        audit_record(
            actor=by,
            action="jobstore.flag_disable",
            obj=store,
            before={"key": key, "value": before},
            after={"key": key, "value": off},
        )
        if incident is not None:
            timeline_event_add(
                incident=incident,
                kind=EventKind.MITIGATION,
                body=f"Turned feature flag {key} off in {store.name} ({before} → {off})",
                author=by,
                data={"jobstore": store.pk, "flag": key, "before": before, "after": off},
            )
    return change
