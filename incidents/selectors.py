"""Reads that feed the incident pages. Each declares its own joins so a page's query count
stays the same however many incidents or events there are."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connections
from django.db.models import Prefetch, Q
from django.utils import timezone

from accounts.models import User
from incidents.models import (
    PHASE_ORDER,
    PHASE_WINDOW,
    ChecklistItem,
    ChecklistPhase,
    EventKind,
    Incident,
    Severity,
    Status,
    TimelineEvent,
    TimelineEventRevision,
)
from teams.access import at_least, members_with_role, team_roles, visible_filter
from teams.models import Role, Team

TIMELINE_PAGE = 200
TIMELINE_FILTERS = {
    "all": ("All", Q()),
    "key": ("Key events", Q(pinned=True)),
    "notes": ("Notes", Q(kind=EventKind.NOTE)),
    "automatic": ("Automatic", ~Q(kind=EventKind.NOTE)),
}
LIST_SORTS = {
    # Open ones by severity; OpenFirst puts the resolved ones after them, newest first.
    "open": ("Open first", ["severity__level", "-declared_at", "-id"]),
    "newest": ("Newest first", ["-declared_at", "-id"]),
    "oldest": ("Oldest first", ["declared_at", "id"]),
    "severity": ("Most severe first", ["severity__level", "-declared_at", "-id"]),
    "least_severe": ("Least severe first", ["-severity__level", "-declared_at", "-id"]),
    "title": ("Title, A to Z", ["title", "id"]),
    "title_desc": ("Title, Z to A", ["-title", "-id"]),
}
# The list's sortable column headers: (label, sort on first click, its aria-sort direction,
# the reverse sort a second click gives, its direction).
LIST_SORT_COLUMNS = {
    "severity": ("Severity", "severity", "ascending", "least_severe", "descending"),
    "title": ("Title", "title", "ascending", "title_desc", "descending"),
    "declared": ("Declared", "newest", "descending", "oldest", "ascending"),
}


def incident_list_open_for_user(*, user):
    return (
        Incident.objects.filter(visible_filter(user))
        .exclude(status=Status.RESOLVED)
        .select_related("severity", "team", "commander")
        .order_by("severity__level", "-declared_at")
    )


def text_match(text):
    """Incidents whose title or summary contains the text, in any case. On PostgreSQL the
    trigram indexes of migration 0006 serve exactly these two expressions."""
    return Q(title__icontains=text) | Q(summary__icontains=text)


def incident_list_for_user(*, user, status="", severity="", team="", text="", sort="open"):
    """Incidents the user may see, filtered and sorted for the list page."""
    qs = Incident.objects.filter(visible_filter(user)).select_related(
        "severity", "team", "commander"
    )
    if status == "open":
        qs = qs.exclude(status=Status.RESOLVED)
    elif status in Status.values:
        qs = qs.filter(status=status)
    if severity:
        qs = qs.filter(severity__name=severity)
    if team:
        qs = qs.filter(team__slug=team)
    if text:
        qs = qs.filter(text_match(text))
    if sort not in LIST_SORTS or sort == "open":
        return OpenFirst(qs)
    return CappedCount(qs.order_by(*LIST_SORTS[sort][1]))


# Past this many incidents the list says "more than" instead of counting them all: an exact
# count would read the whole history on every page view.
COUNT_CAP = 10_000


def capped_count(qs) -> tuple[int, bool]:
    """(how many, up to COUNT_CAP; whether there are more)."""
    n = qs.order_by()[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


class CappedCount:
    """A sorted queryset for the Paginator, whose count stops at COUNT_CAP."""

    def __init__(self, qs):
        self.qs = qs
        self._count = None
        self.count_is_capped = False

    def count(self):
        if self._count is None:
            self._count, self.count_is_capped = capped_count(self.qs)
        return self._count

    def __len__(self):
        return self.count()

    def __getitem__(self, index):
        return self.qs[index]


class OpenFirst:
    """Open incidents (most severe, then newest) followed by resolved ones (newest first),
    as one paginatable sequence.

    Sorting every incident on a computed "is it resolved" column reads the whole table; this
    reads the few open incidents in full and the resolved ones in the order of the
    (status, declared_at) index, one page at a time, in a single UNION ALL query.
    """

    def __init__(self, qs):
        self.open = qs.exclude(status=Status.RESOLVED).order_by(*LIST_SORTS["open"][1])
        self.resolved = qs.filter(status=Status.RESOLVED).order_by("-declared_at", "-id")
        self._open_count = None
        self._count = None
        self.count_is_capped = False

    def count(self):
        if self._count is None:
            self._open_count = self.open.count()
            resolved, self.count_is_capped = capped_count(self.resolved)
            self._count = self._open_count + resolved
        return self._count

    def __len__(self):
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        self.count()
        start, stop = index.start or 0, index.stop if index.stop is not None else self._count
        n_open = self._open_count
        first = self.open[min(start, n_open) : min(stop, n_open)]
        rest = self.resolved[max(start - n_open, 0) : max(stop - n_open, 0)]
        if not connections[first.db].features.supports_slicing_ordering_in_compound:
            return [*first, *rest]  # SQLite, the embedded default
        # PostgreSQL appends UNION ALL parts in order, each keeping its own ORDER BY/LIMIT.
        return list(first.union(rest, all=True))


def severities():
    return list(Severity.objects.all())


def teams_for_filter():
    return list(Team.objects.only("pk", "name", "slug"))


def teams_user_may_declare_in(*, user):
    """Teams where the user is at least a responder (every team for Vigil admins)."""
    if user.is_superuser:
        return Team.objects.all()
    ids = [team_id for team_id, role in team_roles(user).items() if at_least(role, Role.RESPONDER)]
    return Team.objects.filter(pk__in=ids)


def incident_for_page():
    """The queryset an incident page loads its incident from (pass to get_object_for_user);
    the page then names its people through with_people_in_roles."""
    return Incident.objects.select_related("severity", "team").prefetch_related(
        Prefetch("responders", queryset=User.objects.order_by("username"))
    )


PEOPLE_FIELDS = ("commander", "comms_lead", "scribe", "declared_by")


def with_people_in_roles(incident):
    """Load the commander, communications lead, scribe and declarer in one query.

    Joining the user table four times into the incident's own query cost PostgreSQL more
    to plan (~1.2 ms) than this query costs to run."""
    ids = {getattr(incident, f"{name}_id") for name in PEOPLE_FIELDS} - {None}
    if ids:
        people = User.objects.in_bulk(ids)
        for name in PEOPLE_FIELDS:
            person = people.get(getattr(incident, f"{name}_id"))
            if person is not None:
                setattr(incident, name, person)
    return incident


@dataclass(slots=True)
class TimelineEntry:
    """A timeline event as its markup (incidents/templatetags/timeline.py) shows it.

    The incident page shows 200 of them: plain rows cost a third of what model instances
    (and a User instance per event) did, and the Markdown source is not read at all."""

    pk: int
    kind: str
    body_html: str
    occurred_at: datetime
    pinned: bool
    seq: int
    edited_at: datetime | None
    deleted_at: datetime | None
    author_id: int | None
    author_name: str
    earlier_versions: list = field(default_factory=list)  # of edited notes, oldest first


_ENTRY_COLUMNS = (
    "id",
    "kind",
    "body_html",
    "occurred_at",
    "pinned",
    "seq",
    "edited_at",
    "deleted_at",
    "author_id",
    "author__username",
    "author__first_name",
    "author__last_name",
)


def _timeline_entries(queryset, *, limit: int) -> list[TimelineEntry]:
    """The first `limit` events of an ordered TimelineEvent queryset, as TimelineEntry rows
    (without their earlier versions: see _with_earlier_versions)."""
    rows = queryset.values_list(*_ENTRY_COLUMNS)[:limit]
    names = {}  # one display name per author, worked out by User itself
    entries = []
    for *event, author_id, username, first_name, last_name in rows:
        name = ""
        if author_id is not None:
            name = names.get(author_id)
            if name is None:
                author = User(username=username, first_name=first_name, last_name=last_name)
                name = names[author_id] = author.display_name
        entries.append(TimelineEntry(*event, author_id, name))
    return entries


def _with_earlier_versions(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Fill in the earlier text of edited notes: one query for the edited entries among
    them, none when nothing was edited."""
    edited = {entry.pk: entry for entry in entries if entry.edited_at}
    if edited:
        revisions = TimelineEventRevision.objects.filter(event_id__in=list(edited)).only(
            "event_id", "body", "replaced_at"
        )
        for revision in revisions.order_by("replaced_at", "id"):
            edited[revision.event_id].earlier_versions.append(revision)
    return entries


