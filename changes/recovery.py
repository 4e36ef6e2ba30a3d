"""The recovery watch: after a rollback or a mitigation, the service's error rate and p95
latency read every minute for 15 minutes, drawn on the incident, and the outcome written to
its timeline ("back under 0.1% normal after 7 min", or "still 12% after 15 min: escalate").

The watch is a row with a due time (next_sample_at); the periodic tick claims the due rows
with SKIP LOCKED, so a worker restart loses nothing and two workers never sample one slot."""

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import timezone

from changes import prometheus
from changes.models import RecoverySample, RecoveryWatch, Service, WatchStatus
from changes.prometheus import Reading
from changes.selectors import suspect_change
from common.text import duration, one_line
from incidents.models import ChecklistFact, EventKind, Incident
from incidents.services import checklist_tick_recorded, timeline_event_add

logger = structlog.get_logger(__name__)

# The seed's alert reads "Normal: <0.1%": under it the error rate is back, whatever last
# week's was.
NORMAL_ERROR_RATE_FLOOR = 0.001
# The seed rolls back at "p95 latency >2x normal"; under twice normal the latency is back.
LATENCY_FACTOR = 2.0
# Readings run side by side, so one slow Prometheus costs a tick one timeout, not fifty.
READ_THREADS = 16
NO_SERVICE = "No service with metrics: Vigil knows no service of this incident to read."
OUTCOME_LIMIT = 300
PROBLEM_LIMIT = 300


# --- starting ------------------------------------------------------------------------------


def watch_start(*, incident, trigger: str, service=None, decision=None, by=None) -> RecoveryWatch:
    """Start watching the incident's service (given, else the suspect change's, else the
    team's only one), in the caller's transaction. While a watch is running, starting
    again returns it. Last week's values are read once here as "normal"; the first reading
    is due at once and the tick takes it."""
    running = _running_watch(incident)
    if running is not None:
        return running
    service = service or _service_for(incident)
    queries = _queries(service)
    # Read before taking the incident's lock: a slow Prometheus holds up nobody else.
    url = prometheus.prometheus_url_for(incident.team_id) if queries else ""
    readings = _read_many([(url, prometheus.normal_query(q)) for q in queries.values()])
    normal = dict(zip(queries, readings, strict=True))
    interval = max(1, round(settings.RECOVERY_WATCH_INTERVAL_SECONDS))
    with transaction.atomic(savepoint=False):
        # The incident's row orders two starts at once: the second finds the first.
        Incident.objects.select_for_update().filter(pk=incident.pk).values_list("pk").first()
        running = _running_watch(incident)
        if running is not None:
            return running
        now = timezone.now()
        watch = RecoveryWatch.objects.create(
            incident_id=incident.pk,
            service=service,
            decision=decision,
            trigger=one_line(trigger, 100) or "Mitigation",
            started_at=now,
            ends_at=now + timedelta(minutes=settings.RECOVERY_WATCH_MINUTES),
            next_sample_at=now,
            interval_seconds=interval,
            normal_error_rate=_value(normal.get("error_rate")),
            normal_latency=_value(normal.get("latency")),
            started_by=by,
        )
        timeline_event_add(
            incident=incident,
            kind=EventKind.RECOVERY,
            author=by,
            occurred_at=now,
            body=_start_line(watch),
            data={
                "watch": watch.pk,
                "trigger": watch.trigger,
                "service": service.name if service else None,
                "started": True,
            },
        )
    logger.info(
        "recovery_watch_started",
        incident_id=incident.pk,
        watch_id=watch.pk,
        service=service.name if service else None,
    )
    return watch


def _running_watch(incident) -> RecoveryWatch | None:
    return (
        RecoveryWatch.objects.filter(incident_id=incident.pk, status=WatchStatus.WATCHING)
        .select_related("service")
        .first()
    )


def _service_for(incident) -> Service | None:
    change = suspect_change(incident=incident)
    if change is not None:
        return change.service
    only = list(Service.objects.filter(team_id=incident.team_id)[:2])
    return only[0] if len(only) == 1 else None


def _queries(service) -> dict[str, str]:
    """The service's queries that are set, by metric."""
    if service is None:
        return {}
    queries = {"error_rate": service.error_rate_query, "latency": service.latency_query}
    return {metric: q.strip() for metric, q in queries.items() if (q or "").strip()}


