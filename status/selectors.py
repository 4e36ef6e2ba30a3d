"""What a status page shows, read in a fixed number of queries whatever the history's size.
Only public updates of incidents that are not private are read; internal updates never
leave this module's queries."""

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q
from django.utils import timezone

from common.timezones import zone_or_utc
from status.models import (
    STATUS_RANK,
    Component,
    ComponentImpact,
    ComponentStatus,
    Impact,
    Maintenance,
    PublicIncident,
    StatusPage,
    StatusUpdate,
)

HISTORY_DAYS = 90
# Uptime counts a major outage as down and a partial outage as 30% down, as Statuspage does;
# degraded performance and maintenance count as up.
DOWN_WEIGHT = {ComponentStatus.MAJOR: 1.0, ComponentStatus.PARTIAL: 0.3}


def page_named(slug: str | None) -> StatusPage | None:
    pages = StatusPage.objects.select_related("team")
    if slug is None:
        return pages.filter(is_default=True).first() or pages.order_by("pk").first()
    return pages.filter(slug=slug).first()


def shown(queryset, prefix=""):
    """Public incidents the public may see: not of a private incident, nor of a drill."""
    return queryset.filter(
        **{f"{prefix}incident__is_private": False, f"{prefix}incident__is_drill": False}
    )


def public_incidents(*, page, unresolved=None, since=None, limit=None):
    """The page's public incidents, newest first, each with its public updates (newest first)
    and the components those updates named; two queries."""
    qs = shown(PublicIncident.objects.filter(page=page))
    if unresolved is True:
        qs = qs.filter(resolved_at__isnull=True)
    elif unresolved is False:
        qs = qs.filter(resolved_at__isnull=False)
    if since is not None:
        qs = qs.filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=since))
    updates = StatusUpdate.objects.filter(is_public=True).prefetch_related(
        Prefetch("impacts", queryset=ComponentImpact.objects.select_related("component"))
    )
    qs = qs.prefetch_related(Prefetch("updates", queryset=updates.order_by("-posted_at", "-id")))
    qs = qs.order_by("-created_at", "-id")
    return list(qs[:limit] if limit else qs)


def maintenances(*, page, at=None, upcoming_only=False, ending_after=None, limit=None):
    at = at or timezone.now()
    qs = (
        Maintenance.objects.filter(page=page, cancelled_at__isnull=True)
        .prefetch_related("components")
        .order_by("starts_at", "id")
    )
    if upcoming_only:
        qs = qs.filter(ends_at__gt=at)
    if ending_after is not None:
        qs = qs.filter(ends_at__gt=ending_after)
    return list(qs[:limit] if limit else qs)


def component_statuses(*, page, open_incidents, active_maintenances) -> dict[int, str]:
    """Each component's status now: the worst its unresolved public incidents last set for
    it, else under maintenance while a window is on, else operational."""
    statuses = {}
    for public_incident in open_incidents:
        latest = {}
        for update in reversed(public_incident.updates.all()):  # oldest first
            for impact in update.impacts.all():
                latest[impact.component_id] = impact.status
        for component_id, status in latest.items():
            if STATUS_RANK[status] > STATUS_RANK[statuses.get(component_id, "operational")]:
                statuses[component_id] = status
    for maintenance in active_maintenances:
        for component in maintenance.components.all():
            if component.pk not in statuses:
                statuses[component.pk] = ComponentStatus.MAINTENANCE
    return statuses


@dataclass
class Day:
    date: object
    worst: str = ComponentStatus.OPERATIONAL
    down_seconds: float = 0.0
    seconds: dict = field(default_factory=dict)
    before_component: bool = False

    @property
    def label(self) -> str:
        if self.before_component:
            return "No data: the component was not on the page yet"
        if self.worst == ComponentStatus.OPERATIONAL:
            return "No downtime recorded"
        parts = [
            f"{ComponentStatus(s).label.lower()} {_duration(v)}"
            for s, v in sorted(self.seconds.items(), key=lambda i: -STATUS_RANK[i[0]])
        ]
        return "; ".join(parts)


@dataclass
class ComponentHistory:
    component: Component
    days: list[Day]
    uptime: float  # percent, over the days shown

    @property
    def uptime_text(self) -> str:
        return f"{self.uptime:.2f}%"


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def intervals(*, incidents, maintenances_, now) -> dict[int, list[tuple[datetime, datetime, str]]]:
    """Per component, the (start, end, status) spans its public incidents and maintenance
    windows gave it. A status holds until the incident's next update that names the
    component, or the incident's resolution."""
    spans = defaultdict(list)
    for public_incident in incidents:
        end_of_incident = public_incident.resolved_at or now
        current = {}
        for update in reversed(public_incident.updates.all()):
            for impact in update.impacts.all():
                cid = impact.component_id
                if cid in current:
                    since, status = current[cid]
                    spans[cid].append((since, update.posted_at, status))
                current[cid] = (update.posted_at, impact.status)
        for cid, (since, status) in current.items():
            spans[cid].append((since, end_of_incident, status))
    for maintenance in maintenances_:
        for component in maintenance.components.all():
            spans[component.pk].append(
                (maintenance.starts_at, min(maintenance.ends_at, now), ComponentStatus.MAINTENANCE)
            )
    return spans