@dataclass
class TimelinePage:
    events: list[TimelineEntry]
    has_older: bool
    oldest: TimelineEntry | None = None
    filter: str = "all"


def timeline_page(*, incident, filter="all", before: TimelineEvent | None = None):
    """The latest TIMELINE_PAGE visible events (newest first), or those older than `before`."""
    _, condition = TIMELINE_FILTERS.get(filter, TIMELINE_FILTERS["all"])
    qs = TimelineEvent.objects.filter(condition, incident_id=incident.pk, deleted_at__isnull=True)
    if before is not None:
        qs = qs.filter(
            Q(occurred_at__lt=before.occurred_at)
            | Q(occurred_at=before.occurred_at, id__lt=before.id)
        )
    rows = _timeline_entries(qs.order_by("-occurred_at", "-id"), limit=TIMELINE_PAGE + 1)
    has_older = len(rows) > TIMELINE_PAGE
    rows = _with_earlier_versions(rows[:TIMELINE_PAGE])
    return TimelinePage(
        events=rows,
        has_older=has_older,
        oldest=rows[-1] if rows else None,
        filter=filter if filter in TIMELINE_FILTERS else "all",
    )


def timeline_entry(*, incident_id, pk) -> TimelineEntry | None:
    """One event of the incident (deleted or not), or None."""
    qs = TimelineEvent.objects.filter(incident_id=incident_id, pk=pk)
    entries = _with_earlier_versions(_timeline_entries(qs, limit=1))
    return entries[0] if entries else None