def _start_line(watch) -> str:
    every = duration(watch.interval_seconds)
    length = duration(watch.ends_at - watch.started_at)
    queries = _queries(watch.service)
    if not queries:
        return (
            f"Recovery watch started: every {every} for {length}, but it has no service "
            f"with metrics to read, so it will end without data."
        )
    measured = " and ".join(
        {"error_rate": "error rate", "latency": "p95 latency"}[m] for m in queries
    )
    line = f"Recovery watch started: {measured} of {watch.service.name} every {every} for {length}"
    normal = []
    if watch.normal_error_rate is not None:
        normal.append(f"error rate {percent(watch.normal_error_rate)}")
    if watch.normal_latency is not None:
        normal.append(f"p95 {seconds(watch.normal_latency)}")
    if normal:
        line += f". A week ago: {', '.join(normal)}"
    return line + "."


# --- the tick --------------------------------------------------------------------------------


def watches_sample_due(*, now=None, limit: int = 50) -> int:
    """One tick: take a reading for every watch whose next reading is due, and finish those
    whose time is up. Returns how many watches were read."""
    now = now or timezone.now()
    claimed = _claim_due(now=now, limit=limit)
    if not claimed:
        return 0
    urls = {}
    jobs, owners = [], []
    for watch in claimed:
        team_id = watch.incident.team_id
        if team_id not in urls:
            urls[team_id] = prometheus.prometheus_url_for(team_id)
        for metric, query in _queries(watch.service).items():
            jobs.append((urls[team_id], query))
            owners.append((watch.pk, metric))
    readings: dict[int, dict[str, Reading]] = {watch.pk: {} for watch in claimed}
    for (watch_id, metric), reading in zip(owners, _read_many(jobs), strict=True):
        readings[watch_id][metric] = reading
    for watch in claimed:
        _record(watch, readings[watch.pk], now)
    return len(claimed)


def _claim_due(*, now, limit) -> list[RecoveryWatch]:
    """Due watches, each moved to its next reading before it is read: a worker that claims
    one holds it (SKIP LOCKED), so two ticks never read one slot twice."""
    with transaction.atomic():
        due = list(
            RecoveryWatch.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("service", "incident")
            .filter(status=WatchStatus.WATCHING, next_sample_at__lte=now)
            .order_by("next_sample_at", "pk")[:limit]
        )
        for watch in due:
            watch.next_sample_at = next_slot(watch, now)
        RecoveryWatch.objects.bulk_update(due, ["next_sample_at"])
    return due


def next_slot(watch, now):
    """The next planned reading after `now`: slots stay on the start's minute (no drift),
    and the slots missed while no worker ran are skipped rather than read in a burst. The
    last slot is the watch's end."""
    interval = timedelta(seconds=max(1, watch.interval_seconds))
    planned = watch.next_sample_at
    missed = max(0, int((now - planned) / interval))
    following = planned + interval * (missed + 1)
    if planned < watch.ends_at:
        following = min(following, watch.ends_at)
    return following


def _record(watch, readings: dict[str, Reading], now) -> None:
    problems = []
    if not _queries(watch.service):
        problems.append(NO_SERVICE)
    for metric, label in (("error_rate", "Error rate"), ("latency", "p95")):
        reading = readings.get(metric)
        if reading is not None and reading.problem:
            problems.append(f"{label}: {reading.problem}")
    with transaction.atomic():
        # The row's lock and its status: a watch another worker finished takes no more.
        locked = (
            RecoveryWatch.objects.select_for_update()
            .filter(pk=watch.pk, status=WatchStatus.WATCHING)
            .first()
        )
        if locked is None:
            return
        RecoverySample.objects.create(
            watch_id=watch.pk,
            at=now,
            error_rate=_value(readings.get("error_rate")),
            latency=_value(readings.get("latency")),
            problem=one_line("; ".join(problems), PROBLEM_LIMIT),
        )
        if now >= locked.ends_at:
            locked.service = watch.service
            locked.incident = watch.incident
            _finish(locked, now)


