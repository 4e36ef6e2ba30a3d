from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Window
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from alerts.selectors import firing_groups_for_user
from changes.models import ChangeEvent
from changes.selectors import recent_changes
from checks.selectors import failing_checks_for
from common import live, sse
from common.inputs import InputError
from common.links import http_url
from incidents.live import LIST_TOPIC
from incidents.selectors import incident_list_open_for_user, teams_user_may_declare_in
from oncall.selectors import dashboard_oncall
from paging.selectors import STILL_PAGING, open_pages_for, page_for_recipient
from paging.services import incident_acknowledge
from postmortems.selectors import overdue_action_items_for, postmortems_awaiting_review_by
from teams.access import VIEW, can, team_roles

# Each section shows this many rows and says how many more there are.
SHOWN = 10
CHANGES_HOURS = 24


@dataclass
class Section:
    """A dashboard section's first rows and how many there are in all."""

    rows: list
    total: int
    extra: dict = field(default_factory=dict)

    @property
    def more(self) -> int:
        return max(self.total - len(self.rows), 0)


def _first(queryset, shown=SHOWN) -> Section:
    """The first rows, and in the same query how many rows there are in all."""
    rows = list(queryset.annotate(dashboard_total=Window(Count("pk")))[:shown])
    return Section(rows=rows, total=rows[0].dashboard_total if rows else 0)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def dashboard(request):
    """The home page of the person just paged: their pages first, then what is on fire, who
    is on call, what changed, and what waits for them."""
    if request.method == "POST":
        return _acknowledge(request)
    user = request.user
    return render(
        request,
        "dashboard.html",
        {
            "pages": _my_open_pages(user),
            **_open_incidents(user),
            "alerts": _firing_alerts(user),
            "checks": _first(failing_checks_for(user)),
            "changes": _recent_changes(),
            "oncall": _oncall(user),
            "action_items": _overdue_action_items(user),
            "reviews": _first(postmortems_awaiting_review_by(user=user)),
        },
    )


def _my_open_pages(user) -> Section:
    section = _first(open_pages_for(user=user))
    for page in section.rows:
        # The page reached the person; its incident's page is for those who may see it.
        page.incident_visible = can(user, VIEW, page.incident)
    return section


def _open_incidents(user) -> dict:
    return {
        "open_incidents": _first(incident_list_open_for_user(user=user)),
        "may_declare": teams_user_may_declare_in(user=user).exists(),
    }


def _firing_alerts(user) -> Section:
    section = _first(firing_groups_for_user(user=user))
    for group in section.rows:
        # The group is its team's to see; a private incident's title is not.
        incident = group.incident
        group.visible_incident = incident if incident and can(user, VIEW, incident) else None
    return section


def _overdue_action_items(user) -> Section:
    section = _first(overdue_action_items_for(user=user))
    today = timezone.localdate()
    for item in section.rows:
        item.days_overdue = (today - item.due_date).days
    return section


def _recent_changes() -> Section:
    changes = recent_changes(hours=CHANGES_HOURS, limit=SHOWN)
    since = timezone.now() - timedelta(hours=CHANGES_HOURS)
    total = ChangeEvent.objects.filter(occurred_at__gte=since).count()
    for change in changes:
        change.link = http_url(change.url)
    return Section(rows=changes, total=max(total, len(changes)))


def _oncall(user) -> Section:
    board, total = dashboard_oncall(user=user, at=timezone.now(), shown=SHOWN)
    return Section(rows=board, total=total, extra={"has_teams": bool(team_roles(user))})


def _page_id(value) -> int:
    if not isinstance(value, str) or not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise InputError("Say which page to acknowledge (its number).")
    return int(value)


def _acknowledge(request):
    """One tap on "Acknowledge": the person's own page, acknowledged as them (as the link in
    its notification does), then back to the dashboard saying what happened."""
    page = page_for_recipient(page_id=_page_id(request.POST.get("page")), user=request.user)
    if page is None:
        raise Http404("No such page.")
    was_open = page.acknowledged_at is None and page.escalation.status in STILL_PAGING
    if was_open:
        incident_acknowledge(incident=page.incident, by=request.user, via="dashboard")
        page = page_for_recipient(page_id=page.pk, user=request.user)
    escalation, title = page.escalation, page.incident.title
    if was_open and escalation.acknowledged_by_id == request.user.pk:
        messages.success(
            request,
            f"You acknowledged “{title}”. Escalation stopped: nobody else will be paged for it.",
        )
    elif escalation.acknowledged_at:
        who = escalation.acknowledged_by.display_name if escalation.acknowledged_by else "Vigil"
        messages.info(request, f"“{title}” was already acknowledged by {who}.")
    else:
        messages.info(request, f"Nobody is being paged for “{title}” any more.")
    return redirect("dashboard")


class DashboardChannel(live.Channel):
    """The dashboard's open incidents, again whenever an incident is declared or changes."""

    poll_seconds = 5.0

    def __init__(self, user):
        self.user = user
        self.topics = frozenset({LIST_TOPIC, f"access:user:{user.pk}"})
        self.shown = None

    def poll(self):
        html = render_to_string("dashboard_open_incidents.html", _open_incidents(self.user))
        if html == self.shown:
            return ""
        self.shown = html
        return sse.event("open-incidents", html)


def dashboard_channel(request, user, value) -> DashboardChannel:
    return DashboardChannel(user)


@csrf_exempt  # it changes nothing: a POST to a mistyped API path gets the same JSON 404
def api_not_found(request, *args, **kwargs):
    """Under /api/ a path that matches no operation (an id that is not a number) answers as
    the API does, in JSON, not with the site's HTML 404 page."""
    return JsonResponse({"detail": "Not found."}, status=404)
