"""Reads that feed postmortem pages; each declares its own joins so query counts stay fixed."""

import re
from datetime import timedelta

from django.db import connection
from django.db.models import Case, Count, Exists, OuterRef, Prefetch, Q, Value, When
from django.utils import timezone

from common.markdown import render_markdown
from incidents.models import EventKind, Incident, Status, TimelineEvent
from postmortems import blameless
from postmortems.models import (
    OPEN_ACTION_STATUSES,
    ActionItem,
    ActionItemStatus,
    Approval,
    Postmortem,
    PostmortemStatus,
    ReviewComment,
    ReviewThread,
)
from teams import access
from teams.models import Membership, Role, Team

SIMILAR_LIMIT = 5
SIMILAR_SCAN_LIMIT = 500
RECENTLY_PUBLISHED_DAYS = 30

# The seed's "What Went Well/Wrong" marks: emoji draw as empty boxes without an emoji font.
_MARK_ICONS = {
    mark: (
        f'<svg class="icon {cls}" role="img" aria-label="{name}" viewBox="0 0 24 24" '
        f'width="16" height="16" focusable="false"><circle cx="12" cy="12" r="10"/>'
        f'<path d="{path}"/></svg>'
    )
    for mark, cls, name, path in (
        ("\u2705", "icon-ok", "Check mark", "M16 9l-5.5 6L8 12.5"),
        ("\u274c", "icon-bad", "Cross mark", "M15 9l-6 6M9 9l6 6"),
    )
}
_MARKS = re.compile("([\u2705\u274c])\ufe0f?")


def postmortem_markdown(text: str) -> str:
    """A postmortem's Markdown as safe HTML, its check and cross marks drawn as SVG icons."""
    return _MARKS.sub(lambda m: _MARK_ICONS[m.group(1)], render_markdown(text))


def postmortem_queryset():
    return Postmortem.objects.select_related(
        "incident__team", "incident__severity", "prepared_by", "published_by", "previous"
    )


def postmortem_page_data(postmortem):
    """Everything the postmortem page shows, in a fixed number of queries."""
    sections = list(postmortem.sections.select_related("updated_by"))
    threads = list(
        ReviewThread.objects.filter(postmortem=postmortem)
        .select_related("created_by", "resolved_by")
        .prefetch_related(
            Prefetch("comments", queryset=ReviewComment.objects.select_related("author"))
        )
    )
    pattern = blameless.name_pattern(blameless.directory_names())
    for section in sections:
        section.findings = blameless.check_text(section.body, pattern)
        section.html = postmortem_markdown(section.body)
        section.threads = [t for t in threads if t.section_key == section.key]
    return {
        "sections": sections,
        "approvals": list(postmortem.approvals.select_related("approver")),
        "reviewers": list(postmortem.reviewers.all()),
        "action_items": list(
            ActionItem.objects.filter(incident_id=postmortem.incident_id)
            .select_related("owner")
            .order_by("created_at", "id")
        ),
        "team_members": list(
            Membership.objects.filter(team_id=postmortem.team_id)
            .select_related("user")
            .order_by("user__username")
        ),
        "next_revision": Postmortem.objects.filter(previous=postmortem).first(),
    }


def postmortem_library(*, user, query=""):
    """Published postmortems the user may see, newest first, optionally matching every word."""
    qs = (
        postmortem_queryset()
        .filter(access.visible_filter(user, "incident__"), status=PostmortemStatus.PUBLISHED)
        # A newer published revision replaces the older one in the library.
        .exclude(next_revision__status=PostmortemStatus.PUBLISHED)
        .order_by("-published_at", "-id")
    )
    for word in query.replace("\x00", "").split()[:10]:
        qs = qs.filter(search_text__icontains=word)
    return qs


def postmortems_in_progress(*, user):
    return (
        postmortem_queryset()
        .filter(access.visible_filter(user, "incident__"))
        .exclude(status=PostmortemStatus.PUBLISHED)
        .order_by("due_at", "id")
    )


def review_queue(*, user):
    now = timezone.now()
    managed = [t for t, r in access.team_roles(user).items() if r in ("manager", "admin")]
    open_statuses = [PostmortemStatus.IN_REVIEW, PostmortemStatus.APPROVED]
    base = postmortem_queryset()
    teams = Q() if user.is_superuser else Q(incident__team_id__in=managed)
    return {
        "waiting": base.filter(reviewers=user, status__in=open_statuses)
        .exclude(approvals__approver=user)
        .order_by("due_at", "id"),
        "overdue": base.filter(teams, due_at__lt=now)
        .exclude(status=PostmortemStatus.PUBLISHED)
        .order_by("due_at", "id"),
        "published": base.filter(
            teams,
            status=PostmortemStatus.PUBLISHED,
            published_at__gte=now - timedelta(days=RECENTLY_PUBLISHED_DAYS),
        ).order_by("-published_at", "-id")[:20],
        "is_manager": bool(managed) or user.is_superuser,
    }


def action_item_list(*, user, mine=False, overdue=False, priority="", team="", status=""):
    qs = ActionItem.objects.filter(access.visible_filter(user, "incident__")).select_related(
        "owner", "team", "incident", "postmortem"
    )
    if mine:
        qs = qs.filter(owner=user)
    if overdue:
        qs = qs.filter(status__in=OPEN_ACTION_STATUSES, due_date__lt=timezone.localdate())
    if priority:
        qs = qs.filter(priority=priority)
    if team:
        qs = qs.filter(team__slug=team)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("due_date", "priority", "id")


