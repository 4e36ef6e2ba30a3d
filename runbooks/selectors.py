"""Reads for runbook pages and the incident page's runbook panel."""

import json
from dataclasses import dataclass
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, Max, Q, TextField, Value, When
from django.db.models.functions import Cast

from incidents.models import EventKind, TimelineEvent
from runbooks.models import Runbook, StepCheck
from runbooks.rendering import runbook_steps
from teams.access import CHANGE, can, visible_filter


def json_list_has(field: str, value: str) -> Q:
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__contains": [value]})
    # SQLite has no JSON containment; the stored text holds the value as a JSON string.
    return Q(**{f"{field}__icontains": json.dumps(value)})


def runbook_list(*, q="", team=None, tag=""):
    runbooks = Runbook.objects.select_related("team", "owner")
    if team:
        runbooks = runbooks.filter(team__slug=team)
    if tag:
        runbooks = runbooks.filter(json_list_has("tags", tag))
    q = (q or "").strip()
    if not q:
        return runbooks.order_by("title")
    if connection.vendor == "postgresql":
        # PostgreSQL only: the embedded SQLite default never loads it.
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = (
            SearchVector("title", weight="A", config="english")
            + SearchVector(Cast("tags", TextField()), weight="B", config="english")
            + SearchVector("body", weight="C", config="english")
        )
        query = SearchQuery(q, search_type="websearch", config="english")
        return (
            runbooks.annotate(search=vector, rank=SearchRank(vector, query))
            .filter(search=query)
            .order_by("-rank", "title")
        )
    # SQLite: every word must appear somewhere; title hits rank above tag hits above body hits.
    match, score = Q(), Value(0)
    for word in q.split()[:10]:
        match &= Q(title__icontains=word) | Q(body__icontains=word) | Q(tags__icontains=word)
        score = score + Case(
            When(title__icontains=word, then=Value(4)),
            When(tags__icontains=word, then=Value(2)),
            default=Value(1),
        )
    return runbooks.filter(match).annotate(rank=score).order_by("-rank", "title")


def runbook_usage(*, runbook, user):
    """Incidents where this runbook's steps were ticked, newest first."""
    return (
        StepCheck.objects.filter(runbook=runbook)
        .filter(visible_filter(user, "incident__"))
        .values("incident_id", "incident__title", "incident__status")
        .annotate(steps=Count("id"), last=Max("checked_at"))
        .order_by("-last")
    )


def runbook_slug_from_url(url: str) -> str | None:
    """The slug when an alert's runbook URL points into this Vigil, else None."""
    if not url or not isinstance(url, str):
        return None
    try:
        parsed = urlparse(url)
    except ValueError:  # an alert's annotation is anyone's text: "http://[oops"
        return None
    site = urlparse(settings.SITE_URL)
    if parsed.netloc and (parsed.scheme, parsed.netloc) != (site.scheme, site.netloc):
        return None
    parts = [p for p in parsed.path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "runbooks":
        return parts[1]
    return None


@dataclass
class OfferedRunbook:
    runbook: Runbook
    reasons: list
    steps: list
    checks: dict

    @property
    def rows(self):
        return [{"step": s, "check": self.checks.get(s.key)} for s in self.steps]

    @property
    def done(self):
        return sum(1 for s in self.steps if s.key in self.checks)


def incident_alert_keys(*, incident) -> tuple[list[str], list[str]]:
    """(alert names, runbook slugs) from the incident's alert events. One query."""
    names, slugs = [], []
    datas = TimelineEvent.objects.filter(
        incident_id=incident.pk, kind=EventKind.ALERT, deleted_at__isnull=True
    ).values_list("data", flat=True)
    for data in datas:
        if not isinstance(data, dict):
            continue
        name = data.get("alertname")
        if isinstance(name, str) and name and name not in names:
            names.append(name)
        slug = runbook_slug_from_url(data.get("runbook_url") or "")
        if slug and slug not in slugs:
            slugs.append(slug)
    return names, slugs


def runbooks_for_incident(*, incident, extra_slug=None) -> list[OfferedRunbook]:
    """The runbooks matching an incident's alerts, plus any already used on it (and
    extra_slug when a responder opened one by hand). Three queries whatever the size."""
    names, slugs = incident_alert_keys(incident=incident)
    used = StepCheck.objects.filter(incident_id=incident.pk).select_related("checked_by")
    used = list(used)
    match = Q(slug__in=slugs + ([extra_slug] if extra_slug else [])) | Q(
        pk__in={c.runbook_id for c in used}
    )
    for name in names:
        match |= json_list_has("alert_names", name)
    runbooks = list(Runbook.objects.filter(match).select_related("team").order_by("title"))
    offered = []
    for runbook in runbooks:
        reasons = [f"alert {n}" for n in names if n in runbook.alert_names]
        if runbook.slug in slugs:
            reasons.append("the alert's runbook link")
        checks = {c.step_key: c for c in used if c.runbook_id == runbook.pk}
        offered.append(
            OfferedRunbook(
                runbook=runbook,
                reasons=reasons,
                steps=runbook_steps(runbook.body),
                checks=checks,
            )
        )
    # Matches by alert first, then by link, then those opened by hand.
    offered.sort(key=lambda o: (not o.reasons, o.runbook.title))
    return offered


def incident_panel_context(*, incident, user) -> dict:
    return {
        "incident": incident,
        "offered": runbooks_for_incident(incident=incident),
        "can_tick": can(user, CHANGE, incident),
    }