def _worst_segments(spans, start, end, cuts):
    """The timeline [start, end) cut at every span edge and at `cuts`, each piece with the
    worst status covering it: overlapping incidents and windows count once."""
    edges = {start, end, *cuts}
    for since, until, _ in spans:
        edges.update(t for t in (since, until) if start < t < end)
    edges = sorted(t for t in edges if start <= t <= end)
    pieces = []
    for left, right in zip(edges, edges[1:], strict=False):
        covering = [status for since, until, status in spans if since <= left and until >= right]
        worst = max(covering, key=lambda s: STATUS_RANK[s], default=ComponentStatus.OPERATIONAL)
        if worst != ComponentStatus.OPERATIONAL:
            pieces.append((left, right, worst))
    return pieces


def history(*, page, components, incidents, maintenances_, now=None, days=HISTORY_DAYS):
    """90 days of each component, day by day in the page's time zone, with its uptime over
    the time it existed in them. Durations are taken in UTC, so a night of a clock change
    counts its real hours."""
    now = (now or timezone.now()).astimezone(UTC)
    tz = page_zone(page)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    midnights = [
        datetime.combine(first + timedelta(days=i), time.min, tz).astimezone(UTC)
        for i in range(days + 1)
    ]
    window_start = midnights[0]
    spans = intervals(incidents=incidents, maintenances_=maintenances_, now=now)
    result = []
    for component in components:
        start = min(max(window_start, component.created_at.astimezone(UTC)), now)
        rows = [Day(date=first + timedelta(days=i)) for i in range(days)]
        for i, row in enumerate(rows):
            row.before_component = midnights[i + 1] <= start
        mine = [
            (since.astimezone(UTC), until.astimezone(UTC), status)
            for since, until, status in spans.get(component.pk, [])
            if status != ComponentStatus.OPERATIONAL
        ]
        for left, right, status in _worst_segments(mine, start, now, midnights[1:-1]):
            row = rows[bisect_right(midnights, left) - 1]
            seconds = (right - left).total_seconds()
            row.seconds[status] = row.seconds.get(status, 0.0) + seconds
            row.down_seconds += seconds * DOWN_WEIGHT.get(status, 0.0)
            if STATUS_RANK[status] > STATUS_RANK[row.worst]:
                row.worst = status
        total = max((now - start).total_seconds(), 1.0)
        down = sum(d.down_seconds for d in rows)
        uptime = max(0.0, 100.0 * (1 - down / total))
        result.append(ComponentHistory(component=component, days=rows, uptime=uptime))
    return result


def page_zone(page) -> ZoneInfo:
    """The page's time zone; a name Vigil cannot read means UTC."""
    return zone_or_utc(page.time_zone)


INDICATOR_RANK = {Impact.NONE: 0, Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}


def page_indicator(*, statuses: dict[int, str], open_incidents) -> tuple[str, str]:
    """(indicator, description) as Statuspage says them: none, minor, major, critical."""
    worst_component = max((STATUS_RANK[s] for s in statuses.values()), default=0)
    indicator = Impact.NONE
    for public_incident in open_incidents:
        if INDICATOR_RANK[public_incident.impact] > INDICATOR_RANK[indicator]:
            indicator = Impact(public_incident.impact)
    from_components = {4: Impact.MAJOR, 3: Impact.MINOR, 2: Impact.MINOR}.get(worst_component)
    if from_components and INDICATOR_RANK[from_components] > INDICATOR_RANK[indicator]:
        indicator = from_components
    if indicator == Impact.NONE:
        if worst_component == STATUS_RANK[ComponentStatus.MAINTENANCE]:
            return "maintenance", "Service Under Maintenance"
        return "none", "All Systems Operational"
    description = {
        Impact.MINOR: "Minor Service Outage",
        Impact.MAJOR: "Partial System Outage",
        Impact.CRITICAL: "Major System Outage",
    }[indicator]
    return indicator.value, description


@dataclass
class PageView:
    page: StatusPage
    components: list
    statuses: dict
    open_incidents: list
    recent_incidents: list
    maintenances: list
    active_maintenances: list
    indicator: str
    description: str
    history: list
    generated_at: datetime


def page_view(*, page, now=None, with_history=True) -> PageView:
    """Everything the public page and summary.json show, in a fixed number of queries."""
    now = now or timezone.now()
    components = list(Component.objects.filter(page=page).select_related("group"))
    since = now - timedelta(days=HISTORY_DAYS)
    incidents = public_incidents(page=page, since=since)
    open_incidents = [i for i in incidents if i.resolved_at is None]
    windows = maintenances(page=page, at=now, ending_after=since)
    active = [m for m in windows if m.starts_at <= now < m.ends_at]
    statuses = component_statuses(
        page=page, open_incidents=open_incidents, active_maintenances=active
    )
    indicator, description = page_indicator(statuses=statuses, open_incidents=open_incidents)
    return PageView(
        page=page,
        components=components,
        statuses=statuses,
        open_incidents=open_incidents,
        recent_incidents=[i for i in incidents if i.resolved_at is not None],
        maintenances=[m for m in windows if m.ends_at > now],
        active_maintenances=active,
        indicator=indicator,
        description=description,
        history=(
            history(
                page=page,
                components=components,
                incidents=incidents,
                maintenances_=windows,
                now=now,
            )
            if with_history
            else []
        ),
        generated_at=now,
    )