def completion_by_team(*, user):
    """Per team: items done out of the items that count (won't-do items are left out)."""
    rows = (
        ActionItem.objects.filter(access.visible_filter(user, "incident__"))
        .values("team__name", "team__slug")
        .annotate(
            total=Count("id", filter=~Q(status=ActionItemStatus.WONT_DO)),
            done=Count("id", filter=Q(status=ActionItemStatus.DONE)),
            overdue=Count(
                "id",
                filter=Q(status__in=OPEN_ACTION_STATUSES, due_date__lt=timezone.localdate()),
            ),
        )
        .order_by("team__name")
    )
    result = []
    for row in rows:
        rate = round(100 * row["done"] / row["total"]) if row["total"] else None
        result.append({**row, "rate": rate})
    return result


def visible_teams(*, user):
    if user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(pk__in=list(access.team_roles(user)))


def alert_names(incident) -> list[str]:
    names = TimelineEvent.objects.filter(
        incident=incident, kind=EventKind.ALERT, deleted_at__isnull=True, data__has_key="alertname"
    ).values_list("data__alertname", flat=True)
    return sorted({str(n) for n in names if n})


def similar_incidents(*, incident, user, limit=SIMILAR_LIMIT):
    """Past resolved incidents sharing an affected service or an alert name, with their
    published postmortems. Three queries whatever the sizes."""
    services = [s for s in (incident.affected_services or []) if isinstance(s, str)]
    names = alert_names(incident)
    if not services and not names:
        return []
    base = (
        Incident.objects.filter(access.visible_filter(user), status=Status.RESOLVED)
        .exclude(pk=incident.pk)
        .select_related("severity")
    )
    shared = (
        Q(
            pk__in=TimelineEvent.objects.filter(
                kind=EventKind.ALERT, data__alertname__in=names, deleted_at__isnull=True
            ).values("incident_id")
        )
        if names
        else Q(pk__in=[])
    )
    published = Prefetch(
        "postmortems",
        queryset=Postmortem.objects.filter(status=PostmortemStatus.PUBLISHED).order_by("-revision"),
        to_attr="published_postmortems",
    )
    if services and connection.vendor == "postgresql":
        for service in services:
            shared |= Q(affected_services__contains=[service])
        return list(base.filter(shared).prefetch_related(published).order_by("-started_at")[:limit])
    # Databases without JSON containment (SQLite): compare a bounded recent window in Python.
    candidates = list(
        base.filter(shared | ~Q(affected_services=[]))
        .prefetch_related(published)
        .order_by("-started_at")[:SIMILAR_SCAN_LIMIT]
    )
    alert_ids = (
        set(
            TimelineEvent.objects.filter(
                kind=EventKind.ALERT, data__alertname__in=names, deleted_at__isnull=True
            ).values_list("incident_id", flat=True)
        )
        if names
        else set()
    )
    wanted = set(services)
    matches = [
        c for c in candidates if c.pk in alert_ids or wanted & set(c.affected_services or [])
    ]
    return matches[:limit]


def incident_panel_context(*, incident, user):
    postmortem = (
        Postmortem.objects.filter(incident=incident)
        .order_by("-revision")
        .only("id", "status", "revision", "due_at", "title", "incident_id")
        .first()
    )
    return {
        "postmortem": postmortem,
        "can_generate": incident.status == Status.RESOLVED
        and access.can(user, access.CHANGE, incident),
        "similar": similar_incidents(incident=incident, user=user),
    }


def overdue_action_items_for(*, user):
    """Open action items past their due date that the person owns or that belong to their
    teams (those they may see), theirs first, then the longest overdue. One query."""
    teams = list(access.team_roles(user))
    return (
        ActionItem.objects.filter(access.visible_filter(user, "incident__"))
        .filter(Q(owner_id=user.pk) | Q(team_id__in=teams) | Q(incident__team_id__in=teams))
        .filter(status__in=OPEN_ACTION_STATUSES, due_date__lt=timezone.localdate())
        .select_related("owner", "team", "incident")
        .annotate(is_mine=Case(When(owner_id=user.pk, then=Value(True)), default=Value(False)))
        .order_by("-is_mine", "due_date", "priority", "id")
    )


def postmortems_awaiting_review_by(*, user):
    """Postmortems in review that the person has not approved yet and is asked to look at:
    as one of its reviewers, or as a manager of its team (who may approve it). The soonest
    due first. One query."""
    managed = access.roles_at_least(Role.MANAGER)
    managed_teams = [t for t, role in access.team_roles(user).items() if role in managed]
    is_reviewer = Exists(
        Postmortem.reviewers.through.objects.filter(postmortem_id=OuterRef("pk"), user_id=user.pk)
    )
    approved = Exists(Approval.objects.filter(postmortem_id=OuterRef("pk"), approver_id=user.pk))
    # An administrator may approve every team's postmortems.
    asked = (
        Q() if user.is_superuser else Q(is_reviewer=True) | Q(incident__team_id__in=managed_teams)
    )
    return (
        postmortem_queryset()
        .filter(access.visible_filter(user, "incident__"))
        .filter(status__in=[PostmortemStatus.IN_REVIEW, PostmortemStatus.APPROVED])
        .annotate(is_reviewer=is_reviewer, approved_by_me=approved)
        .filter(asked, approved_by_me=False)
        .order_by("due_at", "id")
    )