def _finish(watch, now) -> None:
    samples = list(watch.samples.order_by("at", "pk"))
    verdict = judge(watch, samples)
    # Conditional on still watching: of two workers finishing one watch, one writes.
    if not RecoveryWatch.objects.filter(pk=watch.pk, status=WatchStatus.WATCHING).update(
        status=verdict.status, outcome=verdict.outcome, finished_at=now
    ):
        return
    watch.status, watch.outcome, watch.finished_at = verdict.status, verdict.outcome, now
    timeline_event_add(
        incident=watch.incident,
        kind=EventKind.RECOVERY,
        occurred_at=now,
        body=verdict.outcome,
        data={
            "watch": watch.pk,
            "status": verdict.status,
            "error_rate": verdict.error_rate,
            "latency": verdict.latency,
            "samples": len(samples),
        },
    )
    if verdict.status == WatchStatus.RECOVERED:
        checklist_tick_recorded(incident=watch.incident, fact=ChecklistFact.RECOVERED, at=now)
    logger.info(
        "recovery_watch_finished",
        incident_id=watch.incident_id,
        watch_id=watch.pk,
        status=verdict.status,
    )


# --- the verdict -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    status: str
    outcome: str
    error_rate: float | None = None
    latency: float | None = None


def error_rate_limit(watch) -> float:
    return max(watch.normal_error_rate or 0.0, NORMAL_ERROR_RATE_FLOOR)


def latency_limit(watch) -> float | None:
    if watch.normal_latency is None:
        return None
    return watch.normal_latency * LATENCY_FACTOR


def is_back(watch, sample) -> bool | None:
    """True when the sample is back to normal, False when it is not, None when it has no
    value to judge (a failed reading, or a latency with no normal to compare with)."""
    verdicts = []
    if sample.error_rate is not None:
        verdicts.append(sample.error_rate <= error_rate_limit(watch))
    limit = latency_limit(watch)
    if sample.latency is not None and limit is not None:
        verdicts.append(sample.latency <= limit)
    return all(verdicts) if verdicts else None


def judge(watch, samples) -> Verdict:
    """The outcome of a watch from its samples (in time order): recovered when the last
    judged samples are back to normal, since the first of them; else not recovered; no data
    when no sample could be judged."""
    judged = [(s, back) for s in samples if (back := is_back(watch, s)) is not None]
    length = duration(watch.ends_at - watch.started_at)
    if not judged:
        return _no_data(watch, samples, length)
    last, back = judged[-1]
    if not back:
        outcome = _not_recovered_line(watch, last, length)
        return Verdict(
            WatchStatus.NOT_RECOVERED,
            one_line(outcome, OUTCOME_LIMIT),
            last.error_rate,
            last.latency,
        )
    streak = []
    for sample, sample_back in reversed(judged):
        if not sample_back:
            break
        streak.append(sample)
    since = streak[-1]
    # The latest of each value while it stayed back: a failed error-rate reading at the end
    # does not hide the error rate read a minute before.
    error_rate = next((s.error_rate for s in streak if s.error_rate is not None), None)
    latency = next((s.latency for s in streak if s.latency is not None), None)
    outcome = _recovered_line(watch, error_rate, latency, since.at - watch.started_at)
    return Verdict(WatchStatus.RECOVERED, one_line(outcome, OUTCOME_LIMIT), error_rate, latency)


def _no_data(watch, samples, length) -> Verdict:
    problem = next((s.problem for s in reversed(samples) if s.problem), "")
    if not problem and any(s.latency is not None for s in samples):
        problem = "no p95 latency from a week ago to compare with"
    outcome = f"Recovery watch: no data after {length}: {problem or 'no reading was taken'}"
    return Verdict(WatchStatus.NO_DATA, one_line(outcome, OUTCOME_LIMIT))


def _recovered_line(watch, error_rate, latency, since) -> str:
    when = _since(since)
    if error_rate is None:
        return (
            f"Recovery watch: p95 {seconds(latency)}, back under 2× normal "
            f"({seconds(latency_limit(watch))}) {when}"
        )
    line = (
        f"Recovery watch: error rate {percent(error_rate)}, back under "
        f"{percent(error_rate_limit(watch))} normal {when}"
    )
    if latency is not None:
        line += f"; p95 {seconds(latency)}"
        if watch.normal_latency is not None:
            line += f" (normal {seconds(watch.normal_latency)})"
    return line