def timeline_changes_after(*, incident_id, after: int, limit: int = 100):
    """Events created or changed after the stream position `after` (deleted ones included)."""
    qs = TimelineEvent.objects.filter(incident_id=incident_id, seq__gt=after).order_by("seq")
    return _with_earlier_versions(_timeline_entries(qs, limit=limit))


def timeline_for_export(*, incident):
    return list(
        TimelineEvent.objects.filter(incident=incident, deleted_at__isnull=True)
        .select_related("author")
        .order_by("occurred_at", "id")
    )


@dataclass
class ChecklistPhaseView:
    phase: str
    label: str
    window: str
    due_at: datetime | None
    items: list = field(default_factory=list)

    @property
    def open_items(self):
        return [i for i in self.items if not i.is_done]

    @property
    def is_late(self):
        return bool(self.due_at and self.open_items and timezone.now() > self.due_at)

    @property
    def is_complete(self):
        return not self.open_items


def checklist_for_incident(*, incident):
    items = list(
        ChecklistItem.objects.filter(incident_id=incident.pk)
        .select_related("done_by")
        .order_by("position")
    )
    phases: dict[str, ChecklistPhaseView] = {}
    for item in items:
        item.incident = incident  # already loaded; saves a query per item
        view = phases.get(item.phase)
        if view is None:
            phase = ChecklistPhase(item.phase)
            view = phases[item.phase] = ChecklistPhaseView(
                phase=item.phase,
                label=phase.label,
                window=PHASE_WINDOW[phase],
                due_at=item.phase_due_at(incident),
            )
        view.items.append(item)
    return sorted(phases.values(), key=lambda v: PHASE_ORDER[ChecklistPhase(v.phase)])


@dataclass
class StatusUpdateDue:
    cadence_minutes: int | None
    last_at: datetime | None
    due_at: datetime | None

    @property
    def is_overdue(self):
        return bool(self.due_at and timezone.now() > self.due_at)


def status_update_due(*, incident):
    """When the next status update is due under the severity's cadence (None when none is)."""
    last = (
        TimelineEvent.objects.filter(
            incident_id=incident.pk, kind=EventKind.COMMS, deleted_at__isnull=True
        )
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    cadence = incident.severity.update_cadence
    due = None
    if cadence and incident.is_open:
        due = (last or incident.declared_at) + cadence
    return StatusUpdateDue(
        cadence_minutes=incident.severity.update_cadence_minutes, last_at=last, due_at=due
    )


def people_for_roles(*, incident):
    """Members of the incident's team who can hold a role (responder or above)."""
    return members_with_role(incident.team_id, Role.RESPONDER).order_by("username")