def _not_recovered_line(watch, last, length) -> str:
    failing = []
    if last.error_rate is not None and last.error_rate > error_rate_limit(watch):
        failing.append(f"error rate still {percent(last.error_rate)}")
    limit = latency_limit(watch)
    if last.latency is not None and limit is not None and last.latency > limit:
        failing.append(
            f"p95 latency still {seconds(last.latency)} "
            f"(over 2× normal {seconds(watch.normal_latency)})"
        )
    return f"Recovery watch: {' and '.join(failing)} after {length}: escalate"


def _since(offset: timedelta) -> str:
    elapsed = offset.total_seconds()
    if elapsed < 1:
        return "from the first reading"
    if elapsed < 60:
        return f"after {duration(elapsed)}"
    return f"after {int(elapsed // 60)} min"


def percent(ratio: float) -> str:
    """An error-rate ratio as people read it: 0.12 is "12%", 0.0008 is "0.08%"."""
    value = ratio * 100
    if value == 0:
        return "0%"
    if 0 < value < 0.01:
        return "<0.01%"
    if abs(value) >= 10:
        return f"{value:.0f}%"
    if abs(value) >= 1:
        return f"{_trim(f'{value:.1f}')}%"
    return f"{_trim(f'{value:.2f}')}%"


def seconds(value: float) -> str:
    """A latency in seconds: "0.42 s", "3.2 s", "12 s"."""
    if 0 < value < 0.01:
        return "<0.01 s"
    if abs(value) >= 10:
        return f"{value:.0f} s"
    return f"{_trim(f'{value:.2f}')} s"


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number


def _value(reading: Reading | None) -> float | None:
    return reading.value if reading is not None else None


def _read_many(jobs: list[tuple[str, str]]) -> list[Reading]:
    """Each (url, query) read, side by side; in the order given. Never raises."""
    if not jobs:
        return []
    if len(jobs) == 1:
        return [prometheus.read(*jobs[0])]
    with ThreadPoolExecutor(
        max_workers=min(READ_THREADS, len(jobs)), thread_name_prefix="vigil-recovery"
    ) as pool:
        return list(pool.map(lambda job: prometheus.read(*job), jobs))


# --- the incident page -----------------------------------------------------------------------


def watch_for_incident(*, incident) -> RecoveryWatch | None:
    """The incident's latest watch with its service and samples. Two queries."""
    return (
        RecoveryWatch.objects.filter(incident_id=incident.pk)
        .select_related("service")
        .prefetch_related(Prefetch("samples", queryset=RecoverySample.objects.order_by("at", "pk")))
        .first()
    )


# The chart's drawing area, in viewBox units: two small charts stacked, the error rate above
# the p95 latency, sharing the minutes along the bottom.
WIDTH, HEIGHT = 320, 120
PLOT_LEFT, PLOT_RIGHT = 44, 312
PANELS = {"error_rate": (14, 46), "latency": (64, 96)}


def chart_svg(watch) -> str:
    """The watch's readings as a small SVG (safe HTML, everything escaped), with the latest
    values in words for screen readers and a table of every reading. No queries beyond the
    samples (none when they were prefetched)."""
    samples = list(watch.samples.all())
    span = max((watch.ends_at - watch.started_at).total_seconds(), 1.0)

    def x_of(sample) -> float:
        offset = (sample.at - watch.started_at).total_seconds()
        return PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * min(max(offset / span, 0.0), 1.0)

    panels = [
        _panel(
            samples,
            x_of,
            metric="error_rate",
            title="Error rate",
            limit=error_rate_limit(watch),
            limit_label=f"normal {percent(error_rate_limit(watch))}",
            scale_label=percent,
            colour="#c62828",
        ),
        _panel(
            samples,
            x_of,
            metric="latency",
            title="p95 latency",
            limit=latency_limit(watch),
            limit_label=(
                f"2× normal {seconds(latency_limit(watch))}" if latency_limit(watch) else ""
            ),
            scale_label=seconds,
            colour="#1565c0",
        ),
    ]
    ticks = [
        {"x": _n(PLOT_LEFT + (PLOT_RIGHT - PLOT_LEFT) * f), "label": _axis_label(span * f, span)}
        for f in (0, 1 / 3, 2 / 3, 1)
    ]
    service = watch.service.name if watch.service else "no service"
    rows = [
        {
            "at": _clock(s.at - watch.started_at),
            "error_rate": percent(s.error_rate) if s.error_rate is not None else "none",
            "latency": seconds(s.latency) if s.latency is not None else "none",
            "problem": s.problem,
        }
        for s in samples
    ]
    return render_to_string(
        "changes/recovery_chart.html",
        {
            "watch": watch,
            "service": service,
            "width": WIDTH,
            "height": HEIGHT,
            "panels": panels,
            "ticks": ticks,
            "axis_y": _n(PANELS["latency"][1]),
            "plot_left": _n(PLOT_LEFT),
            "plot_right": _n(PLOT_RIGHT),
            "label": _in_words(watch, samples, service),
            "rows": rows,
        },
    )


def _panel(samples, x_of, *, metric, title, limit, limit_label, scale_label, colour) -> dict:
    top, bottom = PANELS[metric]
    values = [getattr(s, metric) for s in samples if getattr(s, metric) is not None]
    highest = max([max(v, 0.0) for v in values] + [limit or 0.0])
    scale = _round_up(highest * 1.1) if highest > 0 else 1.0

    def y_of(value) -> float:
        return bottom - (bottom - top) * min(max(value, 0.0) / scale, 1.0)

    # A missing reading breaks the line rather than bridging the gap.
    segments, current = [], []
    for sample in samples:
        value = getattr(sample, metric)
        if value is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append((_n(x_of(sample)), _n(y_of(value))))
    if current:
        segments.append(current)
    return {
        "metric": metric,
        "title": title,
        "colour": colour,
        "top": _n(top),
        "bottom": _n(bottom),
        "title_y": _n(top - 4),
        "scale_top": scale_label(scale) if values or limit else "",
        "lines": [" ".join(f"{x},{y}" for x, y in seg) for seg in segments if len(seg) > 1],
        "dots": [seg[0] for seg in segments if len(seg) == 1],
        "last": segments[-1][-1] if segments else None,
        "limit_y": _n(y_of(limit)) if limit else None,
        "limit_label": limit_label,
    }


def _round_up(value: float) -> float:
    """The next round number at or above `value` (1, 1.5, 2, 3, 5, 7.5 times a power of ten),
    so the scale reads "15%" or "1.5 s" rather than "13.8%"."""
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 1.5, 2, 3, 5, 7.5, 10) if step * power >= value)


def _in_words(watch, samples, service) -> str:
    heading = f"Recovery watch of {service}: {watch.get_status_display().lower()}."
    if not samples:
        return f"{heading} No reading yet."
    last = samples[-1]
    offset = (last.at - watch.started_at).total_seconds()
    when = f"{duration(offset)} after the start" if offset >= 1 else "at the start"
    values = []
    if last.error_rate is not None:
        values.append(
            f"error rate {percent(last.error_rate)} "
            f"(normal under {percent(error_rate_limit(watch))})"
        )
    if last.latency is not None:
        normal = (
            f" (normal {seconds(watch.normal_latency)})" if watch.normal_latency is not None else ""
        )
        values.append(f"p95 latency {seconds(last.latency)}{normal}")
    said = " and ".join(values) if values else "no values"
    line = f"{heading} Latest reading, {when}: {said}."
    if last.problem:
        line += f" {last.problem}"
    return line


def _axis_label(offset_seconds: float, span_seconds: float) -> str:
    """A tick along the bottom: minutes, or seconds for a watch under two minutes long."""
    if span_seconds >= 120:
        return f"{round(offset_seconds / 60)} min"
    return f"{round(offset_seconds)} s"


def _clock(offset: timedelta) -> str:
    """Time since the watch started, as the readings table shows it: "7:00"."""
    whole = max(0, round(offset.total_seconds()))
    return f"{whole // 60}:{whole % 60:02d}"


def _n(value: float) -> str:
    """A coordinate as SVG reads it, whatever the locale."""
    return _trim(f"{value:.1f}")
